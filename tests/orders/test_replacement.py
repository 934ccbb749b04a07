"""POST /orders/{id}/replace: fresh proxies for listed ones, within the daily quota, free of charge."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import AuditLogEntry
from billing.models import LedgerEntry
from orders.models import InventoryProxy, Order, OrderProxy, ProxyReplacement
from orders.services import order_proxies_replace
from tests.conftest import dashboard_client

from .conftest import add_stock, free_stock, fund, requires_postgres

pytestmark = pytest.mark.django_db


def _order(api, key, committing, *, quantity=10, country="DE", type_code="datacenter"):
    response = committing(api(key)).post(
        "orders", {"type": type_code, "quantity": quantity, "period": 30, "country": country}
    )
    assert response.status_code == 201, response.json_body
    order_id = response.json_body["data"]["id"]
    assert Order.objects.get(public_id=order_id).status == "active"
    return order_id


def _live(order_id):
    return [f"{p.host}:{p.port}" for p in OrderProxy.objects.filter(order__public_id=order_id, released_at__isnull=True)]


def test_replaces_a_proxy_with_fresh_stock_of_the_same_type_and_country(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 12)
    add_stock("datacenter", "FR", 3, start=2)
    order_id = _order(api, order_key, committing)
    before = _live(order_id)
    entries = LedgerEntry.objects.count()
    response = api(order_key).post(f"orders/{order_id}/replace", {"proxies": [before[0]]})
    assert response.status_code == 200, response.json_body
    [item] = response.json_body["data"]["replaced"]
    assert item["old"] == before[0]
    assert set(item["new"]) == {"host", "port", "username", "password", "protocol", "country"}
    assert item["new"]["country"] == "DE"
    after = _live(order_id)
    assert before[0] not in after and f"{item['new']['host']}:{item['new']['port']}" in after
    assert len(after) == 10
    assert LedgerEntry.objects.count() == entries  # no charge
    assert free_stock("datacenter", "FR") == 3
    host, port = before[0].rsplit(":", 1)
    old = InventoryProxy.objects.get(host=host, port=int(port))
    assert old.status == "available" and old.order is None
    assert old.quarantined_until > timezone.now() + timedelta(days=6, hours=23)
    audit = AuditLogEntry.objects.get(account=account, action="order.proxies_replaced")
    assert audit.target == order_id and audit.details["replaced"][0]["old"] == before[0]
    assert api(order_key).get(f"orders/{order_id}").json_body["data"]["proxy_count"] == 10


def test_quarantined_stock_is_not_sold_until_the_quarantine_ends(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 11)
    order_id = _order(api, order_key, committing)
    old = _live(order_id)[0]
    assert api(order_key).post(f"orders/{order_id}/replace", {"proxies": [old]}).status_code == 200
    assert free_stock("datacenter", "DE") == 1  # the quarantined row, still "available"
    refused = api(order_key).post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "DE"})
    assert refused.status_code == 409
    host, port = old.rsplit(":", 1)
    InventoryProxy.objects.filter(host=host, port=int(port)).update(quarantined_until=timezone.now())
    assert _order(api, order_key, committing, quantity=1) and _live(
        Order.objects.latest("created_at").public_id) == [old]


def test_at_most_ten_percent_per_day(account, api, order_key, committing):
    fund(account, "200")
    add_stock("datacenter", "DE", 30)
    order_id = _order(api, order_key, committing, quantity=20)  # quota 2
    live = _live(order_id)
    too_many = api(order_key).post(f"orders/{order_id}/replace", {"proxies": live[:3]})
    assert too_many.status_code == 409 and too_many.json_body["error_type"] == "conflict"
    assert "2 replacements left" in too_many.json_body["error"]
    assert _live(order_id) == live
    assert api(order_key).post(f"orders/{order_id}/replace", {"proxies": live[:2]}).status_code == 200
    third = api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[2]]})
    assert third.status_code == 409 and "0 replacements left" in third.json_body["error"]
    ProxyReplacement.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[2]]}).status_code == 200


def test_a_small_order_may_replace_one(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 5)
    order_id = _order(api, order_key, committing, quantity=3)
    live = _live(order_id)
    assert api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[0]]}).status_code == 200
    assert api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[1]]}).status_code == 409


def test_out_of_stock_is_a_conflict_and_changes_nothing(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 10)
    order_id = _order(api, order_key, committing)
    live = _live(order_id)
    response = api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[0]]})
    assert response.status_code == 409 and "stock" in response.json_body["error"]
    assert _live(order_id) == live and not ProxyReplacement.objects.exists()
    assert InventoryProxy.objects.filter(quarantined_until__isnull=False).count() == 0


def test_proxies_not_in_the_order_or_malformed_are_validation_errors(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 12)
    order_id = _order(api, order_key, committing)
    client = api(order_key)
    for body in ({"proxies": ["203.0.113.9:8000"]}, {"proxies": ["no-port"]}, {"proxies": []}, {"proxies": "a:1"},
                 {}, {"proxies": [1]}, {"proxies": ["h:99999"]}):
        response = client.post(f"orders/{order_id}/replace", body)
        assert response.status_code == 400, (body, response.json_body)
        assert "proxies" in response.json_body["meta"]["fields"], body
    assert client.post(f"orders/{order_id}/replace", "[").json_body["error_type"] == "bad_request"
    assert not ProxyReplacement.objects.exists()


def test_only_active_ip_orders(account, api, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 12)
    order_id = _order(api, order_key, committing)
    live = _live(order_id)
    residential = committing(api(order_key)).post("orders", {"type": "residential", "quantity": "1"}).json_body
    gateway = api(order_key).get(f"orders/{residential['data']['id']}/proxies").json_body["data"][0]
    refused = api(order_key).post(f"orders/{residential['data']['id']}/replace",
                                  {"proxies": [f"{gateway['host']}:{gateway['port']}"]})
    assert refused.status_code == 409
    Order.objects.filter(public_id=order_id).update(status="expired")
    expired = api(order_key).post(f"orders/{order_id}/replace", {"proxies": [live[0]]})
    assert expired.status_code == 409 and "expired" in expired.json_body["error"]


def test_tenancy_and_scope(account, outsider_account, api, make_key, order_key, committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 12)
    order_id = _order(api, order_key, committing)
    live = _live(order_id)
    other = api(make_key(outsider_account, scopes=["orders:read", "orders:write"]))
    assert other.post(f"orders/{order_id}/replace", {"proxies": [live[0]]}).status_code == 404
    read_only = api(make_key(account, scopes=["orders:read"]))
    refused = read_only.post(f"orders/{order_id}/replace", {"proxies": [live[0]]})
    assert refused.status_code == 403 and refused.json_body["meta"]["required"] == "orders:write"
    assert _live(order_id) == live


def test_the_order_page_replaces_with_a_confirmation_and_shows_the_history(owner, account, api, order_key,
                                                                            committing):
    fund(account, "100")
    add_stock("datacenter", "DE", 12)
    order_id = _order(api, order_key, committing)
    old = _live(order_id)[0]
    client = dashboard_client(owner, account)
    page = client.get(f"/orders/{order_id}/").content.decode()
    assert 'data-dialog-open="replace-1"' in page and '<dialog id="replace-1"' in page
    confirm = client.get(f"/orders/{order_id}/", {"replace": old}).content.decode()
    assert '<dialog id="replace-1" aria-labelledby="replace-1-title" open data-open-on-load>' in confirm
    done = client.post(f"/orders/{order_id}/replace", {"proxy": old}, follow=True).content.decode()
    assert f"Replaced {old}" in done
    assert 'aria-label="Replacements"' in done and owner.email in done
    again = client.post(f"/orders/{order_id}/replace", {"proxy": _live(order_id)[0]}, follow=True)
    assert "0 replacements left" in again.content.decode()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_replacements_never_exceed_the_quota(account, api, order_key, committing):
    fund(account, "200")
    add_stock("datacenter", "DE", 40)
    order_id = _order(api, order_key, committing, quantity=20)  # quota 2
    live = _live(order_id)
    barrier = threading.Barrier(4)
    outcomes = []

    def replace(proxy):
        try:
            barrier.wait()
            order_proxies_replace(account=account, order_id=order_id, proxies=[proxy])
            outcomes.append("ok")
        except Exception as exc:  # noqa: BLE001 - the refusal is the outcome under test
            outcomes.append(type(exc).__name__)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=replace, args=(p,)) for p in live[:4]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["Conflict", "Conflict", "ok", "ok"]
    assert ProxyReplacement.objects.filter(order__public_id=order_id).count() == 2
    assert len(_live(order_id)) == 20
    assert InventoryProxy.objects.filter(order__public_id=order_id, status="allocated").count() == 20
