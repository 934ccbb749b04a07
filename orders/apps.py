from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import catalogue
        from .providers import upstream as upstream_provider
        from .residential import admin as residential_admin  # noqa: F401 (registers its pages)
        from .residential import signals as residential_signals

        catalogue.connect_signals()
        upstream_provider.connect_signals()
        residential_signals.connect_signals()
