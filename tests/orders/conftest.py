"""Orders test helpers: funding through the ledger, stock, an upstream stand-in on 127.0.0.1."""

import importlib
import itertools
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from billing.models import LedgerEntry
from billing.services import ledger_post
from orders.models import InventoryProxy

requires_postgres = pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)")

_counter = itertools.count()


def ensure_catalogue() -> None:
    """Reinstalls the default catalogue of migration 0002 (transactional tests flush it away)."""
    from django.apps import apps

    from orders.models import ProxyType

    if not ProxyType.objects.exists():
        importlib.import_module("orders.migrations.0002_default_catalogue").install(apps, None)


def fund(account, amount) -> None:
    ledger_post(
        account=account, type="deposit", amount=Decimal(str(amount)),
        reference=f"test-fund:{account.pk}:{next(_counter)}:{threading.get_ident()}", description="Test funding",
    )


def add_stock(type_code="datacenter", country="DE", count=5, start=1):
    rows = [
        InventoryProxy(
            type=type_code, country=country, host=f"10.{start // 250}.{start % 250}.{i}", port=8000 + i,
            username=f"u{i}", password=f"p{i}", protocol="http",
        )
        for i in range(count)
    ]
    return InventoryProxy.objects.bulk_create(rows)


def free_stock(type_code="datacenter", country="DE") -> int:
    return InventoryProxy.objects.filter(type=type_code, country=country, status="available").count()


def balance(account) -> Decimal:
    account.refresh_from_db()
    return account.balance


def charges(account):
    return LedgerEntry.objects.filter(account=account, type="charge")


@pytest.fixture
def order_key(account, make_key):
    return make_key(account, scopes=["orders:read", "orders:write"])


class OnCommitClient:
    """An ApiClient whose requests run their on-commit callbacks (provisioning), as in production."""

    def __init__(self, client, capture):
        self.client = client
        self.capture = capture

    def __getattr__(self, name):
        method = getattr(self.client, name)

        def call(*args, **kwargs):
            with self.capture(execute=True):
                return method(*args, **kwargs)

        return call


@pytest.fixture
def committing(django_capture_on_commit_callbacks):
    """committing(client) → the client, running on-commit callbacks after each request."""
    return lambda client: OnCommitClient(client, django_capture_on_commit_callbacks)


@pytest.fixture
def client_for(api, order_key, committing):
    return committing(api(order_key))


class Upstream:
    """A stand-in for an upstream seller's API: records requests, answers by `mode`."""

    def __init__(self):
        self.mode = "ok"  # ok | error500 | error400 | slow | malformed | flaky
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.sleep = 2.0
        self.fail_first = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, payload):
                raw = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else {}
                upstream.requests.append((self.command, self.path, dict(self.headers), body))
                mode = upstream.mode
                if mode == "flaky":
                    if upstream.fail_first > 0:
                        upstream.fail_first -= 1
                        return self._answer(503, {"error": "busy"})
                    mode = "ok"
                if mode == "slow":
                    time.sleep(upstream.sleep)
                    return self._answer(200, {})
                if mode == "error500":
                    return self._answer(500, {"error": "boom"})
                if mode == "error400":
                    return self._answer(400, {"error": "bad"})
                if mode == "malformed":
                    return self._answer(200, b"<html>not json")
                if self.command == "POST" and self.path == "/orders":
                    qty = int(Decimal(str(body.get("quantity"))) if body.get("type") != "residential" else 1)
                    return self._answer(201, {
                        "id": f"up-{body['reference']}",
                        "proxies": [
                            {"host": f"192.0.2.{i + 1}", "port": 3128, "username": f"up{i}", "password": "secret",
                             "protocol": "http", "country": body.get("country") or "US"}
                            for i in range(qty)
                        ],
                    })
                if self.command == "GET" and self.path.startswith("/usage"):
                    return self._answer(200, {"records": [
                        {"id": "r1", "username": "sub1", "period_start": "2025-01-01T10:15:00Z",
                         "bytes_in": 100, "bytes_out": 50, "requests": 3},
                    ]})
                return self._answer(200, {"ok": True})

            do_GET = do_POST = do_DELETE = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream(settings):
    server = Upstream()
    settings.ORDER_PROVIDER = "http"
    settings.UPSTREAM_API_URL = server.url
    settings.UPSTREAM_API_KEY = "upstream-test-key"
    settings.UPSTREAM_TIMEOUT_S = 0.5
    settings.UPSTREAM_RETRIES = 2
    settings.UPSTREAM_BACKOFF_S = 0.01
    yield server
    server.close()
