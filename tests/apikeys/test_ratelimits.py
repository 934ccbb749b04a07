"""Rate limits are counted per API key, with the limits of the account's tier (docs/api.md#rate-limits)."""

import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apikeys import keyformat
from core.store import redis_client


def test_free_account_gets_the_free_general_limit(account, make_key, api):
    response = api(make_key(account, scopes=["balance:read"])).get("account")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "60"
    assert response["X-RateLimit-Remaining"] == "59"
    assert int(response["X-RateLimit-Reset"]) > timezone.now().timestamp()


def test_premium_account_gets_the_premium_general_limit(account, make_key, api):
    account.premium_until = timezone.now() + timedelta(days=30)
    account.save(update_fields=["premium_until"])
    response = api(make_key(account, scopes=["balance:read"])).get("account")
    assert response.status_code == 200
    assert response["X-RateLimit-Limit"] == "300"


def test_lapsed_premium_is_back_to_free_limits(account, make_key, api):
    account.premium_until = timezone.now() - timedelta(minutes=1)
    account.save(update_fields=["premium_until"])
    assert api(make_key(account, scopes=["balance:read"])).get("account")["X-RateLimit-Limit"] == "60"


def test_keys_of_one_account_have_independent_counters(account, make_key, api):
    first = api(make_key(account, scopes=["balance:read"], name="a"))
    second = api(make_key(account, scopes=["balance:read"], name="b"))
    for _ in range(3):
        response = first.get("account")
    assert response["X-RateLimit-Remaining"] == "57"
    assert second.get("account")["X-RateLimit-Remaining"] == "59"


def test_key_over_its_limit_gets_429_while_a_sibling_key_works(account, make_key, api):
    exhausted = api(make_key(account, scopes=["balance:read"], name="busy"))
    sibling = api(make_key(account, scopes=["balance:read"], name="quiet"))
    for _ in range(60):
        assert exhausted.get("account").status_code == 200
    over = exhausted.get("account")
    assert over.status_code == 429
    assert over.json_body["error_type"] == "rate_limited" and int(over["Retry-After"]) >= 1
    assert sibling.get("account").status_code == 200


def test_scope_refusals_do_not_consume_the_quota(account, make_key, api):
    client = api(make_key(account, scopes=["geo:read", "balance:read"]))
    client.post("deposits/addresses", {"currency": "BTC"})  # insufficient_scope
    assert client.get("account")["X-RateLimit-Remaining"] == "59"


def test_refusals_carry_the_rate_limit_headers_too(account, make_key, api, settings):
    """Every API response carries X-RateLimit-*; a refusal shows the budget as it is."""
    client = api(make_key(account, scopes=["geo:read", "balance:read"]))
    assert client.get("account")["X-RateLimit-Remaining"] == "59"
    refused = client.post("deposits/addresses", {"currency": "BTC"})
    assert refused.status_code == 403 and refused.json_body["error_type"] == "insufficient_scope"
    assert (refused["X-RateLimit-Limit"], refused["X-RateLimit-Remaining"]) == ("60", "59")
    assert int(refused["X-RateLimit-Reset"]) > 0
    account.is_active = False
    account.save(update_fields=["is_active"])
    inactive = client.get("account")
    assert inactive.status_code == 403 and inactive.json_body["error_type"] == "account_inactive"
    assert inactive["X-RateLimit-Remaining"] == "59"
    settings.AUTH_FAILURES_PER_MINUTE = 3
    bad = api(keyformat.generate(settings.API_KEY_PREFIX))
    first = bad.get("account")
    assert first.status_code == 401 and (first["X-RateLimit-Limit"], first["X-RateLimit-Remaining"]) == ("3", "2")
    bad.get("account"), bad.get("account")
    over = bad.get("account")
    assert over.status_code == 429 and over["X-RateLimit-Remaining"] == "0" and int(over["Retry-After"]) >= 1


needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="the count script runs on Redis only")


@needs_redis
def test_counting_survives_redis_losing_the_count_script(account, make_key, api):
    """A restarted or flushed Redis no longer knows the script: the count loads it again."""
    client = api(make_key(account, scopes=["balance:read"]))
    assert client.get("account")["X-RateLimit-Remaining"] == "59"
    redis_client().script_flush()
    response = client.get("account")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "58"


@needs_redis
def test_counting_survives_a_dropped_redis_connection(account, make_key, api):
    """The held connection dropped under the process (Redis restarted, an idle timeout):
    the next request reconnects and counts exactly once."""
    client = api(make_key(account, scopes=["balance:read"]))
    assert client.get("account")["X-RateLimit-Remaining"] == "59"
    redis_client().connection._sock.shutdown(socket.SHUT_RDWR)
    response = client.get("account")
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "58"
    assert client.get("account")["X-RateLimit-Remaining"] == "57"
