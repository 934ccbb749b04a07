from django.urls import path

from events import views

urlpatterns = [
    path("", views.webhooks_page, name="webhooks"),
    path("<str:endpoint_id>/", views.webhook_detail, name="webhook"),
    path("<str:endpoint_id>/toggle/", views.webhook_toggle, name="webhook_toggle"),
    path("<str:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path("<str:endpoint_id>/test/", views.webhook_test, name="webhook_test"),
    path("<str:endpoint_id>/deliveries/<str:delivery_id>/resend/", views.webhook_resend, name="webhook_resend"),
]
