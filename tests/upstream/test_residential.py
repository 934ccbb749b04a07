"""Residential traffic resold through an upstream: B's sub-users live at A (created, changed and
deleted there first, with A's credentials), A's hourly usage is pulled into B's statistics once,
exhaustion on B disables at A too, and A down leaves B unchanged with a 502. Two real portals on
127.0.0.1; no HTTP is mocked.

The residential order on B is made as upstream placement leaves it: the test buys the GB on A
through the client, as B's worker does, and B's local order gets `provider` "upstream" and
`provider_ref` A's order id (`seeding.upstream_residential_order`).
"""

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from core.errors import UpstreamError
from orders.providers.upstream_client import UpstreamClient
from tests.upstream.conftest import PASSWORD

pytestmark = pytest.mark.upstream

GB = 10**9
WAIT_ACTIVE_S = 60


@pytest.fixture(scope="module")
def a_client(portal_a):
    client = UpstreamClient(portal_a.api_url, portal_a.seed.reseller["key"], retries=2, backoff_s=0.05,
                            backoff_max_s=0.2)
    yield client
    client.close()


@pytest.fixture(scope="module")
def portal_b(start_portal_b):
    # no worker: the pull runs here and now (`seeding.pull_usage`), pushes run after the request's commit
    return start_portal_b(worker=False, UPSTREAM_RETRIES="1", UPSTREAM_BACKOFF_S="0.05",
                          UPSTREAM_BACKOFF_MAX_S="0.1", UPSTREAM_CONNECT_TIMEOUT_S="2")


@pytest.fixture
def b_api(portal_b):
    with portal_b.api(portal_b.seed.customer["key"]) as client:
        yield client


def residential_order_on_b(portal_b, a_client, *, gb: str, gb_on_b: str | None = None,
                           email: str | None = None) -> tuple[str, str]:
    """(B's order id, A's order id): `gb` bought on A, B's order (of B's customer, or of `email`)
    active on it with `gb_on_b` GB (the same by default)."""
    placed = a_client.place_order(type="residential", quantity=gb, country="US",
                                  idempotency_key=f"b-res-{uuid.uuid4().hex}")
    deadline = time.monotonic() + WAIT_ACTIVE_S
    while a_client.order(placed.id).status == "pending":
        assert time.monotonic() < deadline, f"{placed.id} still pending on A"
        time.sleep(0.3)
    assert a_client.order(placed.id).status == "active"
    local = portal_b.call("upstream_residential_order", email=email or portal_b.seed.customer["email"],
                          provider_ref=placed.id, gb=gb_on_b or gb)
    return local["id"], placed.id


def create_on_b(b_api, order_id: str, **fields) -> dict:
    # names are one live sub-user's per account: each test's proxy has its own
    answer = b_api.post("/proxy", json={"name": f"via-a {uuid.uuid4().hex[:8]}", "order_id": order_id, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


def upstream_id(portal_b, proxy_id: str) -> str:
    return portal_b.call("subuser_state", public_id=proxy_id)["upstream_id"]


def usage_on_a(portal_a, record_id: str, username: str, hour: datetime, bytes_in: int, bytes_out: int = 0) -> None:
    """Traffic of a sub-user as A's gateway reports it: A's signed usage webhook (A runs on the demo secrets)."""
    body = json.dumps({"records": [{"id": record_id, "username": username,
                                    "period_start": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                    "bytes_in": bytes_in, "bytes_out": bytes_out, "requests": 7}]}).encode()
    signature = hmac.new(b"demo-webhook-secret", body, hashlib.sha256).hexdigest()
    answer = httpx.post(f"{portal_a.base_url}/webhooks/usage", content=body, trust_env=False,
                        headers={"Content-Type": "application/json", "X-Signature": f"sha256={signature}"})
    assert answer.status_code == 200 and answer.json()["data"]["accepted"] == 1, answer.text


def test_a_sub_user_created_on_b_lives_on_a_with_the_same_credentials(portal_b, a_client, b_api):
    order_b, order_a = residential_order_on_b(portal_b, a_client, gb="1")
    mine = create_on_b(b_api, order_b, country="US", state="CA", rotation="sticky", sticky_ttl_minutes=30,
                       traffic_limit_gb="0.5", whitelist=["198.51.100.7"])
    remote = a_client.subuser(upstream_id(portal_b, mine["id"]))
    # A's name carries B's id of it: every B customer's sub-users share B's account on A
    assert remote.order_id == order_a and remote.name == f"{mine['name']} ({mine['id']})"
    assert (mine["host"], mine["port"], mine["username"], mine["password"]) == (
        remote.host, remote.port, remote.username, remote.password)
    assert mine["base_username"] == remote.base_username
    assert mine["connection"]["url"] == f"http://{remote.username}:{remote.password}@{remote.host}:{remote.port}"
    assert (remote.country, remote.state, remote.rotation, remote.sticky_ttl_minutes) == ("US", "CA", "sticky", 30)
    assert (remote.traffic_limit_gb, remote.whitelist, remote.status) == (Decimal("0.5"), ("198.51.100.7",), "active")
    assert b_api.get(f"/proxy/{mine['id']}").json()["data"]["password"] == remote.password


def test_patch_and_put_on_b_change_the_sub_user_on_a(portal_b, a_client, b_api):
    order_b, _ = residential_order_on_b(portal_b, a_client, gb="1")
    mine = create_on_b(b_api, order_b, country="US", state="CA")
    rid = upstream_id(portal_b, mine["id"])

    answer = b_api.patch(f"/proxy/{mine['id']}", json={
        "name": "renamed", "city": "Los Angeles", "whitelist": ["203.0.113.9", "2001:db8::/32"],
        "traffic_limit_gb": "0.25", "rotation": "sticky"})
    assert answer.status_code == 200, answer.text
    remote = a_client.subuser(rid)
    assert (remote.name, remote.city, remote.whitelist, remote.traffic_limit_gb, remote.rotation) == (
        f"renamed ({mine['id']})", "Los Angeles", ("203.0.113.9", "2001:db8::/32"), Decimal("0.25"), "sticky")
    assert answer.json()["data"]["username"] == remote.username  # the targeting A put in it
    assert "-city-los_angeles" in remote.username

    answer = b_api.put(f"/proxy/{mine['id']}", json={"status": "disabled", "traffic_limit_gb": None})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["data"]["status"], answer.json()["data"]["name"]) == ("disabled", "renamed")
    remote = a_client.subuser(rid)
    assert (remote.status, remote.traffic_limit_gb, remote.name) == ("disabled", None, f"renamed ({mine['id']})")

    answer = b_api.put(f"/proxy/{mine['id']}", json={"status": "active", "rotation": "rotating", "country": "DE"})
    assert answer.status_code == 200, answer.text
    remote = a_client.subuser(rid)
    assert (remote.status, remote.rotation, remote.country, remote.state, remote.city) == (
        "active", "rotating", "DE", None, None)
    assert answer.json()["data"]["username"] == remote.username


def test_delete_on_b_deletes_on_a(portal_b, a_client, b_api):
    order_b, _ = residential_order_on_b(portal_b, a_client, gb="1")
    mine = create_on_b(b_api, order_b)
    rid = upstream_id(portal_b, mine["id"])
    assert b_api.delete(f"/proxy/{mine['id']}").status_code == 200
    with pytest.raises(UpstreamError) as gone:
        a_client.subuser(rid)
    assert gone.value.upstream_status == 404
    assert b_api.get(f"/proxy/{mine['id']}").status_code == 404
    assert portal_b.call("subuser_state", public_id=mine["id"])["deleted"] is True


def test_usage_on_a_is_pulled_into_bs_statistics_once(portal_a, portal_b, a_client, b_api):
    order_b, _ = residential_order_on_b(portal_b, a_client, gb="1")
    mine = create_on_b(b_api, order_b)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    usage_on_a(portal_a, f"a-{uuid.uuid4().hex}", mine["base_username"], hour, 3_000_000, 1_000_000)

    first, second = portal_b.call("pull_usage"), portal_b.call("pull_usage")
    assert first["upstream"]["accepted"] >= 1 and "error" not in first["upstream"]
    assert second["upstream"]["accepted"] == 0 and second["upstream"]["updated"] == 0

    def hours_on_b():
        answer = b_api.get("/stats", params={"group_by": "hour", "proxy_id": mine["id"],
                                             "from": hour.date().isoformat(), "to": hour.date().isoformat()})
        assert answer.status_code == 200, answer.text
        return [(r["period_start"], r["bytes_in"], r["bytes_out"], r["bytes_total"], r["requests"])
                for r in answer.json()["data"]]

    stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert hours_on_b() == [(stamp, 3_000_000, 1_000_000, 4_000_000, 7)]
    state = portal_b.call("subuser_state", public_id=mine["id"])
    assert (state["records"], state["traffic_used_bytes"]) == (1, 4_000_000)

    # A counts more in the same hour: the next pull replaces B's figures for that hour, it does not add
    usage_on_a(portal_a, f"a-{uuid.uuid4().hex}", mine["base_username"], hour, 500_000)
    third = portal_b.call("pull_usage")
    assert third["upstream"]["updated"] == 1 and third["upstream"]["accepted"] == 0
    assert hours_on_b() == [(stamp, 3_500_000, 1_000_000, 4_500_000, 14)]
    assert portal_b.call("subuser_state", public_id=mine["id"])["traffic_used_bytes"] == 4_500_000


def test_exhaustion_on_b_disables_the_sub_users_here_and_on_a(portal_a, portal_b, a_client):
    # A customer with this one residential order (with another that has traffic left, its proxies
    # would move there). A still has traffic (2 GB bought there, 1 GB sold on B): A stops them
    # only because B says so.
    customer = portal_b.call("customer", email="one-order@example.com", password=PASSWORD, name="One order",
                             scopes=["proxies:read", "proxies:write"])
    order_b, _ = residential_order_on_b(portal_b, a_client, gb="2", gb_on_b="1", email=customer["email"])
    with portal_b.api(customer["key"]) as b_api:
        heavy, quiet = create_on_b(b_api, order_b, name="heavy"), create_on_b(b_api, order_b, name="quiet")
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        usage_on_a(portal_a, f"a-{uuid.uuid4().hex}", heavy["base_username"], hour, GB + 1)

        portal_b.call("pull_usage")
        for proxy in (heavy, quiet):
            state = portal_b.call("subuser_state", public_id=proxy["id"])
            assert (state["status"], state["disabled_reason"]) == ("disabled", "order_traffic_exhausted")
            assert state["upstream_pending"] is False  # A took it
            remote = a_client.subuser(state["upstream_id"])
            assert remote.status == "disabled"
            assert b_api.get(f"/proxy/{proxy['id']}").json()["data"]["status"] == "disabled"


def test_a_unreachable_is_a_502_and_changes_nothing_on_b(portal_a, portal_b, a_client, b_api):
    order_b, _ = residential_order_on_b(portal_b, a_client, gb="1")
    mine = create_on_b(b_api, order_b, whitelist=["198.51.100.7"])
    before_list = b_api.get("/proxy").json()["meta"]["total"]
    before = portal_b.call("subuser_state", public_id=mine["id"])
    portal_a.kill()
    try:
        refusals = [
            b_api.post("/proxy", json={"name": "not made", "order_id": order_b}),
            b_api.patch(f"/proxy/{mine['id']}", json={"name": "not renamed", "whitelist": []}),
            b_api.put(f"/proxy/{mine['id']}", json={"status": "disabled"}),
            b_api.delete(f"/proxy/{mine['id']}"),
        ]
        for answer in refusals:
            assert answer.status_code == 502, answer.text
            body = answer.json()
            assert (body["result"], body["error_type"]) == (False, "upstream_error")
            assert "nothing was changed" in body["error"]
        assert b_api.get("/proxy").json()["meta"]["total"] == before_list
        assert portal_b.call("subuser_state", public_id=mine["id"]) == before
        pulled = portal_b.call("pull_usage")
        assert "error" in pulled["upstream"]
    finally:
        portal_a.start()
    assert portal_a.seed.reseller["key"] not in portal_b.log_text()
    answer = b_api.patch(f"/proxy/{mine['id']}", json={"name": "renamed later"})
    assert answer.status_code == 200, answer.text
    assert a_client.subuser(before["upstream_id"]).name == f"renamed later ({mine['id']})"
