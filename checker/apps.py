from django.apps import AppConfig


class CheckerConfig(AppConfig):
    name = "checker"
    default_auto_field = "django.db.models.BigAutoField"
