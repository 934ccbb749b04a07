"""Concurrency on PostgreSQL with real threads: idempotent replays, stock under skip_locked."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from accounts.models import Plan
from accounts.selectors import forget_plan_limits
from billing.models import LedgerEntry
from orders.models import InventoryProxy, Order
from tests.conftest import ApiClient

from .conftest import add_stock, balance, ensure_catalogue, fund, requires_postgres

pytestmark = [pytest.mark.postgres, requires_postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _generous_limits(db):
    """These tests are about locking, not rate limits: lift the free plan's per-minute limits."""
    Plan.objects.update_or_create(
        tier="free",
        defaults={"name": "Free", "limit_general": 10_000, "limit_order_create": 10_000,
                  "limit_check": 100, "limit_export": 100},
    )
    forget_plan_limits()
    ensure_catalogue()


def run_concurrently(count, fn):
    barrier = threading.Barrier(count)

    def worker(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(worker, range(count)))


def test_twenty_concurrent_replays_create_one_order_and_one_charge(account, order_key):
    fund(account, "100")
    add_stock("datacenter", "DE", 10)
    body = {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"}

    def place(_):
        response = ApiClient(order_key).post("orders", body, headers={"Idempotency-Key": "same-key-20"})
        return response.status_code, (response.json_body or {}).get("data"), (response.json_body or {}).get("error_type")

    results = run_concurrently(20, place)
    created = [data["id"] for status, data, _ in results if status == 201]
    # Requests that overlapped the first one either replay it or are told it is in progress.
    others = {(status, error) for status, _, error in results if status != 201}
    assert others <= {(409, "conflict")}
    assert len(created) >= 1 and len(set(created)) == 1
    assert Order.objects.count() == 1
    assert LedgerEntry.objects.filter(account=account, type="charge").count() == 1
    assert balance(account) == Decimal("97.00")
    assert InventoryProxy.objects.filter(status="allocated").count() == 2
    assert Order.objects.get().status == "active"


def test_concurrent_orders_never_oversell_stock(account, order_key):
    fund(account, "100")
    add_stock("datacenter", "DE", 5)
    body = {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}

    def place(i):
        return ApiClient(order_key).post("orders", body).status_code

    statuses = run_concurrently(10, place)
    assert statuses.count(201) == 5
    assert statuses.count(409) == 5
    assert Order.objects.count() == 5
    assert InventoryProxy.objects.filter(status="available").count() == 0
    assert LedgerEntry.objects.filter(type="charge").count() == 5
    assert balance(account) == Decimal("92.50")
    assert set(InventoryProxy.objects.values_list("order_id", flat=True)) == set(Order.objects.values_list("pk", flat=True))


def test_concurrent_orders_never_overdraw(account, order_key):
    fund(account, "10.00")
    body = {"type": "residential", "quantity": 1}  # 3.50 each: only two fit

    statuses = run_concurrently(8, lambda i: ApiClient(order_key).post("orders", body).status_code)
    assert statuses.count(201) == 2
    assert statuses.count(402) == 6
    assert balance(account) == Decimal("3.00")
    assert Order.objects.count() == 2
