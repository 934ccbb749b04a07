"""/judge never reflects credentials (issue 22, finding 9).

A browser signed in to the portal sends its session and CSRF cookies to /judge on the same
host, an API client its key: the echo names such headers but never carries their values, in
either format, and is never stored by a cache. The checker's anonymity verdicts do not change.
"""

import json

import pytest
from django.conf import settings
from django.test import Client

from checker.engine.judge import anonymity_of, parse_judge_body
from checker.judge import is_credential_header

SECRETS = {
    "Authorization": "Bearer pk_live_authorization_secret_1",
    "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0LTI=",
    "X-Api-Key": "pk_live_x_api_key_secret_3",
    "X-Auth-Token": "auth-token-secret-4",
    "X-Csrftoken": "csrf-header-secret-5",
}


@pytest.fixture
def signed_in(tenants):
    """A browser session of a signed-in customer, with its CSRF cookie set by a page."""
    client = Client()
    client.force_login(tenants.a.user)
    assert client.get("/").status_code in (200, 302)
    client.get("/accounts/login/")  # sets the csrftoken cookie
    session_id = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert session_id and csrf
    return client, session_id, csrf


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_judge_never_reflects_the_session_cookie_or_credential_headers(signed_in, tenants, fmt):
    client, session_id, csrf = signed_in
    headers = {**SECRETS, "Authorization": f"Bearer {tenants.a.key}", "Via": "1.1 squid"}
    response = client.get("/judge", {"format": fmt}, headers=headers, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    body = response.content.decode()
    for secret in [session_id, csrf, tenants.a.key, *SECRETS.values()]:
        assert secret not in body
    assert "no-store" in response["Cache-Control"]
    echo = parse_judge_body(response.content)
    assert echo.remote_addr == "203.0.113.9"
    # named, not shown: the checker still sees what a proxy added or passed on
    assert {"cookie", "authorization", "proxy-authorization", "x-api-key", "via"} <= set(echo.headers)
    assert echo.headers["cookie"] == echo.headers["authorization"] == "[redacted]"
    if fmt == "json":
        assert json.loads(body)["headers"]["Via"] == "1.1 squid"


def test_anonymity_verdicts_are_unchanged_by_the_redaction(db):
    """Proxy-Authorization is a proxy header: passed on, it still makes the proxy anonymous;
    an address leaked in a plain header still makes it transparent."""
    echo = parse_judge_body(Client().get(
        "/judge", headers={"Proxy-Authorization": "Basic c2VjcmV0"}, REMOTE_ADDR="203.0.113.9").content)
    assert echo.headers["proxy-authorization"] == "[redacted]"
    assert anonymity_of(echo, {"192.0.2.1"}) == "anonymous"
    leaked = parse_judge_body(Client().get(
        "/judge", headers={"X-Real-Ip": "192.0.2.1"}, REMOTE_ADDR="203.0.113.9").content)
    assert anonymity_of(leaked, {"192.0.2.1"}) == "transparent"
    clean = parse_judge_body(Client().get("/judge", REMOTE_ADDR="203.0.113.9").content)
    assert anonymity_of(clean, {"192.0.2.1"}) == "elite"


@pytest.mark.parametrize("name, secret", [
    ("Cookie", True), ("authorization", True), ("PROXY_AUTHORIZATION", True), ("X-API-Key", True),
    ("X-CSRFToken", True), ("X-XSRF-TOKEN", True), ("X-Session-Id", True), ("X-Amz-Security-Token", True),
    ("Via", False), ("X-Forwarded-For", False), ("X-Real-IP", False), ("Forwarded", False),
    ("User-Agent", False), ("Host", False),
])
def test_credential_headers_are_recognised_by_name(name, secret):
    assert is_credential_header(name) is secret
