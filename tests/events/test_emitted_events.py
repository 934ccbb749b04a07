"""Each event where it happens, its `data` the object as the API shows it, delivered to a real receiver."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.services import deposit_address_create
from checker.services.jobs import job_create
from checker.services.runner import job_run
from events.models import Event
from orders.models import Order
from orders.residential import services as residential_services
from orders.services import order_expire, order_fail, orders_send_expiry_reminders
from tests.billing.conftest import deliver as deliver_deposit
from tests.checker.conftest import aio, judge_server  # noqa: F401  (fixtures)
from tests.orders.conftest import OnCommitClient, add_stock, fund
from tests.orders.residential.subuser_fixtures import deliver as deliver_usage
from tests.orders.residential.subuser_fixtures import record, residential_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders_api(api, account, make_key, django_capture_on_commit_callbacks):
    """The orders API, running on-commit callbacks (provisioning, deliveries) as in production."""
    return OnCommitClient(api(make_key(account, scopes=["orders:read", "orders:write"])),
                          django_capture_on_commit_callbacks)


def test_order_activated_carries_the_order_as_the_api_shows_it(account, hook, receiver, orders_api):
    fund(account, 100)
    add_stock(count=3)
    placed = orders_api.post("orders", {"type": "datacenter", "quantity": 2, "period": 30, "country": "DE"})
    assert placed.status_code == 201, placed.json_body
    order_id = placed.json_body["data"]["id"]
    (event,) = receiver.events()
    assert event["type"] == "order.activated" and receiver.calls[0]["verified"]
    assert event["data"] == orders_api.get(f"orders/{order_id}").json_body["data"]
    assert event["data"]["status"] == "active" and event["data"]["proxy_count"] == 2


def test_nothing_is_sent_when_the_placement_rolls_back(account, hook, receiver, orders_api):
    add_stock(count=3)  # no balance: 402, the order and everything with it rolls back
    assert orders_api.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"}).status_code == 402
    assert receiver.calls == [] and not Event.objects.exists()


def _pending_order(account, orders_api, monkeypatch):
    monkeypatch.setattr("orders.services._enqueue_provisioning", lambda pk: None)
    fund(account, 100)
    add_stock(count=3)
    placed = orders_api.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    return Order.objects.get(public_id=placed.json_body["data"]["id"])


def test_order_failed(account, hook, receiver, orders_api, monkeypatch, django_capture_on_commit_callbacks):
    order = _pending_order(account, orders_api, monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):
        order_fail(order=order, reason="The provider is out.")
    (event,) = receiver.events()
    assert event["type"] == "order.failed"
    assert event["data"] == orders_api.get(f"orders/{order.public_id}").json_body["data"]
    assert event["data"]["failure_reason"] == "The provider is out."


def test_order_expiring_and_expired(account, hook, receiver, orders_api, django_capture_on_commit_callbacks):
    fund(account, 100)
    add_stock(count=3)
    placed = orders_api.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    order = Order.objects.get(public_id=placed.json_body["data"]["id"])
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(hours=20))
    with django_capture_on_commit_callbacks(execute=True):
        orders_send_expiry_reminders()
        orders_send_expiry_reminders()  # once per reminder
    later = timezone.now() + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert order_expire(order=order, now=later)
    types = [e["type"] for e in receiver.events()]
    assert types == ["order.activated", "order.expiring", "order.expired"]
    assert receiver.events()[2]["data"] == orders_api.get(f"orders/{order.public_id}").json_body["data"]
    assert receiver.events()[2]["data"]["status"] == "expired"


def test_deposit_pending_then_credited(account, hook, receiver, django_capture_on_commit_callbacks):
    address = deposit_address_create(account=account, currency="BTC")
    body = {"currency": "BTC", "network": "BTC", "address": address.address, "txid": "ab" * 32, "vout": 0,
            "amount": "0.00100000", "amount_usd": "65.43", "confirmations": 1}
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_deposit(body).json_body["data"]["status"] == "pending"
        deliver_deposit({**body, "confirmations": 1})  # the same news again: no second event
        assert deliver_deposit({**body, "confirmations": 2}).json_body["data"]["status"] == "credited"
    pending, credited = receiver.events()
    assert [pending["type"], credited["type"]] == ["deposit.pending", "deposit.credited"]
    assert credited["data"] == {
        "id": f"BTC:BTC:{'ab' * 32}:0", "currency": "BTC", "network": "BTC", "address": address.address,
        "txid": "ab" * 32, "vout": 0, "amount": "0.001", "amount_usd": "65.43", "confirmations": 2,
        "status": "credited",
    }
    assert pending["data"]["status"] == "pending" and pending["data"]["confirmations"] == 1


def test_proxy_disabled_when_its_limit_is_reached(account, hook, receiver, api, make_key,
                                                  django_capture_on_commit_callbacks):
    order = residential_order(account, gb="1")
    proxy = residential_services.subuser_create(account=account, order_id=order.public_id, name="p",
                                                traffic_limit_gb=Decimal("0.000001"))
    with django_capture_on_commit_callbacks(execute=True):
        deliver_usage([record(proxy.username, 600, 400)])
    (event,) = receiver.events()
    assert event["type"] == "proxy.disabled"
    shown = api(make_key(account, scopes=["proxies:read"])).get(f"proxy/{proxy.public_id}").json_body["data"]
    assert event["data"] == shown and shown["status"] == "disabled"


def test_job_completed(account, hook, receiver, settings, judge_server, api, make_key,  # noqa: F811
                       django_capture_on_commit_callbacks):
    settings.CHECKER_JUDGE_URL = judge_server.url
    settings.CHECKER_ALLOW_PRIVATE = True
    settings.CHECKER_TIMEOUT_S = 1.0
    job = job_create(account=account, proxies_text="127.0.0.1:9")
    with django_capture_on_commit_callbacks(execute=True):
        job_run(job_id=job.pk)
    (event,) = [e for e in receiver.events() if e["type"] == "job.completed"]
    shown = api(make_key(account, scopes=["checker:read"])).get(f"jobs/{job.pk}").json_body["data"]
    assert event["data"] == shown and shown["status"] == "completed"
