"""Every error path of docs/api.md#errors answers with the envelope, the right status and error_type."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apikeys import keyformat
from apikeys.models import ApiKey
from apikeys.services import apikey_revoke

pytestmark = pytest.mark.urls("tests.portal.urls")

UNAUTHORIZED = "API key not found or expired"


def assert_error(response, status, error_type):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert set(body) == {"result", "data", "error", "error_type", "meta"}
    assert body["result"] is False and body["data"] is None
    assert body["error_type"] == error_type
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"] and "secret internal detail" not in response.content.decode()
    return body


@pytest.fixture
def key(account, make_key):
    return make_key(account, scopes=["balance:read", "orders:write"])


# --- 400 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [{"limit": "1000"}, {"limit": "0"}, {"limit": "ten"}, {"page": "0"}])
def test_bad_pagination_is_validation_error_naming_the_field(api, key, query):
    body = assert_error(api(key).get("account/transactions", **query), 400, "validation_error")
    (field,) = query
    assert field in body["meta"]["fields"] and body["meta"]["fields"][field]


def test_bad_body_is_validation_error_with_fields(api, key):
    body = assert_error(api(key).post("test/echo", {"name": "x" * 50}), 400, "validation_error")
    assert set(body["meta"]["fields"]) == {"name", "count"}
    assert all(isinstance(m, list) and m for m in body["meta"]["fields"].values())


def test_malformed_json_is_bad_request(api, key):
    assert_error(api(key).post("test/echo", b'{"name": "x",'), 400, "bad_request")


def test_json_that_is_not_an_object_is_validation_error(api, key):
    assert_error(api(key).post("test/echo", [1, 2]), 400, "validation_error")


def test_domain_bad_request(api, key):
    assert_error(api(key).get("test/raise/bad_request"), 400, "bad_request")


# --- 401 ----------------------------------------------------------------------------------


def _unknown_but_well_formed_key():
    from django.conf import settings

    return keyformat.generate(settings.API_KEY_PREFIX)


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_valid_key_works_in_both_headers(api, key, header):
    response = api(key, header=header).get("account")
    assert response.status_code == 200 and response.json_body["result"] is True


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
@pytest.mark.parametrize("kind", ["missing", "unknown", "malformed", "bad_checksum", "expired", "revoked"])
def test_bad_keys_are_401(api, account, make_key, header, kind):
    if kind == "missing":
        presented = None
    elif kind == "unknown":
        presented = _unknown_but_well_formed_key()
    elif kind == "malformed":
        presented = "not-a-key"
    elif kind == "bad_checksum":
        good = make_key(account, scopes=["balance:read"])
        presented = good[:-1] + ("A" if good[-1] != "A" else "B")
    else:
        presented = make_key(account, scopes=["balance:read"])
        api_key = ApiKey.objects.get(account=account)
        if kind == "expired":
            api_key.expires_at = timezone.now() - timedelta(seconds=1)
            api_key.save(update_fields=["expires_at"])
        else:
            apikey_revoke(account=account, key_id=api_key.public_id, revoked_by=None)
    body = assert_error(api(presented, header=header).get("account"), 401, "unauthorized")
    assert body["error"] == UNAUTHORIZED


def test_other_authorization_schemes_are_401(db):
    response = Client().get("/api/v1/account", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(response, 401, "unauthorized")


def test_key_from_outside_its_ip_allowlist_is_401(api, account, make_key):
    key = make_key(account, scopes=["balance:read"], ip_allowlist=["10.0.0.0/8"])
    assert_error(api(key).get("account"), 401, "unauthorized")


# --- 402 / 403 ----------------------------------------------------------------------------


def test_domain_errors_map_to_their_status(api, key):
    assert_error(api(key).get("test/raise/insufficient_funds"), 402, "insufficient_funds")
    assert_error(api(key).get("test/raise/premium_required"), 403, "premium_required")
    assert_error(api(key).get("test/raise/conflict"), 409, "conflict")
    assert_error(api(key).get("test/raise/out_of_stock"), 409, "conflict")
    assert_error(api(key).get("test/raise/upstream_error"), 502, "upstream_error")
    assert_error(api(key).get("test/raise/unavailable"), 503, "unavailable")


def test_missing_scope_is_403_naming_it(api, account, make_key):
    key = make_key(account, scopes=["orders:read"])
    body = assert_error(api(key).get("account"), 403, "insufficient_scope")
    assert body["meta"]["required"] == "balance:read"
    body = assert_error(api(key).post("test/echo", {"name": "a", "count": 1}), 403, "insufficient_scope")
    assert body["meta"]["required"] == "orders:write"


def test_write_scope_does_not_grant_read(api, account, make_key):
    key = make_key(account, scopes=["deposits:write"])
    assert_error(api(key).get("account"), 403, "insufficient_scope")


def test_suspended_account_is_403_account_inactive(api, account, key):
    from accounts.services import account_set_active

    account_set_active(account=account, active=False, reason="abuse")
    assert_error(api(key).get("account"), 403, "account_inactive")
    assert_error(api(key).post("test/echo", {"name": "a", "count": 1}), 403, "account_inactive")


# --- 404 / 405 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/no-such-thing", "/api/v1/account/", "/api/v1/orders/ord_nope/x/y", "/api/v2/account", "/api/"]
)
def test_unknown_paths_are_json_404_never_html(api, key, path):
    for client in (api(key), api(None)):
        assert_error(client.get(path), 404, "not_found")
        assert_error(client.post(path, {"a": 1}), 404, "not_found")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_paths_answer_writes_with_the_envelope_even_under_csrf_checks(db, method):
    """A real client has no CSRF cookie; Django's test client skips the check unless asked."""
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)(
        "/api/v1/no-such-thing", data="{}", content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error_type"] == "not_found"


def test_http404_and_not_found_from_views(api, key):
    assert_error(api(key).get("test/raise/not_found"), 404, "not_found")
    assert_error(api(key).get("test/raise/django_404"), 404, "not_found")


def test_wrong_method_is_405(api, key):
    assert_error(api(key).delete("account"), 405, "method_not_allowed")
    assert_error(api(key).patch("test/echo", {"name": "a"}), 405, "method_not_allowed")
    response = api(key).post("account", {})
    assert_error(response, 405, "method_not_allowed")


# --- 413 / 415 ----------------------------------------------------------------------------


def test_body_over_the_global_limit_is_413(api, key, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    big = json.dumps({"name": "x" * 5000, "count": 1})
    assert_error(api(key).post("test/echo", big), 413, "payload_too_large")


def test_body_over_the_endpoints_own_limit_is_413(api, key):
    assert_error(api(key).post("test/small", {"blob": "x" * 2000}), 413, "payload_too_large")
    response = api(key).post("test/small", {"blob": "x" * 100})
    assert response.status_code == 201


def test_default_limit_is_two_megabytes(api, key):
    big = json.dumps({"name": "x" * (2 * 1024 * 1024), "count": 1})
    assert_error(api(key).post("test/echo", big), 413, "payload_too_large")


def test_oversized_body_is_refused_before_authentication_work(db):
    """An anonymous client cannot make the server read a huge body: 413 (or 401), never 500."""
    response = Client().post("/api/v1/test/echo", data="x" * (3 * 1024 * 1024), content_type="application/json")
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type, body",
    [("text/plain", "name=a"), ("application/x-www-form-urlencoded", "name=a&count=1"), ("application/xml", "<a/>")],
)
def test_non_json_body_is_415(key, db, content_type, body):
    response = Client().post(
        "/api/v1/test/echo", data=body, content_type=content_type, headers={"Authorization": f"Bearer {key}"}
    )
    assert_error(response, 415, "unsupported_media_type")


def test_multipart_body_is_415(key, db):
    response = Client().post("/api/v1/test/echo", data={"name": "a"}, headers={"Authorization": f"Bearer {key}"})
    assert_error(response, 415, "unsupported_media_type")


# --- 500 ----------------------------------------------------------------------------------


def test_unexpected_exception_is_500_server_error_without_trace(api, key, caplog):
    body = assert_error(api(key).get("test/raise/crash"), 500, "server_error")
    assert body["error"] == "Internal server error."
    assert "secret internal detail" in caplog.text  # logged for the operator, not sent


def test_crash_outside_drf_on_an_api_path_is_still_the_envelope(db):
    client = Client(raise_request_exception=False)
    assert_error(client.get("/api/v1/test/plain-crash"), 500, "server_error")


def test_dashboard_404_stays_html(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


# --- success envelope ---------------------------------------------------------------------


def test_success_envelope_and_rate_headers(api, key):
    response = api(key).post("test/echo", {"name": "ok", "count": 2})
    assert response.status_code == 201
    assert response.json_body == {
        "result": True, "data": {"name": "ok", "count": 2}, "error": "", "error_type": "", "meta": {},
    }
    for header in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert response[header].isdigit()


def test_error_responses_of_authenticated_requests_carry_rate_headers(api, key):
    response = api(key).get("test/raise/not_found")
    assert response["X-RateLimit-Limit"] == "60"
