"""Per-key rate limits by category and plan (docs/api.md#rate-limits), and the failed-auth limit per IP."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Plan
from accounts.selectors import forget_plan_limits

pytestmark = pytest.mark.urls("tests.portal.urls")


def _exhaust(client, path, limit):
    for i in range(limit):
        response = client.get(path)
        assert response.status_code == 200, (i, response.content)
        assert response["X-RateLimit-Limit"] == str(limit)
        assert response["X-RateLimit-Remaining"] == str(limit - i - 1)
    return client.get(path)


def _assert_429(response, limit):
    assert response.status_code == 429
    body = response.json_body
    assert body["result"] is False and body["error_type"] == "rate_limited" and body["data"] is None
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 3600
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    assert int(response["X-RateLimit-Reset"]) >= int(time.time())


def test_free_general_limit_is_60_per_minute(api, account, make_key):
    client = api(make_key(account, scopes=["balance:read"]))
    _assert_429(_exhaust(client, "account", 60), 60)


def test_limit_is_per_key(api, account, make_key):
    first = api(make_key(account, scopes=["balance:read"], name="one"))
    _assert_429(_exhaust(first, "account", 60), 60)
    second = api(make_key(account, scopes=["balance:read"], name="two"))
    assert second.get("account").status_code == 200


def test_categories_count_separately(api, account, make_key):
    client = api(make_key(account, scopes=["balance:read"]))
    _assert_429(_exhaust(client, "test/export", 10), 10)  # export: 10 an hour on free
    export_429 = client.get("test/export")
    assert int(export_429["Retry-After"]) > 60  # hourly window
    assert client.get("account").status_code == 200  # general budget untouched


def test_premium_accounts_get_the_premium_limits(api, account, make_key):
    account.premium_until = timezone.now() + timedelta(days=30)
    account.save(update_fields=["premium_until"])
    client = api(make_key(account, scopes=["balance:read"]))
    response = client.get("account")
    assert response["X-RateLimit-Limit"] == "300"
    assert client.get("test/export")["X-RateLimit-Limit"] == "60"


def test_operator_edited_plan_limits_apply(api, account, make_key):
    Plan.objects.filter(tier="free").update(limit_general=3)
    forget_plan_limits()
    client = api(make_key(account, scopes=["balance:read"]))
    _assert_429(_exhaust(client, "account", 3), 3)


# --- failed authentication per client IP ---------------------------------------------------


def _bad(client, **extra):
    return client.get("/api/v1/account", headers={"Authorization": "Bearer pk_live_wrong"}, **extra)


def test_failed_auth_is_limited_per_ip_at_30_a_minute(db, api, account, make_key, settings):
    assert settings.AUTH_FAILURES_PER_MINUTE == 30
    client = Client()
    for _ in range(30):
        assert _bad(client).status_code == 401
    response = _bad(client)
    assert response.status_code == 429
    assert response.json()["error_type"] == "rate_limited"
    assert int(response["Retry-After"]) >= 1
    # No key at all counts the same way.
    assert client.get("/api/v1/account").status_code == 429
    # A valid key from the same address keeps working.
    good = api(make_key(account, scopes=["balance:read"]))
    assert good.get("account").status_code == 200
    # Another address is not affected.
    assert _bad(client, REMOTE_ADDR="10.20.30.40").status_code == 401


def test_failed_auth_limit_is_configurable(db, settings):
    settings.AUTH_FAILURES_PER_MINUTE = 3
    client = Client()
    statuses = [_bad(client).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
