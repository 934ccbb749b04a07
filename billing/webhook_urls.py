from django.urls import path

from billing import webhooks

urlpatterns = [
    path("deposits", webhooks.deposit_webhook, name="webhook-deposits"),
]
