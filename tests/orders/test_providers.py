"""The HTTP provider against a real HTTP server on 127.0.0.1; the inventory provider's stock."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import LedgerEntry
from core.errors import UpstreamError
from orders import services
from orders.models import InventoryProxy, Order, OrderProxy
from orders.providers import get_provider
from orders.providers.http import HttpProvider
from orders.tasks import expire_orders, provision_order

from .conftest import add_stock, balance, fund

pytestmark = pytest.mark.django_db


def test_http_provider_places_an_order_upstream(account, client_for, upstream):
    fund(account, "100")
    response = client_for.post("orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "NL"})
    assert response.status_code == 201, response.json_body
    order = response.json_body["data"]
    assert order["status"] == "active" and order["proxy_count"] == 2
    method, path, headers, body = upstream.requests[0]
    assert (method, path) == ("POST", "/orders")
    assert headers["Authorization"] == "Bearer upstream-test-key"
    assert headers["Idempotency-Key"] == order["id"]
    assert body == {"reference": order["id"], "type": "datacenter", "quantity": 2, "period_days": 30, "country": "NL"}
    assert Order.objects.get(public_id=order["id"]).provider_ref == f"up-{order['id']}"
    proxies = client_for.get(f"orders/{order['id']}/proxies").json_body["data"]
    assert proxies[0]["host"] == "192.0.2.1" and proxies[0]["country"] == "NL"


@pytest.mark.parametrize("mode", ["error500", "error400", "slow", "malformed"])
def test_failing_upstream_answers_502_marks_failed_and_refunds_once(account, client_for, upstream, mode):
    upstream.mode = mode
    upstream.sleep = 1.0  # past UPSTREAM_TIMEOUT_S = 0.5
    fund(account, "100")
    started = time.monotonic()
    response = client_for.post("orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "NL"})
    assert response.status_code == 502, response.json_body
    assert response.json_body["error_type"] == "upstream_error"
    order = Order.objects.get(public_id=response.json_body["meta"]["order_id"])
    assert order.status == "failed" and order.failure_reason
    assert balance(account) == Decimal("100.00")
    refund = LedgerEntry.objects.get(reference=f"order:{order.public_id}:refund")
    assert refund.type == "refund" and refund.amount == order.total
    # provisioning again (a replayed task) refunds nothing more
    provision_order(order.pk)
    services.order_fail(order=order, reason="again")
    assert LedgerEntry.objects.filter(type="refund").count() == 1
    assert client_for.get(f"orders/{order.public_id}").json_body["data"]["status"] == "failed"
    if mode in ("error500", "slow"):
        assert len(upstream.requests) == 3  # one try and UPSTREAM_RETRIES = 2 retries
    if mode == "slow":
        assert time.monotonic() - started < 5
    if mode == "error400":
        assert len(upstream.requests) == 1  # a refusal is not retried


def test_failing_upstream_with_idempotency_key_replays_the_502(account, client_for, upstream):
    upstream.mode = "error500"
    fund(account, "100")
    body = {"type": "datacenter", "quantity": 1, "period": 30, "country": "NL"}
    first = client_for.post("orders", body, headers={"Idempotency-Key": "k-502"})
    second = client_for.post("orders", body, headers={"Idempotency-Key": "k-502"})
    assert first.status_code == second.status_code == 502
    assert Order.objects.count() == 1
    assert balance(account) == Decimal("100.00")


def test_transient_upstream_errors_are_retried_with_backoff(account, client_for, upstream):
    upstream.mode = "flaky"
    upstream.fail_first = 2
    fund(account, "100")
    response = client_for.post("orders", {"type": "residential", "quantity": 1})
    assert response.status_code == 201
    assert response.json_body["data"]["status"] == "active"
    assert len(upstream.requests) == 3


def test_http_provider_extend_and_release_reach_the_upstream(account, client_for, upstream):
    fund(account, "100")
    order_id = client_for.post(
        "orders", {"type": "isp", "quantity": 1, "period": 30, "country": "US"}
    ).json_body["data"]["id"]
    assert client_for.post(f"orders/{order_id}/extend", {"period": 7}).status_code == 200
    method, path, _, body = upstream.requests[-1]
    assert (method, path, body) == ("POST", f"/orders/up-{order_id}/extend", {"days": 7})
    Order.objects.filter(public_id=order_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    expire_orders()
    assert upstream.requests[-1][:2] == ("DELETE", f"/orders/up-{order_id}")
    assert Order.objects.get(public_id=order_id).status == "expired"


def test_upstream_refusing_an_extension_charges_nothing(account, client_for, upstream):
    fund(account, "100")
    order_id = client_for.post(
        "orders", {"type": "isp", "quantity": 1, "period": 30, "country": "US"}
    ).json_body["data"]["id"]
    before_balance = balance(account)
    before = Order.objects.get(public_id=order_id).expires_at
    upstream.mode = "error500"
    response = client_for.post(f"orders/{order_id}/extend", {"period": 30})
    assert response.status_code == 502
    assert balance(account) == before_balance
    assert Order.objects.get(public_id=order_id).expires_at == before


def test_http_provider_usage_parses_records(upstream):
    provider = HttpProvider()
    [record] = provider.usage(since=timezone.now() - timedelta(hours=1))
    assert (record.id, record.username, record.bytes_in, record.bytes_out, record.requests) == ("r1", "sub1", 100, 50, 3)
    assert record.period_start.hour == 10
    assert upstream.requests[-1][1].startswith("/usage?since=")
    upstream.mode = "malformed"
    with pytest.raises(UpstreamError):
        provider.usage()
    upstream.mode = "error500"
    with pytest.raises(UpstreamError):
        provider.usage()


def test_unreachable_upstream_is_an_upstream_error(settings):
    provider = HttpProvider(base_url="http://127.0.0.1:9", timeout=0.3, retries=1, backoff=0.01)
    with pytest.raises(UpstreamError):
        provider.request("GET", "/usage")


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
    assert get_provider("http").name == "http"
    assert get_provider("inventory").usage() == []
