"""The upstream client's transport against a small real HTTP server on 127.0.0.1 that answers
from a script: retries after 5xx and refused connections (only where repeating cannot buy
twice), 429 waited out per Retry-After, the envelope's errors, and the key kept secret.

The same client against a real portal is in tests/upstream/test_client.py.
"""

import json
import logging
import socket
import threading
import time
import traceback
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import UpstreamError
from orders.providers.upstream_client import (
    UpstreamClient,
    forget_upstream_clients,
    upstream_client,
)

KEY = "pk_live_TransportTestKey0000000000000000abcdef"
ACCOUNT = {"id": "acc_1", "name": "B at A", "email": "b@example.com", "balance": "12.50", "currency": "USD",
           "tier": "free", "premium_until": None, "created_at": "2025-01-01T00:00:00Z"}
ORDER = {"id": "ord_1", "type": "isp", "quantity": 2, "period": 30, "country": "US", "status": "pending",
         "unit_price": "3.00", "subtotal": "6.00", "discount": "0.00", "total": "6.00", "currency": "USD",
         "created_at": "2025-01-01T00:00:00Z", "activated_at": None, "expires_at": None, "proxy_count": 0,
         "traffic_gb": None, "traffic_used_gb": None, "failure_reason": ""}


def ok(data, status=200, meta=None):
    return status, {}, {"result": True, "data": data, "error": "", "error_type": "", "meta": meta or {}}


def refused(status, error_type, error, headers=None):
    return status, headers or {}, {"result": False, "data": None, "error": error, "error_type": error_type, "meta": {}}


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body, delay); records them."""

    def __init__(self):
        self.script = []
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body, "at": time.monotonic()})
                status, headers, payload, delay = server.script.pop(0) if server.script else (500, {}, b"", 0)
                if delay:
                    time.sleep(delay)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", "Content-Length": str(len(raw)),
                                    **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client gave up (a read timeout)

            do_GET = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, status, headers, body, delay=0.0):
        self.script.append((status, headers, body, delay))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = ScriptedServer()
    yield s
    s.close()


@pytest.fixture
def no_key_in_logs(caplog):
    """Everything logged at any level, httpx's own debug lines included, must not hold the key."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    assert KEY not in caplog.text


def client_for(server, **options):
    defaults = {"retries": 2, "backoff_s": 0.01, "backoff_max_s": 0.05, "read_timeout_s": 2, "connect_timeout_s": 1}
    return UpstreamClient(server.url, KEY, **{**defaults, **options})


def assert_secret(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc.__dict__)
    assert KEY not in text


def test_the_key_goes_as_a_bearer_header_and_a_5xx_is_retried(server, no_key_in_logs):
    server.add(503, {}, b"<html>busy</html>")
    server.add(502, {}, b"<html>bad gateway</html>")
    server.add(*ok(ACCOUNT))
    account = client_for(server).account()
    assert account.balance == Decimal("12.50") and account.name == "B at A"
    assert [r["path"] for r in server.requests] == ["/api/v1/account"] * 3
    assert all(r["headers"]["Authorization"] == f"Bearer {KEY}" for r in server.requests)
    assert no_key_in_logs.text.count("upstream GET /account: HTTP 50") == 2


def test_a_5xx_that_persists_is_an_upstream_error_with_its_status(server, no_key_in_logs):
    for _ in range(3):
        server.add(502, {}, b"<html>bad gateway</html>")
    with pytest.raises(UpstreamError) as caught:
        client_for(server).account()
    assert len(server.requests) == 3
    exc = caught.value
    assert exc.upstream_status == 502 and exc.retryable and not exc.unreachable
    assert "not the API's envelope" in exc.message
    assert_secret(exc)


def test_a_keyed_post_is_retried_with_the_same_key_and_body(server, no_key_in_logs):
    server.add(*refused(500, "server_error", "Internal server error."))
    server.add(*ok(ORDER, status=201))
    order = client_for(server).place_order(type="isp", quantity=2, period=30, country="US", idempotency_key="ord_b_1")
    assert order.id == "ord_1" and order.status == "pending"
    first, second = server.requests
    assert first["headers"]["Idempotency-Key"] == second["headers"]["Idempotency-Key"] == "ord_b_1"
    assert first["body"] == second["body"]
    assert json.loads(first["body"]) == {"type": "isp", "quantity": 2, "period": 30, "country": "US"}


def test_a_post_without_idempotency_is_not_repeated_after_a_5xx(server, no_key_in_logs):
    server.add(*refused(500, "server_error", "Internal server error."))
    with pytest.raises(UpstreamError) as caught:
        client_for(server).subuser_create(order_id="ord_1", name="one")
    assert len(server.requests) == 1  # it may have created the sub-user: the caller decides
    assert caught.value.upstream_status == 500 and caught.value.upstream_error_type == "server_error"


def test_a_lost_answer_is_retried_only_where_repeating_is_harmless(server, no_key_in_logs):
    server.add(*ok(ACCOUNT), delay=1.5)
    server.add(*ok(ACCOUNT))
    assert client_for(server, read_timeout_s=0.5).account().id == "acc_1"
    assert len(server.requests) == 2

    server.requests.clear()
    server.add(*ok({}, status=201), delay=1.5)
    with pytest.raises(UpstreamError) as caught:
        client_for(server, read_timeout_s=0.5).subuser_create(order_id="ord_1", name="slow")
    assert len(server.requests) == 1
    assert caught.value.unreachable and caught.value.upstream_error_type == "timeout"
    assert "timed out waiting for the answer" in caught.value.message


def test_429_waits_retry_after_then_succeeds(server, no_key_in_logs):
    server.add(*refused(429, "rate_limited", "Rate limit of 2 general requests exceeded.", {"Retry-After": "1"}))
    server.add(*ok(ACCOUNT))
    started = time.monotonic()
    assert client_for(server).account().id == "acc_1"
    first, second = server.requests
    assert second["at"] - first["at"] >= 0.95
    assert time.monotonic() - started < 5


def test_429_asking_longer_than_the_bound_fails_at_once(server, no_key_in_logs):
    server.add(*refused(429, "rate_limited", "Rate limit exceeded.", {"Retry-After": "120"}))
    started = time.monotonic()
    with pytest.raises(UpstreamError) as caught:
        client_for(server, max_retry_after_s=5).account()
    assert time.monotonic() - started < 2 and len(server.requests) == 1
    exc = caught.value
    assert exc.upstream_status == 429 and exc.retry_after == 120 and exc.retryable


def test_402_says_the_upstream_balance_is_short_and_is_not_retried(server, no_key_in_logs):
    server.add(*refused(402, "insufficient_funds", "Your balance is lower than the price."))
    with pytest.raises(UpstreamError) as caught:
        client_for(server).place_order(type="isp", quantity=2, period=30, idempotency_key="ord_b_2")
    exc = caught.value
    assert len(server.requests) == 1
    assert exc.insufficient_funds and not exc.retryable
    assert exc.upstream_error_type == "insufficient_funds"
    assert exc.upstream_message == "Your balance is lower than the price."
    assert "402 insufficient_funds" in exc.message and exc.meta == {}


def test_a_validation_error_keeps_the_upstream_fields(server, no_key_in_logs):
    server.add(400, {}, {"result": False, "data": None, "error": "period: Unknown period.",
                         "error_type": "validation_error", "meta": {"fields": {"period": ["Unknown period."]}}})
    with pytest.raises(UpstreamError) as caught:
        client_for(server).calc(type="isp", quantity=1, period=2)
    assert caught.value.upstream_meta == {"fields": {"period": ["Unknown period."]}}
    assert len(server.requests) == 1


def test_an_upstream_quoting_the_key_back_is_redacted(server, no_key_in_logs):
    server.add(401, {}, {"result": False, "data": None, "error": f"API key {KEY} not found or expired",
                         "error_type": "unauthorized", "meta": {"key": KEY}})
    with pytest.raises(UpstreamError) as caught:
        client_for(server).account()
    exc = caught.value
    assert exc.upstream_status == 401 and "[redacted]" in exc.upstream_message
    assert exc.upstream_meta == {"key": "[redacted]"}
    assert_secret(exc)


def test_a_refused_connection_is_retried_then_unreachable(no_key_in_logs):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = UpstreamClient(f"http://127.0.0.1:{port}/api/v1", KEY, retries=3, backoff_s=0.01, backoff_max_s=0.02)
    with pytest.raises(UpstreamError) as caught:
        client.subuser_create(order_id="ord_1", name="x")  # even a non-idempotent call: nothing was sent
    exc = caught.value
    assert exc.unreachable and exc.retryable and exc.upstream_error_type == "unreachable"
    assert "(4 attempts)" in exc.message and "cannot connect" in exc.message
    assert no_key_in_logs.text.count("upstream POST /proxy: cannot connect") == 3
    assert_secret(exc)


def test_answers_that_are_not_the_envelope_are_malformed(server, no_key_in_logs):
    server.add(200, {}, {"balance": "1.00"})
    server.add(200, {}, b"not json")
    server.add(*ok({"id": "acc_1"}))  # the envelope, but the account lacks its fields
    client = client_for(server)
    for _ in range(3):
        with pytest.raises(UpstreamError) as caught:
            client.account()
        assert caught.value.upstream_error_type == "malformed_response"
        assert caught.value.upstream_status == 200


def test_an_answer_over_the_size_bound_is_refused(server, no_key_in_logs):
    server.add(200, {"Content-Length": str(64 * 1024 * 1024)}, b"")
    with pytest.raises(UpstreamError) as caught:
        client_for(server, retries=0).account()
    assert caught.value.upstream_error_type == "too_large"


def test_configuration_errors_are_upstream_errors_without_the_key():
    for url, key, words in (("", KEY, "set UPSTREAM_API_URL"), ("ftp://x", KEY, "http:// or https://"),
                            ("http://127.0.0.1:9/api/v1", "", "set UPSTREAM_API_KEY")):
        with pytest.raises(UpstreamError, match=words) as caught:
            UpstreamClient(url, key)
        assert_secret(caught.value)


def test_one_client_per_process_url_and_key(settings):
    settings.UPSTREAM_API_URL = "http://127.0.0.1:9/api/v1"
    settings.UPSTREAM_API_KEY = KEY
    first = upstream_client()
    assert upstream_client() is first
    assert upstream_client(api_key=KEY + "x") is not first
    assert KEY not in repr(first)
    forget_upstream_clients()
    assert upstream_client() is not first
    forget_upstream_clients()
