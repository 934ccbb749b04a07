"""Usage ingestion: the signed webhook, idempotency per record id, limits, top-ups, the pull task."""

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection

from orders.models import Order
from orders.residential import services
from orders.residential.models import SubUserProxy, UsageRecord

from .subuser_fixtures import deliver, record, residential_order, sign

GB = 10**9


@pytest.fixture
def order(account):
    return residential_order(account, gb="1")


def make_proxy(account, order, name="p", limit=None) -> SubUserProxy:
    return services.subuser_create(account=account, order_id=order.public_id, name=name, traffic_limit_gb=limit)


# --- the webhook ---------------------------------------------------------------------------


def test_bad_or_missing_signature_is_401_and_nothing_stored(account, order):
    proxy = make_proxy(account, order)
    recs = [record(proxy.username, 100, 200)]
    for signature in ("", "sha256=" + "0" * 64, sign(b"other body"), sign(b"x", secret="wrong")):
        r = deliver(recs, signature=signature)
        assert r.status_code == 401 and r.json_body["error_type"] == "unauthorized"
    assert not UsageRecord.objects.exists()


def test_malformed_bodies_are_400(db):
    from django.test import Client

    for raw in (b"not json", b"[1,2]", b'{"records": "x"}', b'{"records": [{"id": "a"}]}'):
        r = Client().post("/webhooks/usage", data=raw, content_type="application/json",
                          headers={"X-Signature": sign(raw)})
        assert r.status_code == 400, raw
        assert r.json()["result"] is False
        assert r.json()["error_type"] in ("bad_request", "validation_error")
    raw = b'{"records": [{"id": "a", "username": "u", "period_start": "x", "bytes_in": -1, "bytes_out": 1}]}'
    r = Client().post("/webhooks/usage", data=raw, content_type="application/json", headers={"X-Signature": sign(raw)})
    assert r.status_code == 400 and r.json()["error_type"] == "validation_error"


def test_usage_replay_counts_once(account, order):
    proxy = make_proxy(account, order)
    recs = [record(proxy.username, 1000, 500, id="r1"), record(proxy.username, 10, 20, id="r2")]
    first = deliver(recs)
    assert first.status_code == 200
    assert first.json_body["data"] == {"accepted": 2, "duplicates": 0, "unknown": [], "disabled": [], "too_old": []}
    again = deliver(recs + [record(proxy.username, 1, 1, id="r1")])
    assert again.json_body["data"]["accepted"] == 0 and again.json_body["data"]["duplicates"] == 3
    proxy.refresh_from_db()
    order.refresh_from_db()
    assert proxy.traffic_used_bytes == 1530
    assert order.traffic_used_gb == Decimal("0.000002")  # 1530 bytes, to 6 places of a GB
    assert UsageRecord.objects.count() == 2


def test_unknown_usernames_are_reported_and_stored_nowhere(account, order):
    proxy = make_proxy(account, order)
    r = deliver([record("nobody", 5, 5, id="u1"), record(proxy.username + "-country-us", 5, 5, id="k1")])
    assert r.json_body["data"]["unknown"] == ["u1"]
    assert r.json_body["data"]["accepted"] == 1  # the full connection username names the sub-user too
    assert list(UsageRecord.objects.values_list("record_id", flat=True)) == ["k1"]


def test_records_land_in_their_hour(account, order):
    proxy = make_proxy(account, order)
    deliver([record(proxy.username, 1, 1, period_start="2025-03-01T10:59:59+02:00")])
    assert UsageRecord.objects.get().period_start == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


# --- limits and top-ups ---------------------------------------------------------------------


def test_own_limit_disables_exactly_at_the_limit_and_raising_it_re_enables(account, order, api, make_key):
    proxy = make_proxy(account, order, limit=Decimal("0.000001"))  # 1000 bytes
    r = deliver([record(proxy.username, 600, 399)])  # 999 bytes: one short
    assert r.json_body["data"]["disabled"] == []
    proxy.refresh_from_db()
    assert proxy.status == "active"
    r = deliver([record(proxy.username, 1, 0)])  # exactly 1000
    assert r.json_body["data"]["disabled"] == [proxy.public_id]
    proxy.refresh_from_db()
    assert (proxy.status, proxy.disabled_reason) == ("disabled", "traffic_limit_reached")

    client = api(make_key(account, scopes=["proxies:read", "proxies:write"]))
    r = client.patch(f"proxy/{proxy.public_id}", {"status": "active"})
    assert r.status_code == 409  # still at its limit
    r = client.patch(f"proxy/{proxy.public_id}", {"traffic_limit_gb": "0.000002"})
    assert r.status_code == 200
    assert (r.json_body["data"]["status"], r.json_body["data"]["disabled_reason"]) == ("active", None)


def test_order_exhaustion_disables_every_proxy_on_it_and_a_new_order_re_enables(account, order):
    a, b = make_proxy(account, order, "a"), make_proxy(account, order, "b")
    deliver([record(a.username, GB // 2, GB // 2 - 1)])  # one byte short of 1 GB
    assert set(SubUserProxy.objects.values_list("status", flat=True)) == {"active"}
    r = deliver([record(b.username, 1, 0)])  # exactly 1 GB on the order
    assert set(r.json_body["data"]["disabled"]) == {a.public_id, b.public_id}
    order.refresh_from_db()
    assert order.traffic_used_gb == Decimal("1")
    for p in (a, b):
        p.refresh_from_db()
        assert (p.status, p.disabled_reason) == ("disabled", "order_traffic_exhausted")

    top_up = residential_order(account, gb="5")
    assert services.subusers_on_order_activated(order=top_up) == 2
    for p in (a, b):
        p.refresh_from_db()
        assert (p.status, p.disabled_reason, p.order_id) == ("active", "", top_up.pk)
    deliver([record(a.username, 1000, 0)])
    top_up.refresh_from_db()
    order.refresh_from_db()
    assert top_up.traffic_used_gb == Decimal("0.000001")
    assert order.traffic_used_gb == Decimal("1")  # the new traffic is drawn from the new order
    assert UsageRecord.objects.filter(order=top_up).count() == 1


def test_pull_task_re_enables_after_a_top_up(account, order):
    proxy = make_proxy(account, order)
    deliver([record(proxy.username, GB, 0)])
    proxy.refresh_from_db()
    assert proxy.status == "disabled"
    from orders.residential.tasks import pull_usage

    assert pull_usage.delay().get()["reconciled"] == 0
    residential_order(account, gb="2")
    assert pull_usage.delay().get()["reconciled"] == 1
    proxy.refresh_from_db()
    assert proxy.status == "active"


def test_expired_order_disables_its_proxies_on_reconcile(account, order):
    proxy = make_proxy(account, order)
    Order.objects.filter(pk=order.pk).update(status="expired")
    assert services.subusers_reconcile() == 1
    proxy.refresh_from_db()
    assert (proxy.status, proxy.disabled_reason) == ("disabled", "order_inactive")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_the_same_records_count_once(account):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    order = residential_order(account, gb="10")
    proxy = make_proxy(account, order)
    recs = [record(proxy.username, 1000 + i, 1, id=f"c{i}") for i in range(20)]
    results, errors = [], []
    barrier = threading.Barrier(8)

    def worker():
        try:
            barrier.wait()
            results.append(deliver(recs).json_body["data"]["accepted"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(results) == 20
    proxy.refresh_from_db()
    assert proxy.traffic_used_bytes == sum(1000 + i + 1 for i in range(20))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_for_one_account_write_side_by_side_and_count_each_record_once(account):
    """Deliveries for one account, sharing records in different orders, run at once: none fails
    (no deadlock), each record counts once in every rollup, and used traffic ends equal to the
    sum of the stored records for each proxy and order."""
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    from django.db.models import Sum

    from orders.residential.models import UsageDaily, UsageHourly, UsageTotal

    orders = [residential_order(account, gb="100"), residential_order(account, gb="100")]
    proxies = [make_proxy(account, orders[i % 2], name=f"p{i}") for i in range(5)]
    pool = [
        record(proxies[i % 5].username, 1000 + i, i, id=f"shared-{i}", requests=1,
               period_start=f"2025-03-0{1 + i % 3}T{10 + i % 4}:15:00Z")
        for i in range(300)
    ]
    deliveries = [pool[k * 40:k * 40 + 120][::1 if k % 2 else -1] for k in range(6)]  # overlapping, reversed
    results, errors = [], []
    barrier = threading.Barrier(len(deliveries))

    def worker(recs):
        try:
            barrier.wait()
            response = deliver(recs)
            assert response.status_code == 200, response.json_body
            results.append(response.json_body["data"]["accepted"])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(d,)) for d in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    sent = {r["id"] for d in deliveries for r in d}
    assert sum(results) == len(sent) == UsageRecord.objects.count()
    raw = UsageRecord.objects.aggregate(i=Sum("bytes_in"), o=Sum("bytes_out"), n=Sum("requests"))
    for model in (UsageHourly, UsageDaily, UsageTotal):
        assert model.objects.aggregate(i=Sum("bytes_in"), o=Sum("bytes_out"), n=Sum("requests")) == raw, model
    for proxy in proxies:
        proxy.refresh_from_db()
        stored = UsageRecord.objects.filter(proxy=proxy).aggregate(b=Sum("bytes_in") + Sum("bytes_out"))["b"]
        assert proxy.traffic_used_bytes == stored
    for order in orders:
        order.refresh_from_db()
        stored = UsageRecord.objects.filter(order=order).aggregate(b=Sum("bytes_in") + Sum("bytes_out"))["b"]
        assert order.traffic_used_gb == (Decimal(stored) / GB).quantize(Decimal("0.000001"))


def test_placing_a_new_residential_order_re_enables_exhausted_proxies_at_once(account, order, client_for):
    from tests.orders.conftest import fund

    proxy = make_proxy(account, order)
    deliver([record(proxy.username, GB, 0)])
    proxy.refresh_from_db()
    assert (proxy.status, proxy.disabled_reason) == ("disabled", "order_traffic_exhausted")

    fund(account, "100.00")
    placed = client_for.post("orders", {"type": "residential", "quantity": 2})
    assert placed.status_code == 201

    proxy.refresh_from_db()
    new_order = Order.objects.get(public_id=placed.json_body["data"]["id"])
    assert new_order.status == "active"
    assert (proxy.status, proxy.disabled_reason, proxy.order_id) == ("active", "", new_order.pk)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "2999-01-01T00:00:00Z"])
def test_records_stamped_outside_what_statistics_can_show_are_refused(account, order, stamp):
    proxy = make_proxy(account, order)
    response = deliver([record(proxy.username, 100, 100), record(proxy.username, 5, 5, period_start=stamp)])
    assert response.status_code == 400
    assert response.json_body["error_type"] == "validation_error"
    assert "period_start must lie between 2000-01-01" in json.dumps(response.json_body["meta"]["fields"])
    assert UsageRecord.objects.count() == 0
    proxy.refresh_from_db()
    assert proxy.traffic_used_bytes == 0


def test_a_replacing_ingest_counts_an_hour_once_and_takes_its_newer_figures(account, order):
    """The upstream pull's records (one id per proxy and hour): the same hour pulled again is a
    duplicate, and an hour counted further since replaces the stored figures instead of adding."""
    proxy = make_proxy(account, order)
    hour = datetime(2025, 3, 1, 10, tzinfo=UTC)

    def pull(bytes_in):
        return services.usage_ingest(records=[services.UsageIn(
            id="upstream:prx_a:2025-03-01T10", username=proxy.username, period_start=hour,
            bytes_in=bytes_in, bytes_out=0, requests=1)], source="upstream", replace=True).as_dict()

    assert pull(100) == {"accepted": 1, "duplicates": 0, "unknown": [], "disabled": [], "too_old": [], "updated": 0}
    assert pull(100) == {"accepted": 0, "duplicates": 1, "unknown": [], "disabled": [], "too_old": [], "updated": 0}
    assert pull(GB)["updated"] == 1
    proxy.refresh_from_db()
    order.refresh_from_db()
    assert UsageRecord.objects.get().bytes_in == GB and proxy.traffic_used_bytes == GB
    assert (proxy.status, proxy.disabled_reason) == ("disabled", "order_traffic_exhausted")
    assert order.traffic_used_gb == Decimal(1)
