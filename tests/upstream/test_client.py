"""The upstream client against a real portal A (gunicorn + Celery worker on 127.0.0.1, its own
database): reference data, calc, an idempotent placement, extension, every page of proxies,
A's own 402 and 429, A down and back, and the key kept out of every log and error.
No HTTP is mocked here.
"""

import hashlib
import hmac
import json
import logging
import time
import traceback
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from core.errors import UpstreamError
from orders.providers.upstream_client import UpstreamClient
from tests.upstream.conftest import POOR_BALANCE, RESELLER_BALANCE, THROTTLED_GENERAL_LIMIT

pytestmark = pytest.mark.upstream

WAIT_ACTIVE_S = 60


def make_client(url: str, key: str, **options) -> UpstreamClient:
    return UpstreamClient(url, key, **{"retries": 2, "backoff_s": 0.05, "backoff_max_s": 0.2, **options})


@pytest.fixture(scope="module")
def client(portal_a):
    c = make_client(portal_a.api_url, portal_a.seed.reseller["key"])
    yield c
    c.close()


@pytest.fixture
def secrets_watch(caplog, portal_a):
    """Every line logged here at any level (httpx's debug lines included), and A's own logs,
    must not hold a key."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    keys = [portal_a.seed.reseller["key"], portal_a.seed.poor["key"], *portal_a.seed.throttled["keys"]]
    for key in keys:
        assert key not in caplog.text
        assert key not in portal_a.log_text()


def assert_secret(exc: BaseException, key: str) -> None:
    assert key not in "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.__dict__)


def wait_active(client: UpstreamClient, order_id: str):
    deadline = time.monotonic() + WAIT_ACTIVE_S
    while time.monotonic() < deadline:
        order = client.order(order_id)
        if order.status != "pending":
            return order
        time.sleep(0.3)
    raise AssertionError(f"{order_id} still pending after {WAIT_ACTIVE_S} s")


def charges_for(state: dict, order_id: str) -> list[dict]:
    return [e for e in state["ledger"] if e["type"] == "charge" and order_id in e["reference"]]


@pytest.fixture(scope="module", autouse=True)
def _throttled_windows_open_early(portal_a):
    """On Redis a key's rate window starts at its first request: opening the throttled keys'
    windows now, before the other tests, leaves the 429 test (the module's last) only what
    remains of that minute to wait, not all of it."""
    for key in portal_a.seed.throttled["keys"]:
        with portal_a.api(key) as raw:
            assert raw.get("/account").status_code == 200


@pytest.fixture(scope="module")
def isp_order(client):
    """An ISP order on A placed through the client, and the balance before it."""
    before = client.account().balance
    order = client.place_order(type="isp", quantity=3, period=30, country="US", idempotency_key="b-order-isp-1")
    return {"placed": order, "active": wait_active(client, order.id), "balance_before": before}


def test_account_and_reference_data(client, portal_a, secrets_watch):
    account = client.account()
    assert account.id == portal_a.seed.reseller["account_id"]
    assert account.name == "Portal B (reseller)" and account.currency == "USD"
    assert account.balance <= Decimal(RESELLER_BALANCE)

    types = {t.type: t for t in client.proxy_types()}
    assert set(types) == {"residential", "datacenter", "isp", "mobile", "ipv6"}
    assert types["residential"].unit == "GB" and not types["residential"].period_required
    assert types["isp"].unit == "IP" and types["isp"].period_required and types["isp"].min_quantity == 1
    assert [p.days for p in client.periods()] == [1, 7, 30, 90]

    every = client.countries()
    assert client.countries(page_size=5) == every  # six pages of five, followed to the end
    assert len(every) > 20 and len({c.code for c in every}) == len(every)
    isp = {c.code for c in client.countries(type="isp")}
    assert "US" in isp and "UA" not in isp  # A sells no ISP proxies in Ukraine
    assert all("isp" in c.types for c in client.countries(type="isp"))


def test_calc_equals_the_upstreams_own_price(client, portal_a, secrets_watch):
    bodies = [
        {"type": "isp", "quantity": 3, "period": 30, "country": "US"},
        {"type": "datacenter", "quantity": 60, "period": 90, "country": "DE"},  # volume and period discounts
        {"type": "residential", "quantity": "2.5", "country": "US"},
    ]
    own = portal_a.call("batch", steps=[["quote", {**b, "quantity": str(b["quantity"])}] for b in bodies])
    for body, theirs in zip(bodies, own, strict=True):
        quote = client.calc(**body)
        assert quote.total == Decimal(theirs["total"]) and quote.total > 0
        assert (quote.unit_price, quote.subtotal, quote.discount) == (
            Decimal(theirs["unit_price"]), Decimal(theirs["subtotal"]), Decimal(theirs["discount"]))
        assert quote.currency == "USD" and quote.type == body["type"]


def test_an_order_sent_twice_with_one_idempotency_key_is_one_order_and_one_charge(
        client, portal_a, isp_order, secrets_watch):
    placed = isp_order["placed"]
    assert placed.type == "isp" and placed.quantity == 3 and placed.period == 30 and placed.country == "US"
    again = client.place_order(type="isp", quantity=3, period=30, country="US", idempotency_key="b-order-isp-1")
    assert again.id == placed.id

    state = portal_a.call("account_state", email=portal_a.seed.reseller["email"])
    assert [o["id"] for o in state["orders"]].count(placed.id) == 1
    assert len(charges_for(state, placed.id)) == 1
    assert client.account().balance == isp_order["balance_before"] - placed.total

    active = isp_order["active"]
    assert active.status == "active" and active.proxy_count == 3 and active.expires_at is not None
    proxies = client.order_proxies(placed.id)
    assert len(proxies) == 3 and all(p.host.startswith("203.0.113.") and p.password for p in proxies)
    assert all(p.country == "US" for p in proxies)
    assert all(p.password not in repr(p) for p in proxies)  # a logged proxy does not show its password


def test_extend_moves_the_end_and_charges_once_per_key(client, portal_a, isp_order, secrets_watch):
    order_id = isp_order["placed"].id
    ends = client.order(order_id).expires_at
    price = Decimal(portal_a.call("quote", type="isp", quantity="3", period=30, country="US")["total"])
    balance = client.account().balance

    extended = client.extend_order(order_id, period=30, idempotency_key=f"{order_id}:extend:1")
    assert extended.expires_at - ends == timedelta(days=30)
    repeated = client.extend_order(order_id, period=30, idempotency_key=f"{order_id}:extend:1")
    assert repeated.expires_at == extended.expires_at
    assert client.account().balance == balance - price


def test_every_page_of_an_orders_proxies_is_fetched(client, secrets_watch):
    order = client.place_order(type="datacenter", quantity=7, period=7, country="US", idempotency_key="b-order-dc-7")
    assert wait_active(client, order.id).status == "active"
    paged = client.order_proxies(order.id, page_size=3)  # pages of 3, 3 and 1
    assert len(paged) == 7 and len({(p.host, p.port, p.username) for p in paged}) == 7
    assert paged == client.order_proxies(order.id)


def test_a_short_balance_upstream_is_a_402_the_caller_can_tell_apart(portal_a, secrets_watch):
    poor = portal_a.seed.poor
    with make_client(portal_a.api_url, poor["key"]) as client:
        with pytest.raises(UpstreamError) as caught:
            client.place_order(type="isp", quantity=3, period=30, country="US", idempotency_key="poor-1")
    exc = caught.value
    assert exc.insufficient_funds and not exc.retryable and not exc.unreachable
    assert exc.upstream_status == 402 and exc.upstream_error_type == "insufficient_funds"
    assert "balance" in exc.upstream_message.lower()
    assert "402 insufficient_funds" in exc.message
    assert_secret(exc, poor["key"])
    state = portal_a.call("account_state", email=poor["email"])
    assert state["orders"] == [] and state["balance"] == POOR_BALANCE  # nothing charged, nothing created


def test_other_refusals_carry_the_upstreams_type_and_fields(client, secrets_watch):
    with pytest.raises(UpstreamError) as caught:
        client.calc(type="isp", quantity=3, period=2, country="US")
    assert caught.value.upstream_status == 400 and caught.value.upstream_error_type == "validation_error"
    assert "period" in caught.value.upstream_meta["fields"]
    with pytest.raises(UpstreamError) as caught:
        client.order("ord_doesnotexist")
    assert caught.value.upstream_status == 404 and not caught.value.retryable


def test_a_wrong_key_is_a_401_and_stays_out_of_the_error(portal_a, secrets_watch):
    wrong = portal_a.seed.reseller["key"][:-4] + "zzzz"
    with make_client(portal_a.api_url, wrong) as client:
        with pytest.raises(UpstreamError) as caught:
            client.account()
    assert caught.value.upstream_status == 401 and caught.value.upstream_error_type == "unauthorized"
    assert_secret(caught.value, wrong)
    assert wrong not in secrets_watch.text


def _usage_on_a(portal_a, username: str, hour: datetime) -> None:
    """Traffic of a sub-user as A's gateway reports it: A's signed usage webhook."""
    body = json.dumps({"records": [{"id": f"usage-{username}-1", "username": username,
                                    "period_start": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "bytes_in": 3_000_000, "bytes_out": 1_000_000, "requests": 42}]}).encode()
    signature = hmac.new(b"demo-webhook-secret", body, hashlib.sha256).hexdigest()  # A runs on the demo secrets
    answer = httpx.post(f"{portal_a.base_url}/webhooks/usage", content=body, trust_env=False,
                        headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"})
    assert answer.status_code == 200, answer.text


def test_sub_users_and_their_hourly_traffic_through_the_client(client, portal_a, secrets_watch):
    order = client.place_order(type="residential", quantity="1.5", country="US", idempotency_key="b-order-res-1")
    assert order.quantity == Decimal("1.5") and order.period is None
    assert wait_active(client, order.id).traffic_gb == Decimal("1.5")

    created = client.subuser_create(order_id=order.id, name="first", country="US", rotation="sticky",
                                    sticky_ttl_minutes=30, traffic_limit_gb=Decimal("0.5"))
    assert created.order_id == order.id and created.status == "active" and created.password
    assert created.traffic_limit_gb == Decimal("0.5") and created.traffic_used_gb == 0
    assert created.host and created.port > 0 and created.password not in repr(created)

    updated = client.subuser_update(created.id, name="renamed", whitelist=["198.51.100.7"], traffic_limit_gb=None)
    assert (updated.name, updated.whitelist, updated.traffic_limit_gb) == ("renamed", ("198.51.100.7",), None)
    assert client.subuser(created.id) == updated
    assert created.id in {s.id for s in client.subusers(page_size=1)}
    with pytest.raises(TypeError, match="unknown fields: colour"):
        client.subuser_update(created.id, colour="red")

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert updated.username.startswith(updated.base_username + "-country-us")
    _usage_on_a(portal_a, updated.base_username, hour)
    rows = client.stats(date_from=hour.date(), date_to=hour.date(), proxy_id=created.id)
    assert [(r.period_start, r.proxy_id, r.bytes_in, r.bytes_out, r.bytes_total, r.requests) for r in rows] == [
        (hour, created.id, 3_000_000, 1_000_000, 4_000_000, 42)]

    assert client.subuser_delete(created.id) is True
    assert client.subuser_delete(created.id) is False  # already gone: as after a retried delete
    with pytest.raises(UpstreamError) as caught:
        client.subuser_delete(created.id, missing_ok=False)
    assert caught.value.upstream_status == 404


def test_an_upstream_down_is_retried_then_unreachable_and_back_on_the_same_port_and_data(
        client, portal_a, secrets_watch):
    balance = client.account().balance
    port = portal_a.port
    portal_a.kill()  # SIGKILL, web and worker
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamError) as caught:
            client.account()
        assert caught.value.unreachable and caught.value.upstream_error_type == "unreachable"
        assert "(3 attempts)" in caught.value.message
        # Two retries, each logged (the first may find the pooled connection reset rather
        # than refused, as the killed process held it open).
        assert "attempt 1 of 3" in secrets_watch.text and "attempt 2 of 3" in secrets_watch.text
        assert time.monotonic() - started < 5
        assert_secret(caught.value, portal_a.seed.reseller["key"])
    finally:
        portal_a.start()
    assert portal_a.port == port
    assert client.account().balance == balance  # the same database


def test_reseller_b_reaches_a_with_the_key_from_its_environment(start_portal_b, portal_a, client):
    portal_b = start_portal_b()
    done = portal_b.manage("checkupstream")
    assert f"Upstream {portal_a.api_url}: reachable." in done.stdout
    assert portal_a.seed.reseller["account_id"] in done.stdout
    assert f"Balance there: {client.account().balance:.2f} USD." in done.stdout
    assert "isp → inventory" in done.stdout
    assert "UPSTREAM_LOW_BALANCE_USD" not in done.stderr  # the balance is above it
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"{portal_b.base_url}/healthz").status_code == 200
    key = portal_a.seed.reseller["key"]
    assert key not in done.stdout + done.stderr and key not in portal_b.log_text()


def test_checkupstream_warns_of_a_low_balance_and_fails_on_a_refused_key(make_portal, portal_a):
    poor = make_portal("B", UPSTREAM_API_URL=portal_a.api_url, UPSTREAM_API_KEY=portal_a.seed.poor["key"])
    poor.prepare()
    done = poor.manage("checkupstream")
    assert f"Balance there: {POOR_BALANCE} USD." in done.stdout
    assert "under UPSTREAM_LOW_BALANCE_USD (50 USD)" in done.stderr

    wrong = portal_a.seed.poor["key"][:-4] + "zzzz"
    refused = make_portal("B", UPSTREAM_API_URL=portal_a.api_url, UPSTREAM_API_KEY=wrong)
    done = refused.manage("checkupstream", check=False)
    assert done.returncode != 0
    assert "HTTP 401 unauthorized: API key not found or expired" in done.stderr
    assert wrong not in done.stdout + done.stderr


def _key_with_the_nearest_window_end(portal_a) -> tuple[str, float]:
    """One request with each throttled key; the key whose rate window ends soonest (but not
    before it can be used up) and the seconds left in that window."""
    best = None
    for key in portal_a.seed.throttled["keys"]:
        with portal_a.api(key) as raw:
            answer = raw.get("/account")
        assert answer.status_code == 200, answer.text
        left = int(answer.headers["X-RateLimit-Reset"]) - time.time()
        if left >= 3 and (best is None or left < best[1]):
            best = (key, left)
    return best or (portal_a.seed.throttled["keys"][0], 60.0)


def test_a_429_from_the_upstream_is_waited_out_per_retry_after(portal_a, secrets_watch):
    key, _left = _key_with_the_nearest_window_end(portal_a)
    with portal_a.api(key) as raw:
        for _ in range(THROTTLED_GENERAL_LIMIT):
            refused = raw.get("/account")
            if refused.status_code == 429:
                break
    assert refused.status_code == 429, refused.text
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= 1

    with make_client(portal_a.api_url, key, max_retry_after_s=0.5) as impatient:
        with pytest.raises(UpstreamError) as caught:
            impatient.account()  # asked to wait longer than it may: fails at once, saying how long
    assert caught.value.upstream_status == 429 and caught.value.upstream_error_type == "rate_limited"
    assert caught.value.retry_after >= 1 and caught.value.retryable

    started = time.monotonic()
    with make_client(portal_a.api_url, key, max_retry_after_s=65) as patient:
        account = patient.account()
    waited = time.monotonic() - started
    assert account.email == "throttled@example.com"
    assert waited >= caught.value.retry_after - 1
    assert "upstream GET /account: HTTP 429" in secrets_watch.text
