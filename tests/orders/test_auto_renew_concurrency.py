"""Auto-renew under concurrent beats on PostgreSQL: each due order renews exactly once per period."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from orders.models import Order
from orders.services import order_renew
from orders.tasks import renew_orders
from tests.orders.test_orders_concurrency import _generous_limits, run_concurrently  # noqa: F401  (fixture)

from .conftest import add_stock, balance, fund, requires_postgres

pytestmark = [pytest.mark.postgres, requires_postgres, pytest.mark.django_db(transaction=True)]


def _auto_renewing_orders(account, order_key, api, count: int) -> list[Order]:
    fund(account, "100")
    add_stock("datacenter", "DE", count)
    client = api(order_key)
    ids = []
    for _ in range(count):
        placed = client.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
        assert placed.status_code == 201, placed.json_body
        ids.append(placed.json_body["data"]["id"])
        assert client.patch(f"orders/{ids[-1]}", {"auto_renew": True}).status_code == 200
    Order.objects.filter(public_id__in=ids).update(status="active", expires_at=timezone.now() + timedelta(hours=6))
    return list(Order.objects.filter(public_id__in=ids))


def test_eight_concurrent_beats_renew_each_order_once(account, order_key, api):
    orders = _auto_renewing_orders(account, order_key, api, 5)
    expiries = {o.pk: o.expires_at for o in orders}
    before = balance(account)
    results = run_concurrently(8, lambda _: renew_orders())
    assert sum(r.get("renewed", 0) for r in results) == 5
    assert all(set(r) <= {"renewed", "not_due"} for r in results)
    for order in Order.objects.filter(pk__in=expiries):
        assert order.expires_at == expiries[order.pk] + timedelta(days=30)
        assert order.extension_count == 1
        assert LedgerEntry.objects.filter(order_public_id=order.public_id, type="charge").count() == 2
    assert balance(account) == before - 5 * orders[0].total


def test_a_retried_task_beside_a_running_one_renews_once(account, order_key, api):
    (order,) = _auto_renewing_orders(account, order_key, api, 1)
    outcomes = run_concurrently(6, lambda _: order_renew(order_pk=order.pk))
    assert sorted(outcomes) == ["not_due"] * 5 + ["renewed"]
    assert LedgerEntry.objects.filter(order_public_id=order.public_id, type="charge").count() == 2
