"""Authenticating API requests by key (docs/api.md#authentication)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from api.authentication import ApiKeyAuthentication
from apikeys import keyformat
from apikeys.models import ApiKey

UNAUTHORIZED = {"result": False, "data": None, "error": "API key not found or expired", "error_type": "unauthorized"}


def _assert_401(response):
    assert response.status_code == 401
    body = response.json_body if hasattr(response, "json_body") else response.json()
    assert {k: body[k] for k in UNAUTHORIZED} == UNAUTHORIZED


def _get(key=None, *, remote_addr="127.0.0.1", header="bearer"):
    headers = {}
    if key is not None:
        headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
    return Client().get("/api/v1/account", headers=headers, REMOTE_ADDR=remote_addr)


def test_bearer_and_x_api_key_headers_are_both_accepted(account, make_key, api):
    key = make_key(account, scopes=["balance:read"])
    assert api(key).get("account").status_code == 200
    assert api(key, header="x-api-key").get("account").status_code == 200
    assert Client().get("/api/v1/account", headers={"Authorization": f"bearer {key}"}).status_code == 200


def test_missing_key_is_401(db, api):
    _assert_401(api(None).get("account"))
    _assert_401(Client().get("/api/v1/account", headers={"Authorization": "Bearer "}))
    _assert_401(Client().get("/api/v1/account", headers={"Authorization": "Basic dXNlcjpwYXNz"}))


def test_unknown_well_formed_key_is_401(db, api, settings):
    _assert_401(api(keyformat.generate(settings.API_KEY_PREFIX)).get("account"))


def test_expired_key_is_401(account, make_key, api):
    key = make_key(account, scopes=["balance:read"], expiration="30d")
    assert api(key).get("account").status_code == 200
    ApiKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    _assert_401(api(key).get("account"))


def test_revocation_takes_effect_on_the_very_next_request(account, owner, make_key, api):
    from apikeys.services import apikey_revoke

    key = make_key(account, scopes=["balance:read"])
    client = api(key)
    assert client.get("account").status_code == 200
    apikey_revoke(account=account, key_id=ApiKey.objects.get().public_id, revoked_by=owner)
    _assert_401(client.get("account"))


def test_suspended_account_gets_403_account_inactive(account, make_key, api):
    key = make_key(account, scopes=["balance:read"])
    account.is_active = False
    account.save(update_fields=["is_active"])
    response = api(key).get("account")
    assert response.status_code == 403 and response.json_body["error_type"] == "account_inactive"


def test_ip_allowlist_is_honoured(account, make_key):
    key = make_key(account, scopes=["balance:read"], ip_allowlist=["192.0.2.0/24", "2001:db8::/32", "203.0.113.9"])
    assert _get(key, remote_addr="192.0.2.77").status_code == 200
    assert _get(key, remote_addr="203.0.113.9").status_code == 200
    assert _get(key, remote_addr="2001:db8::1", header="x-api-key").status_code == 200
    _assert_401(_get(key, remote_addr="198.51.100.1"))
    _assert_401(_get(key, remote_addr="203.0.113.10"))
    _assert_401(_get(key, remote_addr="2001:db9::1"))


def test_key_without_allowlist_works_from_anywhere(account, make_key):
    key = make_key(account, scopes=["balance:read"])
    assert _get(key, remote_addr="198.51.100.1").status_code == 200


def _malformed(settings):
    good = keyformat.generate(settings.API_KEY_PREFIX)
    body = good[len(settings.API_KEY_PREFIX) :]
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    return {
        "wrong checksum": settings.API_KEY_PREFIX + flipped,
        "wrong prefix": "sk_live_" + body,
        "no prefix": body,
        "short": good[:-3],
        "long": good + "x",
        "inner space": good[:12] + " " + good[13:],
        "non-ascii": good[:-1] + "é",
        "garbage": "not a key at all",
    }


@pytest.mark.parametrize(
    "case", ["wrong checksum", "wrong prefix", "no prefix", "short", "long", "inner space", "non-ascii", "garbage"]
)
def test_malformed_key_is_refused_without_any_query(db, settings, case, django_assert_num_queries):
    raw = _malformed(settings)[case]
    assert not keyformat.is_well_formed(raw, settings.API_KEY_PREFIX)
    request = Request(RequestFactory().get("/api/v1/account", HTTP_X_API_KEY=raw))
    with django_assert_num_queries(0):
        with pytest.raises(AuthenticationFailed):
            ApiKeyAuthentication().authenticate(request)


def test_malformed_key_request_makes_no_query_end_to_end(db, settings, django_assert_num_queries, api):
    raw = _malformed(settings)["wrong checksum"]
    with django_assert_num_queries(0):
        response = api(raw).get("account")
    _assert_401(response)


def test_well_formed_key_costs_one_indexed_lookup(db, settings, django_assert_num_queries):
    raw = keyformat.generate(settings.API_KEY_PREFIX)
    request = Request(RequestFactory().get("/api/v1/account", HTTP_AUTHORIZATION=f"Bearer {raw}"))
    with django_assert_num_queries(1):
        with pytest.raises(AuthenticationFailed):
            ApiKeyAuthentication().authenticate(request)


def test_authenticated_request_performs_no_write(account, make_key, api):
    key = make_key(account, scopes=["balance:read"])
    client = api(key)
    with CaptureQueriesContext(connection) as first:
        assert client.get("account").status_code == 200
    writes = [q["sql"] for q in first.captured_queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(writes) == 1 and writes[0].lstrip().upper().startswith("UPDATE")  # last_used, once
    with CaptureQueriesContext(connection) as second:
        assert client.get("account").status_code == 200
    assert second.captured_queries, "the request should have read the key"
    for query in second.captured_queries:
        assert query["sql"].lstrip().upper().startswith("SELECT"), query["sql"]


def test_last_used_is_written_at_most_once_a_minute(account, make_key, api, monkeypatch):
    import types

    import apikeys.services

    key = make_key(account, scopes=["balance:read"])
    assert ApiKey.objects.get().last_used_at is None
    client = api(key)
    client.get("account")
    first = ApiKey.objects.get().last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    for _ in range(3):
        client.get("account")
    assert ApiKey.objects.get().last_used_at == first
    # A minute later, the next request records again (whether the key came from the
    # database or from this process's snapshot, which the touch keeps in step).
    later = first + timedelta(seconds=61)
    monkeypatch.setattr(apikeys.services, "timezone", types.SimpleNamespace(now=lambda: later))
    client.get("account")
    assert ApiKey.objects.get().last_used_at == later
    for _ in range(3):
        client.get("account")
    assert ApiKey.objects.get().last_used_at == later


def test_last_used_is_not_written_by_failed_requests(account, make_key):
    key = make_key(account, scopes=["balance:read"], ip_allowlist=["192.0.2.1"])
    _assert_401(_get(key, remote_addr="198.51.100.1"))
    assert ApiKey.objects.get().last_used_at is None


def test_failed_authentication_is_limited_per_ip_while_valid_keys_work(account, make_key, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 5
    good = make_key(account, scopes=["balance:read"])
    bad = keyformat.generate(settings.API_KEY_PREFIX)
    for _ in range(5):
        assert _get(bad, remote_addr="198.51.100.5").status_code == 401
    limited = _get(bad, remote_addr="198.51.100.5")
    assert limited.status_code == 429 and int(limited["Retry-After"]) >= 1
    assert limited.json()["error_type"] == "rate_limited"
    assert _get(good, remote_addr="198.51.100.5").status_code == 200
    assert _get(bad, remote_addr="198.51.100.6").status_code == 401


def test_trailing_newline_is_not_well_formed(settings):
    good = keyformat.generate(settings.API_KEY_PREFIX)
    assert keyformat.is_well_formed(good, settings.API_KEY_PREFIX)
    assert not keyformat.is_well_formed(good + "\n", settings.API_KEY_PREFIX)


def test_key_format_and_storage(account, make_key, settings):
    key = make_key(account, scopes=["geo:read"])
    prefix = settings.API_KEY_PREFIX
    assert key.startswith(prefix) and len(key) - len(prefix) >= 32
    assert keyformat.is_well_formed(key, prefix)
    stored = ApiKey.objects.get()
    assert stored.key_hash == keyformat.digest(key) and len(stored.key_hash) == 64
    assert key not in stored.key_hash
    assert stored.display_prefix == key[: len(prefix) + 4] + "..."
    assert len({keyformat.generate(prefix) for _ in range(200)}) == 200


def test_prefix_is_configurable(account, make_key, settings, api):
    settings.API_KEY_PREFIX = "2xt_"
    key = make_key(account, scopes=["balance:read"])
    assert key.startswith("2xt_") and ApiKey.objects.get().display_prefix.startswith("2xt_")
    assert api(key).get("account").status_code == 200
    settings.API_KEY_PREFIX = "pk_live_"
    _assert_401(api(key).get("account"))


def test_key_lookup_loads_the_key_and_its_account_as_the_orm_does(account, make_key):
    """The hand-written lookup of the hot path gives the same objects as the ORM, and the owner's e-mail."""
    from accounts.models import Membership, Role
    from accounts.services import user_create_with_account
    from apikeys.selectors import apikey_by_hash

    # another member of the account: the e-mail must still be the owner's
    admin, _ = user_create_with_account(email="admin@example.com", password="pw-123456789", name="Other")
    Membership.objects.create(user=admin, account=account, role=Role.ADMIN)
    raw = make_key(account, scopes=["balance:read", "orders:write"], expiration="30d", ip_allowlist=["192.0.2.0/24"])
    found = apikey_by_hash(keyformat.digest(raw))
    expected = ApiKey.objects.select_related("account").get(key_hash=keyformat.digest(raw))
    fields = [f.attname for f in ApiKey._meta.concrete_fields]
    assert {f: getattr(found, f) for f in fields} == {f: getattr(expected, f) for f in fields}
    assert found.scopes == ["balance:read", "orders:write"] and found.ip_allowlist == ["192.0.2.0/24"]
    assert found.expires_at.tzinfo is not None
    account_fields = [f.attname for f in account._meta.concrete_fields]
    assert {f: getattr(found.account, f) for f in account_fields} == {
        f: getattr(expected.account, f) for f in account_fields}
    assert found.account.owner_email == "owner@example.com" == expected.account.owner_email
    assert apikey_by_hash(keyformat.digest(keyformat.generate("pk_live_"))) is None
