"""Keys kept in process (api.snapshots): no query per request, yet every change seen at once.

These need Redis (the shared version lives there); off Redis every request reads the
database, which the last test pins.
"""

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import account_set_active
from api import snapshots
from apikeys.models import ApiKey
from apikeys.services import apikey_revoke
from core.store import redis_client, store_key
from tests.billing.conftest import fund

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def on_redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): off Redis every request reads the database")


def _warm(client) -> None:
    """First sight (the key's account noted), then the snapshot taken at the account's version."""
    for _ in range(2):
        assert client.get("account").status_code == 200


@pytest.mark.redis
def test_a_known_key_is_served_without_any_query(on_redis, account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("account")
    assert response.status_code == 200 and response.json_body["data"]["id"] == account.public_id
    assert queries.captured_queries == []


@pytest.mark.redis
def test_revoking_a_snapshotted_key_refuses_its_next_request(on_redis, account, owner, make_key, api):
    raw = make_key(account, scopes=["balance:read"])
    client = api(raw)
    _warm(client)
    key = ApiKey.objects.get(account=account)
    apikey_revoke(account=account, key_id=key.public_id, revoked_by=owner)
    response = client.get("account")
    assert response.status_code == 401
    assert response.json_body["error_type"] == "unauthorized"


@pytest.mark.redis
def test_a_suspension_is_seen_at_once_and_not_counted(on_redis, account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    remaining = int(client.get("account")["X-RateLimit-Remaining"])
    account_set_active(account=account, active=False, reason="chargeback")
    refused = client.get("account")
    assert refused.status_code == 403 and refused.json_body["error_type"] == "account_inactive"
    assert int(refused["X-RateLimit-Remaining"]) == remaining  # the refusal consumed nothing
    account_set_active(account=account, active=True)
    assert int(client.get("account")["X-RateLimit-Remaining"]) == remaining - 1


@pytest.mark.redis
def test_a_ledger_post_shows_in_the_next_balance(on_redis, account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    fund(account, "7.25", reference="after-warm")
    assert client.get("account").json_body["data"]["balance"] == "7.25"


@pytest.mark.redis
def test_a_write_no_signal_sees_is_seen_within_the_snapshot_age(on_redis, account, make_key, api, monkeypatch,
                                                                 settings):
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    ApiKey.objects.filter(account=account).update(revoked_at=timezone.now())  # no signal, no version move
    assert client.get("account").status_code == 200  # the snapshot is still young
    later = snapshots.time.monotonic() + settings.AUTH_SNAPSHOT_MAX_AGE_S + 1
    monkeypatch.setattr(snapshots.time, "monotonic", lambda: later)
    assert client.get("account").status_code == 401


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_changes_made_in_another_process_reach_this_one(on_redis, settings, account, owner, make_key, api):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL shared with another process")
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    url = urlparse(os.environ["DATABASE_URL"])
    env = {**os.environ, "DATABASE_URL": urlunparse(url._replace(path="/" + connection.settings_dict["NAME"])),
           "REDIS_URL": settings.REDIS_URL, "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0"}

    def elsewhere(code: str) -> None:
        setup = f"from accounts.models import Account; account = Account.objects.get(pk={account.pk}); "
        subprocess.run([sys.executable, "manage.py", "shell", "-c", setup + code], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=120)

    elsewhere("from billing.services import ledger_post; from decimal import Decimal; "
              "ledger_post(account=account, type='deposit', amount=Decimal('3.10'), reference='x-proc', "
              "description='deposit')")
    assert Decimal(client.get("account").json_body["data"]["balance"]) == Decimal("3.10")
    elsewhere("from apikeys.services import apikey_revoke; "
              "apikey_revoke(account=account, key_id=account.api_keys.get().public_id, revoked_by=None)")
    assert client.get("account").status_code == 401


def test_off_redis_every_request_reads_the_key(account, make_key, api, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert not snapshots.enabled()
    client = api(make_key(account, scopes=["balance:read"]))
    _warm(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("account").status_code == 200
    assert len(queries.captured_queries) == 1


@pytest.mark.redis
def test_writes_read_the_key_from_the_database(on_redis, account, make_key, api):
    """A write changes the account (an order moves the balance), so it never uses the snapshot;
    pricing an order changes nothing, so it does."""
    client = api(make_key(account, scopes=["balance:read", "orders:read", "orders:write"]))
    _warm(client)
    with CaptureQueriesContext(connection) as queries:
        response = client.post("orders", {"type": "datacenter", "quantity": 1, "period": 30, "country": "US"})
    assert response.status_code in (201, 402, 409)  # placed, or refused (balance, stock): past the key
    assert any('FROM "apikeys_apikey" k' in q["sql"] for q in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        assert client.post("orders/calc", {"type": "datacenter", "quantity": 1, "period": 30}).status_code == 200
    assert not any('FROM "apikeys_apikey" k' in q["sql"] for q in queries.captured_queries)


# --- refusals and limits of a snapshotted key ----------------------------------------------


@pytest.mark.redis
def test_a_429_of_a_snapshotted_key_is_counted_once(on_redis, account, make_key, api):
    client = api(make_key(account, scopes=["balance:read"]))
    for _ in range(60):  # free plan: 60 general requests a minute
        assert client.get("account").status_code == 200
    refused = client.get("account")
    assert refused.status_code == 429 and refused.json_body["error_type"] == "rate_limited"
    assert refused["X-RateLimit-Remaining"] == "0" and int(refused["Retry-After"]) >= 1
    key = ApiKey.objects.get(account=account)
    assert int(redis_client().get(store_key(f"rl:api:general:key:{key.pk}"))) == 61


@pytest.mark.redis
def test_a_missing_scope_of_a_snapshotted_key_is_refused_uncounted(on_redis, account, make_key, api):
    client = api(make_key(account, scopes=["stats:read"]))
    for _ in range(3):  # the first sight, then from the snapshot
        refused = client.get("account")
        assert refused.status_code == 403 and refused.json_body["error_type"] == "insufficient_scope"
        assert refused["X-RateLimit-Remaining"] == refused["X-RateLimit-Limit"] == "60"
