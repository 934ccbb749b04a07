from django.urls import path

from orders.residential import webhooks

urlpatterns = [
    path("usage", webhooks.usage_webhook, name="webhook-usage"),
]
