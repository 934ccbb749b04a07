"""Reads of the webhook pages and API, by account first."""

from accounts.models import Account

from .models import Delivery, Endpoint


def endpoints_list(*, account: Account):
    return Endpoint.objects.for_account(account).order_by("-created_at", "-id")


def deliveries_list(*, account: Account, endpoint: Endpoint):
    return (Delivery.objects.filter(account=account, endpoint=endpoint)
            .select_related("event").order_by("-created_at", "-id"))
