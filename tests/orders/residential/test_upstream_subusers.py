"""Sub-users of an upstream seller's order when that seller does not answer (a closed port on
127.0.0.1, nothing mocked): the API and the dashboard refuse with the upstream error and change
nothing; what the system changes here (exhaustion) is kept pending and pushed by a later pull.
The whole path against a real upstream portal is in tests/upstream/test_residential.py."""

import socket
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from orders.models import Order
from orders.providers.upstream_client import forget_upstream_clients
from orders.residential import services
from orders.residential.models import SubUserProxy
from orders.residential.selectors import connection, gateway
from orders.residential.tasks import pull_usage
from tests.conftest import PASSWORD

RW = ["proxies:read", "proxies:write"]
GB = 10**9


@pytest.fixture
def upstream_down(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: connections are refused
    settings.UPSTREAM_API_URL = f"http://127.0.0.1:{port}/api/v1"
    settings.UPSTREAM_API_KEY = "upstream-test-key"
    settings.UPSTREAM_RETRIES = 0
    forget_upstream_clients()
    yield
    forget_upstream_clients()


@pytest.fixture
def order(account):
    return Order.objects.create(
        account=account, type="residential", quantity=Decimal(1), status="active", unit_price=Decimal("3.90"),
        subtotal=Decimal("3.90"), discount=Decimal(0), total=Decimal("3.90"), activated_at=timezone.now(),
        traffic_gb=Decimal(1), provider="upstream", provider_ref="ord_upstream1",
    )


@pytest.fixture
def mirrored(account, order):
    """A sub-user as creating it upstream left it."""
    return SubUserProxy.objects.create(
        account=account, order=order, name="mirrored", username="spupstream01", password="upstream-pass",
        upstream_id="prx_upstream1", upstream_host="gw.upstream.test", upstream_port=8000,
        upstream_username="spupstream01-country-us",
    )


def test_the_upstreams_connection_details_are_shown(mirrored):
    assert gateway(mirrored) == ("gw.upstream.test", 8000)
    assert connection(mirrored).strings["url"] == "http://spupstream01-country-us:upstream-pass@gw.upstream.test:8000"


def test_api_writes_are_a_502_and_change_nothing(api, account, make_key, order, mirrored, upstream_down):
    client = api(make_key(account, scopes=RW))
    for response in (
        client.post("proxy", {"name": "new", "order_id": order.public_id}),
        client.patch(f"proxy/{mirrored.public_id}", {"name": "renamed", "whitelist": ["198.51.100.7"]}),
        client._call("put", f"proxy/{mirrored.public_id}", body={"status": "disabled"}),
        client.delete(f"proxy/{mirrored.public_id}"),
    ):
        assert response.status_code == 502, response.json_body
        assert response.json_body["error_type"] == "upstream_error"
        assert "nothing was changed" in response.json_body["error"]
        assert "upstream-test-key" not in response.content.decode()
    assert list(SubUserProxy.objects.values_list("name", "status", "whitelist", "deleted_at")) == [
        ("mirrored", "active", [], None)]


def test_dashboard_actions_go_through_the_same_services(owner, order, mirrored, upstream_down):
    browser = Client()
    assert browser.login(email=owner.email, password=PASSWORD)
    r = browser.post("/proxies/", {"name": "web", "order": order.public_id, "protocol": "http", "country": "US",
                                   "rotation": "rotating", "sticky_ttl_minutes": "10"})
    assert r.status_code == 400 and "nothing was changed" in r.content.decode()
    r = browser.post(f"/proxies/{mirrored.public_id}/delete", follow=True)
    assert "nothing was changed" in r.content.decode()
    assert SubUserProxy.objects.filter(deleted_at__isnull=True).count() == 1


def test_exhaustion_is_kept_pending_until_the_upstream_takes_it(mirrored, upstream_down):
    services.usage_ingest(records=[services.UsageIn(
        id="upstream:prx_upstream1:2025-03-01T10", username=mirrored.username,
        period_start=timezone.now(), bytes_in=GB, bytes_out=0)], source="upstream", replace=True)
    mirrored.refresh_from_db()
    assert (mirrored.status, mirrored.disabled_reason) == ("disabled", "order_traffic_exhausted")
    assert mirrored.upstream_pending  # the push after commit was refused
    result = pull_usage.delay().get()
    assert "error" in result["upstream"] and result["pushed"] == 0
    mirrored.refresh_from_db()
    assert mirrored.upstream_pending


def test_the_usage_pull_runs_on_schedule_at_least_every_5_minutes(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "orders.residential.tasks.pull_usage")
    assert float(entry["schedule"]) <= 300
