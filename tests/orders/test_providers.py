"""The inventory provider's stock: provisioning failures, expiry, cancellation; choosing a provider."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from orders import services
from orders.models import InventoryProxy, Order, OrderProxy
from orders.providers import get_provider
from orders.tasks import expire_orders, provision_order

from .conftest import add_stock, balance, fund

pytestmark = pytest.mark.django_db


def test_async_provisioning_failure_marks_failed_and_refunds(account, client_for):
    """Stock vanishing between placement and provisioning: the task fails the order and refunds."""
    fund(account, "20")
    add_stock("datacenter", "DE", 1)
    order = services.order_place(account=account, type="datacenter", quantity=1, period=30, country="DE")
    InventoryProxy.objects.filter(order=order).update(status="disabled", order=None)  # operator pulled it
    assert provision_order(order.pk) == "failed"
    order.refresh_from_db()
    assert order.status == "failed" and "stock" in order.failure_reason
    assert balance(account) == Decimal("20.00")
    assert LedgerEntry.objects.filter(reference=f"order:{order.public_id}:refund").count() == 1


def test_expiry_releases_stock_to_be_sold_again(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "DE", 2)
    order_id = client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 1, "country": "DE"}
    ).json_body["data"]["id"]
    assert InventoryProxy.objects.filter(status="available").count() == 0
    assert expire_orders()["expired"] == 0  # not due yet
    Order.objects.filter(public_id=order_id).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert expire_orders()["expired"] == 1
    assert expire_orders()["expired"] == 0  # idempotent
    order = Order.objects.get(public_id=order_id)
    assert order.status == "expired" and order.ended_at
    assert InventoryProxy.objects.filter(status="available", order__isnull=True).count() == 2
    assert OrderProxy.objects.filter(order=order, released_at__isnull=True).count() == 0
    assert client_for.get(f"orders/{order_id}").json_body["data"]["proxy_count"] == 0
    again = client_for.post("orders", {"type": "datacenter", "quantity": 2, "period": 1, "country": "DE"})
    assert again.status_code == 201


def test_cancel_full_and_prorata_refunds(account, client_for):
    fund(account, "100")
    add_stock("datacenter", "DE", 2)
    first = Order.objects.get(public_id=client_for.post(
        "orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}
    ).json_body["data"]["id"])
    assert services.order_cancel(order=first, refund="full") == Decimal("1.50")
    first.refresh_from_db()
    assert first.status == "cancelled"
    assert InventoryProxy.objects.filter(status="available").count() == 2
    second = Order.objects.get(public_id=client_for.post(
        "orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}
    ).json_body["data"]["id"])
    Order.objects.filter(pk=second.pk).update(
        activated_at=timezone.now() - timedelta(days=15), expires_at=timezone.now() + timedelta(days=15)
    )
    second.refresh_from_db()
    refunded = services.order_cancel(order=second, refund="prorata")
    assert Decimal("1.45") <= refunded <= Decimal("1.55")
    assert balance(account) == Decimal("100.00") - Decimal("3.00") + refunded
    with pytest.raises(Exception):  # noqa: B017, PT011 - Conflict
        services.order_cancel(order=second, refund="full")


def test_get_provider_follows_the_setting(settings):
    settings.ORDER_PROVIDER = "inventory"
    assert get_provider().name == "inventory"
    assert get_provider("upstream").name == "upstream"
    assert get_provider("inventory").usage() == []
