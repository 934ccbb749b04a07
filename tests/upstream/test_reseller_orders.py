"""IP orders on portal B fulfilled by portal A through the `upstream` provider, both real portal
processes on 127.0.0.1 (gunicorn and a Celery worker each, their own databases). No HTTP is
mocked: B's customer calls B's API, B's worker calls A's API with B's key there.
"""

import time
from decimal import ROUND_CEILING, Decimal

import pytest

from tests.upstream.conftest import RESELLER_SCOPES

pytestmark = pytest.mark.upstream

ISP = {"type": "isp", "quantity": 2, "period": 30, "country": "US"}
WAIT_S = 90
# B sells ISP through A; the sweep is quick so a test need not wait a minute for it.
RESELLER_ENV = {"ORDER_PROVIDER_ISP": "upstream", "ORDER_PROVIDER_RESIDENTIAL": "upstream", "UPSTREAM_SWEEP_EVERY_S": "1", "UPSTREAM_SWEEP_STALE_S": "2",
                "UPSTREAM_BACKOFF_S": "0.05", "UPSTREAM_BACKOFF_MAX_S": "0.2"}


def wait_for(what: str, predicate, timeout: float = WAIT_S, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def order_on(portal, key: str, order_id: str) -> dict:
    with portal.api(key) as api:
        answer = api.get(f"/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def settled(portal, key: str, order_id: str, interval: float = 1.1) -> dict:
    """The order once it is no longer pending, polled within B's own limit (60 a minute)."""
    return wait_for(f"order {order_id} leaves pending",
                    lambda: (o := order_on(portal, key, order_id))["status"] != "pending" and o, interval=interval)


def place_on_b(portal_b, body=ISP) -> dict:
    with portal_b.api(portal_b.seed.customer["key"]) as api:
        answer = api.post("/orders", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def upstream_order_of(portal_b, order_id: str) -> dict:
    state = portal_b.call("account_state", email=portal_b.seed.customer["email"])
    return next(o for o in state["orders"] if o["id"] == order_id)


def a_price(portal_a, body: dict) -> Decimal:
    return Decimal(portal_a.call("quote", **{**body, "quantity": str(body["quantity"])})["total"])


def plus_markup(total: Decimal, percent: str = "30") -> Decimal:
    return (total * (100 + Decimal(percent)) / 100).quantize(Decimal("0.01"), rounding=ROUND_CEILING)


@pytest.fixture(scope="module")
def reseller_b(start_portal_b):
    return start_portal_b(**RESELLER_ENV)


@pytest.fixture(scope="module")
def isp_order_b(reseller_b):
    placed = place_on_b(reseller_b)
    return {"placed": placed, "settled": settled(reseller_b, reseller_b.seed.customer["key"], placed["id"])}


def test_b_prices_an_upstream_type_at_as_total_plus_markup_rounded_up(reseller_b, portal_a):
    bodies = [ISP, {**ISP, "quantity": 7, "period": 90}, {**ISP, "quantity": 1, "period": 7}]
    with reseller_b.api(reseller_b.seed.customer["key"]) as api:
        for body in bodies:
            answer = api.post("/orders/calc", json=body)
            assert answer.status_code == 200, answer.text
            assert Decimal(answer.json()["data"]["total"]) == plus_markup(a_price(portal_a, body))
        # A's periods are B's for this type: 2 days is sold by neither
        refused = api.post("/orders/calc", json={**ISP, "period": 2})
        assert refused.status_code == 400 and "period" in refused.json()["meta"]["fields"]
        # a type B sells from its own stock keeps B's price rules
        own = api.post("/orders/calc", json={**ISP, "type": "datacenter"}).json()["data"]
    assert Decimal(own["total"]) == Decimal(reseller_b.call("quote", **{**ISP, "type": "datacenter",
                                                                        "quantity": "2"})["total"])


def test_an_isp_order_on_b_is_fulfilled_by_a_with_the_same_credentials(reseller_b, portal_a, isp_order_b):
    placed, active = isp_order_b["placed"], isp_order_b["settled"]
    assert placed["status"] == "pending"
    assert active["status"] == "active" and active["proxy_count"] == 2
    assert Decimal(placed["total"]) == plus_markup(a_price(portal_a, ISP))
    b_side = upstream_order_of(reseller_b, placed["id"])
    assert b_side["provider"] == "upstream" and b_side["provider_ref"].startswith("ord_")

    reseller_key = portal_a.seed.reseller["key"]
    a_order = order_on(portal_a, reseller_key, b_side["provider_ref"])
    assert (a_order["status"], a_order["type"], a_order["quantity"], a_order["period"]) == ("active", "isp", 2, 30)
    with portal_a.api(reseller_key) as api:
        on_a = api.get(f"/orders/{b_side['provider_ref']}/proxies").json()["data"]
    with reseller_b.api(reseller_b.seed.customer["key"]) as api:
        on_b = api.get(f"/orders/{placed['id']}/proxies").json()["data"]
    fields = ("host", "port", "username", "password", "protocol")
    assert sorted(tuple(p[f] for f in fields) for p in on_b) == sorted(tuple(p[f] for f in fields) for p in on_a)

    buyer = reseller_b.call("account_state", email=reseller_b.seed.customer["email"])
    assert Decimal(buyer["balance"]) == Decimal("500.00") - Decimal(placed["total"])


def test_extend_on_b_extends_on_a_first_and_both_ends_move(reseller_b, portal_a, isp_order_b):
    order_id = isp_order_b["placed"]["id"]
    ref = upstream_order_of(reseller_b, order_id)["provider_ref"]
    key_b, key_a = reseller_b.seed.customer["key"], portal_a.seed.reseller["key"]
    ends_b, ends_a = order_on(reseller_b, key_b, order_id)["expires_at"], order_on(portal_a, key_a, ref)["expires_at"]
    reseller_before = portal_a.call("account_state", email=portal_a.seed.reseller["email"])
    with reseller_b.api(key_b) as api:
        answer = api.post(f"/orders/{order_id}/extend", json={"period": 30})
    assert answer.status_code == 200, answer.text
    moved_b, moved_a = order_on(reseller_b, key_b, order_id)["expires_at"], order_on(portal_a, key_a, ref)["expires_at"]
    assert _days_between(ends_b, moved_b) == 30 and _days_between(ends_a, moved_a) == 30
    after = portal_a.call("account_state", email=portal_a.seed.reseller["email"])
    charged_a = Decimal(reseller_before["balance"]) - Decimal(after["balance"])
    assert charged_a == a_price(portal_a, ISP)
    assert [e["reference"] for e in after["ledger"] if e["reference"].endswith(":extend:1")] == [
        f"order:{ref}:extend:1"]


def _days_between(start: str, end: str) -> float:
    from datetime import datetime

    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() / 86400


def test_replace_on_b_replaces_on_a_and_both_hold_the_new_proxy(reseller_b, portal_a, isp_order_b):
    order_id = isp_order_b["placed"]["id"]
    ref = upstream_order_of(reseller_b, order_id)["provider_ref"]
    key_b, key_a = reseller_b.seed.customer["key"], portal_a.seed.reseller["key"]
    with reseller_b.api(key_b) as api:
        old = api.get(f"/orders/{order_id}/proxies").json()["data"][0]
        answer = api.post(f"/orders/{order_id}/replace", json={"proxies": [f"{old['host']}:{old['port']}"]})
        assert answer.status_code == 200, answer.text
        (swap,) = answer.json()["data"]["replaced"]
        on_b = {(p["host"], p["port"]) for p in api.get(f"/orders/{order_id}/proxies").json()["data"]}
        # one replacement of a 2-proxy order per 24 hours, on B as on A
        again = api.post(f"/orders/{order_id}/replace", json={"proxies": [f"{swap['new']['host']}:{swap['new']['port']}"]})
        assert again.status_code == 409 and again.json()["error_type"] == "conflict"
    new = swap["new"]
    assert swap["old"] == f"{old['host']}:{old['port']}" and (new["host"], new["port"]) != (old["host"], old["port"])
    with portal_a.api(key_a) as api:
        on_a = {(p["host"], p["port"]): p for p in api.get(f"/orders/{ref}/proxies").json()["data"]}
    assert (new["host"], new["port"]) in on_a and (old["host"], old["port"]) not in on_a
    assert on_a[(new["host"], new["port"])]["password"] == new["password"]
    assert on_b == set(on_a)


def test_authorized_ips_on_b_are_forwarded_to_b_s_account_on_a(reseller_b, portal_a, isp_order_b):
    key_b, key_a = reseller_b.seed.customer["key"], portal_a.seed.reseller["key"]

    def on_a() -> set:
        with portal_a.api(key_a) as api:
            return {row["ip"] for row in api.get("/account/authorized-ips").json()["data"]}

    with reseller_b.api(key_b) as api:
        added = api.post("/account/authorized-ips", json={"ip": "93.184.216.34"})
        assert added.status_code == 201, added.text
    wait_for("the IP reaches A", lambda: "93.184.216.34" in on_a())
    with reseller_b.api(key_b) as api:
        assert api.delete(f"/account/authorized-ips/{added.json()['data']['id']}").status_code == 204
    wait_for("the IP leaves A", lambda: "93.184.216.34" not in on_a())


def test_a_residential_order_on_b_buys_its_traffic_on_a_and_its_sub_user_lives_there(reseller_b, portal_a):
    """The whole residential chain through real processes: B's customer orders GB on B, B's worker
    buys the same GB on A, and a sub-user created on B is A's sub-user under A's order."""
    body = {"type": "residential", "quantity": "1", "country": "US"}
    with reseller_b.api(reseller_b.seed.customer["key"]) as api:
        quoted = api.post("/orders/calc", json=body)
        assert quoted.status_code == 200, quoted.text
        assert Decimal(quoted.json()["data"]["total"]) == plus_markup(a_price(portal_a, body))
    placed = place_on_b(reseller_b, body)
    active = settled(reseller_b, reseller_b.seed.customer["key"], placed["id"])
    assert active["status"] == "active", active
    a_order_id = upstream_order_of(reseller_b, placed["id"])["provider_ref"]
    with portal_a.api(portal_a.seed.reseller["key"]) as on_a:
        a_order = on_a.get(f"/orders/{a_order_id}").json()["data"]
        assert (a_order["status"], a_order["type"], Decimal(a_order["traffic_gb"])) == ("active", "residential", 1)
        with reseller_b.api(reseller_b.seed.customer["key"]) as api:
            created = api.post("/proxy", json={"name": "chain", "order_id": placed["id"], "country": "US"})
        assert created.status_code == 201, created.text
        mine = created.json()["data"]
        theirs = [p for p in on_a.get("/proxy").json()["data"] if p["order_id"] == a_order_id]
    assert len(theirs) == 1
    assert (mine["host"], mine["port"], mine["username"], mine["password"]) == (
        theirs[0]["host"], theirs[0]["port"], theirs[0]["username"], theirs[0]["password"])


def test_b_lists_as_countries_and_periods_for_a_type_it_buys_from_a(reseller_b, portal_a):
    """B's own catalogue no longer sells ISP in DE nor 90 days; B buys ISP from A, so its
    reference data for ISP are still A's (and DE stays orderable through A)."""
    reseller_b.call("catalogue_drop", type="isp", country="DE", period=90)
    with portal_a.api(portal_a.seed.reseller["key"]) as on_a:
        a_countries = on_a.get("/reference/countries", params={"type": "isp", "limit": 250}).json()["data"]
        a_periods = {p["days"] for p in on_a.get("/reference/periods").json()["data"]}
    with reseller_b.api(reseller_b.seed.customer["key"]) as api:
        b_countries = api.get("/reference/countries", params={"type": "isp", "limit": 250}).json()["data"]
        b_periods = {p["days"] for p in api.get("/reference/periods").json()["data"]}
        everything = api.get("/reference/countries", params={"limit": 250}).json()["data"]
        calc = api.post("/orders/calc", json={**ISP, "country": "DE", "period": 90})
    assert [(c["code"], c["name"]) for c in b_countries] == [(c["code"], c["name"]) for c in a_countries]
    assert "DE" in {c["code"] for c in b_countries} and all(c["types"] == ["isp"] for c in b_countries)
    assert a_periods <= b_periods and 90 in b_periods
    germany = next(c for c in everything if c["code"] == "DE")
    assert "isp" in germany["types"] and "datacenter" in germany["types"]
    assert calc.status_code == 200, calc.text


def test_a_short_balance_at_a_fails_b_s_order_refunds_it_and_emails_b_s_staff(start_portal_b, portal_a):
    portal_b = start_portal_b(key=portal_a.seed.poor["key"], **RESELLER_ENV)
    placed = place_on_b(portal_b)
    failed = settled(portal_b, portal_b.seed.customer["key"], placed["id"])
    assert failed["status"] == "failed"
    assert "could not fill this order" in failed["failure_reason"] and "refunded" in failed["failure_reason"]
    assert "127.0.0.1" not in failed["failure_reason"] and "insufficient" not in failed["failure_reason"].lower()
    state = portal_b.call("account_state", email=portal_b.seed.customer["email"])
    assert Decimal(state["balance"]) == Decimal("500.00")
    assert [e["type"] for e in state["ledger"] if placed["id"] in e["reference"]] == ["charge", "refund"]
    mails = wait_for("the staff e-mail", lambda: [m for m in portal_b.sent_mail() if placed["id"] in m["Subject"]])
    assert len(mails) == 1 and mails[0]["To"] == portal_b.seed.operator_email
    assert "insufficient_funds" in mails[0].get_payload()
    poor_on_a = portal_a.call("account_state", email=portal_a.seed.poor["email"])
    assert poor_on_a["orders"] == []  # A refused it: nothing bought there


def test_a_killed_mid_placement_then_back_the_sweep_finishes_with_one_order_on_a(start_portal_b, portal_a):
    """B's worker places at A and the answer is lost (A took and delivered the order; B never
    heard); A is killed; B's worker dies too with its retry. Once A is back, B's sweep drives the
    order again with the same Idempotency-Key: A answers with the order it already has."""
    portal_b = start_portal_b(worker=False, **RESELLER_ENV)
    placed = place_on_b(portal_b)
    assert upstream_order_of(portal_b, placed["id"])["provider_ref"] == ""
    reseller = portal_a.seed.reseller
    before = portal_a.call("account_state", email=reseller["email"])
    with portal_a.api(reseller["key"]) as api:  # what B's worker sent before its answer was lost
        lost = api.post("/orders", json=ISP, headers={"Idempotency-Key": placed["id"]})
    assert lost.status_code == 201, lost.text
    taken_by_a = lost.json()["data"]["id"]
    settled(portal_a, reseller["key"], taken_by_a)  # A's own worker delivers it before A goes down

    portal_a.kill()
    try:
        portal_b.start_worker(beat=True)
        wait_for("B's worker trying A", lambda: "upstream place_order failed" in portal_b.log_text(), timeout=30)
        assert order_on(portal_b, portal_b.seed.customer["key"], placed["id"])["status"] == "pending"
        portal_b.kill_worker()
    finally:
        portal_a.start()
    portal_b.start_worker(beat=True)
    active = settled(portal_b, portal_b.seed.customer["key"], placed["id"])
    assert active["status"] == "active" and active["proxy_count"] == 2
    assert upstream_order_of(portal_b, placed["id"])["provider_ref"] == taken_by_a

    after = portal_a.call("account_state", email=reseller["email"])
    new_orders = [o for o in after["orders"] if o["id"] not in {p["id"] for p in before["orders"]}]
    assert [o["id"] for o in new_orders] == [taken_by_a]
    assert [e["reference"] for e in after["ledger"] if e["type"] == "charge" and taken_by_a in e["reference"]] == [
        f"order:{taken_by_a}:charge"]


def test_a_429_from_a_is_retried_after_its_retry_after_and_succeeds(start_portal_b, portal_a):
    """A's throttled plan allows 3 general requests a minute: B's pricing takes them (periods,
    countries, calc), so B's worker's first look at the placed order is refused with 429; B
    schedules the task again after Retry-After and the order completes."""
    throttled = portal_a.seed.throttled
    key = portal_a.call("api_key", email=throttled["email"], scopes=RESELLER_SCOPES, name="reseller 429")["key"]
    portal_a.manage("adjustbalance", "--email", throttled["email"], "--amount", "100", "--reason", "429 test")
    portal_b = start_portal_b(key=key, UPSTREAM_RETRY_AFTER_MAX_S="0", **RESELLER_ENV)
    started = time.monotonic()
    placed = place_on_b(portal_b, {**ISP, "quantity": 1})
    active = settled(portal_b, portal_b.seed.customer["key"], placed["id"])
    assert active["status"] == "active", active
    log = portal_b.log_text()
    assert "HTTP 429" in log and "rate_limited" in log
    assert time.monotonic() - started >= 1
    state = portal_a.call("account_state", email=throttled["email"])
    assert len([o for o in state["orders"] if o["status"] == "active"]) == 1


def test_an_unreachable_upstream_answers_502_and_charges_nothing(start_portal_b, portal_a):
    portal_b = start_portal_b(**RESELLER_ENV)
    portal_a.kill()
    try:
        with portal_b.api(portal_b.seed.customer["key"]) as api:
            for path in ("/orders/calc", "/orders"):
                answer = api.post(path, json=ISP)
                assert answer.status_code == 502, answer.text
                body = answer.json()
                assert body["error_type"] == "upstream_error" and body["result"] is False
                assert "cannot be reached" in body["error"] and "127.0.0.1" not in body["error"]
    finally:
        portal_a.start()
    state = portal_b.call("account_state", email=portal_b.seed.customer["email"])
    assert state["orders"] == [] and Decimal(state["balance"]) == Decimal("500.00")

