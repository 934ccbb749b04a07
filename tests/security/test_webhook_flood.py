"""Issue 22 finding 3: unsigned calls to the webhooks cannot fill the database.

`/webhooks/deposits` stored up to 64 KB of every call before checking its signature, and
neither webhook limited bad signatures: 200 unsigned calls grew the database by 13 MB in
two seconds. Now the signature is verified first; a call whose signature does not hold is
recorded without its body, only the newest `REJECTED_KEEP` such records are kept, and each
client address gets `AUTH_FAILURES_PER_MINUTE` bad signatures a minute (the budget its bad
API keys draw on too) before a 429 `rate_limited` with Retry-After, which records nothing.
A correctly signed call is never refused by that limit, from any address.
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlparse, urlunparse
from urllib.request import Request, urlopen

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from billing import webhooks
from billing.models import DepositDelivery, LedgerEntry
from billing.services import deposit_address_create
from orders.residential.models import UsageRecord
from tests.billing.conftest import sign
from tests.conftest import stop_processes
from tests.orders.residential import subuser_fixtures

ROOT = Path(__file__).resolve().parents[2]
ATTACKER = "203.0.113.7"
WATCHER = "198.51.100.20"
BIG = 64 * 1024
LIMIT = 5


@pytest.fixture
def budget(settings):
    settings.AUTH_FAILURES_PER_MINUTE = LIMIT
    settings.RATELIMIT_ENABLE = True
    return LIMIT


@pytest.fixture
def btc_address(account):
    return deposit_address_create(account=account, currency="BTC")


def notification(address, txid="ab" * 32) -> bytes:
    return json.dumps({
        "currency": "BTC", "network": "BTC", "address": address.address, "txid": txid, "vout": 0,
        "amount": "0.001", "amount_usd": "65.43", "confirmations": 6,
    }).encode()


def post(path: str, body: bytes, *, ip: str, signature: str | None):
    headers = {"X-Signature": signature} if signature is not None else {}
    response = Client(REMOTE_ADDR=ip).post(path, data=body, content_type="application/json", headers=headers)
    response.json_body = json.loads(response.content) if response.content else None
    return response


def unsigned(i: int = 0) -> bytes:
    return json.dumps({"pad": "x" * BIG, "i": i}).encode()


def assert_rate_limited(response):
    assert response.status_code == 429, response.json_body
    assert response.json_body["result"] is False and response.json_body["data"] is None
    assert response.json_body["error_type"] == "rate_limited"
    assert "address" in response.json_body["error"]
    assert int(response["Retry-After"]) >= 1


# --- /webhooks/deposits ------------------------------------------------------------------


def test_a_rejected_deposit_call_is_recorded_without_its_body(db, budget):
    response = post("/webhooks/deposits", unsigned(), ip=ATTACKER, signature="sha256=" + "0" * 64)
    assert response.status_code == 401
    assert response.json_body["error_type"] == "unauthorized"
    delivery = DepositDelivery.objects.get()
    assert delivery.raw_body == ""
    assert delivery.signature_ok is False and delivery.status_code == 401
    assert delivery.remote_ip == ATTACKER


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "deadbeef"])
def test_bad_deposit_signatures_are_rate_limited_per_address_and_past_it_record_nothing(db, budget, signature):
    statuses = []
    for i in range(4 * LIMIT):
        response = post("/webhooks/deposits", unsigned(i), ip=ATTACKER, signature=signature)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert_rate_limited(response)
    assert statuses == [401] * LIMIT + [429] * (3 * LIMIT)
    assert DepositDelivery.objects.count() == LIMIT
    assert not DepositDelivery.objects.exclude(raw_body="").exists()
    # Another address has its own budget.
    assert post("/webhooks/deposits", unsigned(), ip="192.0.2.99", signature=signature).status_code == 401


def test_the_watchers_good_signature_is_never_refused_by_an_attackers_bad_ones(account, btc_address, budget):
    for i in range(2 * LIMIT):
        post("/webhooks/deposits", unsigned(i), ip=ATTACKER, signature="sha256=" + "1" * 64)
    assert post("/webhooks/deposits", unsigned(), ip=ATTACKER, signature="").status_code == 429
    body = notification(btc_address)
    response = post("/webhooks/deposits", body, ip=WATCHER, signature=sign(body))
    assert response.status_code == 200, response.json_body
    assert response.json_body["data"]["credited"] is True
    # Even from the attacker's own address (a shared NAT): a good signature is not a failure.
    body = notification(btc_address, txid="cd" * 32)
    assert post("/webhooks/deposits", body, ip=ATTACKER, signature=sign(body)).status_code == 200
    account.refresh_from_db()
    assert str(account.balance) == "130.86"
    assert LedgerEntry.objects.count() == 2


def test_only_the_newest_rejected_calls_are_kept(account, btc_address, budget, monkeypatch):
    monkeypatch.setattr(webhooks, "REJECTED_KEEP", 10)
    body = notification(btc_address)
    assert post("/webhooks/deposits", body, ip=WATCHER, signature=sign(body)).status_code == 200
    addresses = [f"198.18.0.{i}" for i in range(1, 26)]  # many addresses, each within its budget
    for ip in addresses:
        assert post("/webhooks/deposits", unsigned(), ip=ip, signature="sha256=" + "2" * 64).status_code == 401
    rejected = DepositDelivery.objects.filter(signature_ok=False)
    assert sorted(rejected.values_list("remote_ip", flat=True)) == sorted(addresses[-10:])
    # The watcher's signed delivery is the operator's record, never pruned.
    assert DepositDelivery.objects.filter(signature_ok=True, status_code=200).count() == 1


def test_two_hundred_unsigned_64kb_calls_store_no_body(db, budget):
    """The review's measurement: 200 calls of 64 KB used to add 13 MB to the database."""
    for i in range(200):
        post("/webhooks/deposits", unsigned(i), ip=f"198.19.{i // 250}.{i % 250 + 1}", signature="")
    stored = sum(len(row.raw_body) + len(row.signature) + len(row.outcome) for row in DepositDelivery.objects.all())
    assert DepositDelivery.objects.count() <= 200
    assert stored < 200 * 64  # tens of bytes a call, not 64 KB


def test_a_signed_delivery_keeps_its_body_for_the_operator(db, budget):
    body = b'{"not": "a notification"}'
    response = post("/webhooks/deposits", body, ip=WATCHER, signature=sign(body))
    assert response.status_code == 400
    assert DepositDelivery.objects.get().raw_body == body.decode()


def test_an_oversized_call_is_413_before_anything_is_read_or_stored(db, budget):
    body = b"{" + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b"}"
    for path in ("/webhooks/deposits", "/webhooks/usage"):
        response = post(path, body, ip=ATTACKER, signature=sign(body))
        assert response.status_code == 413
        assert response.json_body["error_type"] == "payload_too_large"
    assert not DepositDelivery.objects.exists()


# --- /webhooks/usage -----------------------------------------------------------------------


def test_bad_usage_signatures_are_rate_limited_per_address_and_the_provider_is_not(account, budget):
    order = subuser_fixtures.residential_order(account, gb="1")
    from orders.residential import services

    proxy = services.subuser_create(account=account, order_id=order.public_id, name="p", traffic_limit_gb=None)
    statuses = [
        post("/webhooks/usage", unsigned(i), ip=ATTACKER, signature="sha256=" + "3" * 64).status_code
        for i in range(3 * LIMIT)
    ]
    assert statuses == [401] * LIMIT + [429] * (2 * LIMIT)
    assert_rate_limited(post("/webhooks/usage", unsigned(), ip=ATTACKER, signature=None))
    raw = json.dumps({"records": [subuser_fixtures.record(proxy.username, 100, 200)]}).encode()
    for ip in (WATCHER, ATTACKER):
        response = post("/webhooks/usage", raw if ip == WATCHER else raw.replace(b"rec-", b"two-"), ip=ip,
                        signature=subuser_fixtures.sign(raw if ip == WATCHER else raw.replace(b"rec-", b"two-")))
        assert response.status_code == 200, response.json_body
    assert UsageRecord.objects.count() == 2


def test_a_bad_signature_budget_is_one_per_address_across_both_webhooks(db, budget):
    for i in range(LIMIT):
        path = ("/webhooks/deposits", "/webhooks/usage")[i % 2]
        assert post(path, unsigned(i), ip=ATTACKER, signature="").status_code == 401
    assert_rate_limited(post("/webhooks/usage", unsigned(), ip=ATTACKER, signature=""))
    assert_rate_limited(post("/webhooks/deposits", unsigned(), ip=ATTACKER, signature=""))


# --- across processes, on Redis ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post_over_http(url: str, body: bytes, signature: str) -> tuple[int, dict]:
    request = Request(url, data=body, method="POST",  # noqa: S310 - loopback only
                      headers={"Content-Type": "application/json", "X-Signature": signature})
    try:
        with urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, dict(response.headers)
    except HTTPError as exc:
        return exc.code, dict(exc.headers)


@pytest.fixture
def server(transactional_db):
    """One gunicorn process on the test database and the same Redis as this process."""
    url = urlparse(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunparse(url._replace(path="/" + connection.settings_dict["NAME"])),
        "REDIS_URL": settings.REDIS_URL, "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0",
        "DATABASE_CONN_MAX_AGE": "0", "AUTH_FAILURES_PER_MINUTE": str(LIMIT),
    }
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early: {proc.stdout.read().decode(errors='replace')}")
            try:
                with urlopen(f"{base}/healthz", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        stop_processes([proc], timeout=10)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.skipif(not (settings.REDIS_URL and settings.IS_POSTGRES), reason="needs PostgreSQL and Redis")
def test_the_bad_signature_budget_is_shared_by_every_web_process(server, account, budget):
    btc_address = deposit_address_create(account=account, currency="BTC")
    for i in range(LIMIT):
        status, _ = _post_over_http(f"{server}/webhooks/deposits", unsigned(i), "sha256=" + "4" * 64)
        assert status == 401
    # This process counts on the same Redis: the address (127.0.0.1) is already over.
    assert_rate_limited(post("/webhooks/usage", unsigned(), ip="127.0.0.1", signature=""))
    status, headers = _post_over_http(f"{server}/webhooks/usage", unsigned(), "")
    assert status == 429 and int(headers["Retry-After"]) >= 1
    # The watcher's signed notification still goes through, on either process.
    body = notification(btc_address)
    assert _post_over_http(f"{server}/webhooks/deposits", body, sign(body))[0] == 200
    assert DepositDelivery.objects.filter(signature_ok=False).count() == LIMIT
