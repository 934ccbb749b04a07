"""Abuse: hostile input gets a clear envelope error, never a 500, a trace or a changed state.

Generated from the URL conf like the matrices: every API operation taking a body gets an
oversized body, deeply nested JSON, invalid UTF-8 and a non-JSON content type; every API
operation gets huge and undecodable query values; headers carrying CR/LF never reach a
response header. Plus login brute force (allauth's rate limits) at the end.
"""

import hashlib
import hmac
import json

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import PASSWORD
from tests.security.objects import random_id_for
from tests.security.routes import api_routes, webhook_routes

BODY_METHODS = ("POST", "PUT", "PATCH")
OVERSIZE = 3 * 1024 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE (2 MB)


def _body_cases():
    cases = [
        pytest.param(route, method, id=f"{method} /{route.template}")
        for route in api_routes()
        for method in route.methods
        if method in BODY_METHODS
    ]
    cases += [pytest.param(route, "POST", id=f"POST /{route.template}") for route in webhook_routes()]
    return cases


def _all_cases():
    return [
        pytest.param(route, method, id=f"{method} /{route.template}")
        for route in api_routes()
        for method in route.methods
    ]


def _send(tenants, route, method, *, body=b"", content_type="application/json", query=None, extra=None):
    path = route.fill({p: random_id_for(p) for p in route.params})
    if query is not None:
        path = f"{path}?{query}"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tenants.a.key}", **(extra or {})}
    if route.template.startswith("webhooks/"):
        # Correctly signed, so the hostile body reaches the parser behind the signature check.
        headers.setdefault("HTTP_X_SIGNATURE", _signature(route, body))
    client = Client()
    handler = getattr(client, method.lower())
    if method in ("GET", "DELETE") and not body:
        return handler(path, **headers)
    return handler(path, data=body, content_type=content_type, **headers)


def _signature(route, body: bytes) -> str:
    secret = settings.USAGE_WEBHOOK_SECRET if "usage" in route.template else settings.DEPOSIT_WEBHOOK_SECRET
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _envelope(response, status=None, error_types=None):
    assert response.status_code < 500, f"{response.status_code}: {response.content[:400]!r}"
    assert b"Traceback" not in response.content
    body = json.loads(response.content)
    assert set(body) == {"result", "data", "error", "error_type", "meta"}
    if status is not None:
        assert response.status_code == status, body
    if error_types is not None:
        assert body["result"] is False and body["error_type"] in error_types, body
    return body


@pytest.mark.parametrize(("route", "method"), _body_cases())
def test_oversized_body_is_413_payload_too_large(route, method, tenants):
    body = json.dumps({"proxies_text": "1.2.3.4:80\n" * (OVERSIZE // 11), "x": 1}).encode()
    assert len(body) > OVERSIZE
    response = _send(tenants, route, method, body=body)
    _envelope(response, 413, {"payload_too_large"})


@pytest.mark.parametrize(("route", "method"), _body_cases())
def test_deeply_nested_json_is_refused_cleanly(route, method, tenants):
    for depth in (2_000, 200_000):
        body = ("[" * depth + "]" * depth).encode()
        response = _send(tenants, route, method, body=body)
        _envelope(response, 400 if route.template.startswith("api/") else None)
        nested_object = ('{"a":' * depth + "1" + "}" * depth).encode()
        _envelope(_send(tenants, route, method, body=nested_object))


@pytest.mark.parametrize(("route", "method"), _body_cases())
def test_invalid_utf8_body_is_400(route, method, tenants):
    for body in (b'{"currency": "\xff\xfe"}', b"\xc3\x28", b'{"name": "\xed\xa0\x80"}'):
        response = _send(tenants, route, method, body=body)
        body_json = _envelope(response)
        assert response.status_code in (400, 401), body_json


@pytest.mark.parametrize(("route", "method"), [c for c in _body_cases() if c.values[0].template.startswith("api/")])
def test_non_json_body_is_415(route, method, tenants):
    response = _send(tenants, route, method, body=b"currency=BTC", content_type="application/x-www-form-urlencoded")
    _envelope(response, 415, {"unsupported_media_type"})


@pytest.mark.parametrize(("route", "method"), _all_cases())
def test_huge_and_undecodable_query_values_are_refused_cleanly(route, method, tenants):
    huge = "9" * 20_000
    for query in (
        f"page={huge}", f"limit={huge}", "page=-1", "limit=0", f"q={'x' * 100_000}",
        "page=%FF%FE", "q=%ED%A0%80", "page=1e309", "limit=NaN", f"format={huge}", "from=9999-99-99",
    ):
        response = _send(tenants, route, method, query=query, body=b"{}" if method in BODY_METHODS else b"")
        _envelope(response)


@pytest.mark.parametrize(("route", "method"), [c for c in _all_cases() if c.values[0].params])
def test_huge_path_id_is_not_found(route, method, tenants):
    path = route.fill({p: "x" * 10_000 for p in route.params})
    client = Client()
    handler = getattr(client, method.lower())
    response = handler(path, HTTP_AUTHORIZATION=f"Bearer {tenants.a.key}")
    _envelope(response, 404, {"not_found"})


INJECTIONS = [
    "abc\r\nSet-Cookie: injected=1",
    "abc\nX-Injected: 1",
    "abc\rX-Injected: 1",
    "abc\x00def",
    "abc\u2028X-Injected: 1",
]


@pytest.mark.parametrize(("route", "method"), _all_cases())
def test_header_injection_never_reaches_response_headers(route, method, tenants):
    echoed = ("HTTP_IDEMPOTENCY_KEY", "HTTP_X_REQUEST_ID", "HTTP_X_FORWARDED_FOR", "HTTP_ORIGIN")
    for value in INJECTIONS:
        response = _send(tenants, route, method, body=b"{}" if method in BODY_METHODS else b"",
                         extra=dict.fromkeys(echoed, value))
        _envelope(response)
        for name, header_value in response.items():
            assert "\r" not in header_value and "\n" not in header_value, (name, header_value)
            assert name.lower() not in ("x-injected",), name
        assert "injected" not in response.cookies
        # A key with a CR/LF is simply not a key.
        client = Client()
        handler = getattr(client, method.lower())
        path = route.fill({p: random_id_for(p) for p in route.params})
        response = handler(path, HTTP_AUTHORIZATION=f"Bearer {tenants.a.key}{value}")
        _envelope(response, 401, {"unauthorized"})


def test_idempotency_key_with_control_characters_is_a_validation_error(tenants):
    idempotent_routes = [
        (route, "POST") for route in api_routes()
        if "POST" in route.methods and hasattr(getattr(route.view_class, "post", None), "__wrapped__")
    ]
    if not idempotent_routes:
        pytest.skip("no POST endpoint with @idempotent yet (POST /orders, /orders/{id}/extend, /check)")
    for route, method in idempotent_routes:
        response = _send(tenants, route, method, body=b"{}", extra={"HTTP_IDEMPOTENCY_KEY": "a\r\nb"})
        _envelope(response, 400, {"validation_error"})


def test_unknown_api_path_is_an_enveloped_404(tenants):
    response = Client().get("/api/v1/../../etc/passwd%00", HTTP_AUTHORIZATION=f"Bearer {tenants.a.key}")
    _envelope(response, 404, {"not_found"})
    response = Client().get("/api/v1/" + "a/" * 3000, HTTP_AUTHORIZATION=f"Bearer {tenants.a.key}")
    _envelope(response, 404, {"not_found"})


@pytest.mark.django_db
def test_login_brute_force_is_refused_even_with_the_right_password(tenants):
    """allauth's login_failed limit: after repeated failures the right password is refused too."""
    email = tenants.a.user.email
    client = Client(REMOTE_ADDR="198.51.100.7")
    refused_at = None
    for attempt in range(1, 16):
        response = client.post("/accounts/login/", {"login": email, "password": f"wrong-{attempt}"})
        assert response.status_code in (200, 429), response.status_code
        if response.status_code == 429 or b"Too many failed login attempts" in response.content:
            refused_at = attempt
            break
    assert refused_at is not None and refused_at <= 11, "repeated failed logins were never refused"
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session, "the right password logged in during the lock-out"
    assert response.status_code in (200, 429)
