"""Webhook test helpers: a real HTTP receiver on 127.0.0.1 that checks each delivery's signature."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from events.services import endpoint_create

ALL_EVENTS = ["order.activated", "order.failed", "order.expiring", "order.expired", "deposit.pending",
              "deposit.credited", "proxy.disabled", "job.completed"]


def verify_signature(header: str, body: bytes, secret: str, tolerance_s: int = 300) -> bool:
    """What a customer's receiver does (README): check the HMAC of "<t>.<body>" and the age of t."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= tolerance_s


class Receiver:
    """Records every POST (path, headers, body, whether its signature verified with `secret`) and
    answers `statuses` in turn (then 200). `secret` is set once the endpoint exists."""

    def __init__(self):
        self.secret = ""
        self.statuses: list[int] = []
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.calls.append({
                        "path": self.path, "headers": dict(self.headers), "body": body,
                        "json": json.loads(body), "status": status,
                        "verified": verify_signature(self.headers.get("X-Webhook-Signature", "t=0,v1=x"), body,
                                                     receiver.secret),
                    })
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [call["json"] for call in self.calls]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOKS_ALLOW_HTTP = True
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_TIMEOUT_S = 5.0
    return settings


@pytest.fixture
def receiver(webhook_settings):
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hook(account, receiver):
    """An endpoint of `account` at the receiver, subscribed to every event; the receiver knows its secret."""
    endpoint = endpoint_create(account=account, url=receiver.url, events=ALL_EVENTS)
    receiver.secret = endpoint.secret
    return endpoint
