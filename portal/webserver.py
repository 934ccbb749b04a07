"""gunicorn's configuration for the portal: `gunicorn -c python:portal.webserver portal.wsgi`.

gunicorn refuses some requests before Django sees them (a request line or header over its
limits, too many headers, a malformed request line, method or header) and answers them with
an HTML page of its own. Here its worker answers them with the API's JSON envelope instead,
for every path (a dashboard user's browser shows the JSON; such requests do not come from a
page): status 400 and `error_type` `bad_request`, the contract's type for a request that
cannot be read, with a message naming the limit. The contract's 413 `payload_too_large` is
about bodies, and 414/431 are not among its statuses, so clients handle these as they
handle any other 400.

A failure outside Django (rare: Django answers its own errors) is a 500 `server_error`
envelope, and `post_request` reads what is left of a refused body before a connection
closes, so the refusal reaches the client.

`limit_request_*` are gunicorn's defaults except the request line, raised from 4094 to the
most gunicorn allows (8190 bytes). A reverse proxy in front must accept at least as much, or
answer with JSON itself (docs/deploy.md, deploy/nginx/).

The worker is gunicorn's own, chosen as gunicorn chooses it: sync with one thread per worker
(`--threads 1`), gthread with more.

Prometheus (GET /metrics, `portal/metrics.py`): every worker process writes its series to
files in `PROMETHEUS_MULTIPROC_DIR` (default `<PORTAL_VAR_DIR>/prometheus`, set here before
any worker starts), and /metrics sums them. Starting the server removes the files of processes
that no longer run (an earlier server's: counters start again from zero, as Prometheus expects
of a restart); the Celery workers of the same machine write to the same folder when given it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime
from pathlib import Path

from gunicorn import util
from gunicorn.http import errors
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

worker_class = "portal.webserver.PortalWorker"

_VAR_DIR = Path(os.environ.get("PORTAL_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(_VAR_DIR / "prometheus"))


# Imported once the folder is set (prometheus-client picks its multiprocess values at import),
# and here rather than in `child_exit`: that hook runs in the arbiter's SIGCHLD handler, which
# re-enters when several workers end at once (a stop), and a second entry during the first
# one's import found the module half-initialised.
from prometheus_client import multiprocess as prometheus_multiprocess  # noqa: E402


def on_starting(server):
    """gunicorn hook, in the arbiter before the first worker starts."""
    from core.metrics import multiprocess_dir_prepare

    multiprocess_dir_prepare(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def child_exit(server, worker):
    """gunicorn hook: a worker ended; its live gauges leave the sums (counters stay)."""
    prometheus_multiprocess.mark_process_dead(worker.pid)
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

MALFORMED_LINE = "The request line is malformed: expected METHOD /path HTTP/1.1."
MALFORMED_HEADER = "A request header is malformed."
SERVER_ERROR = "Internal server error."


def _refusal(exc: BaseException, cfg) -> tuple[int, str, str]:
    """(status, error_type, message) for an error gunicorn met outside the application."""
    if isinstance(exc, errors.LimitRequestLine):
        return 400, "bad_request", (
            f"The request line (method, path and query) is longer than {cfg.limit_request_line} bytes: "
            "send long lists in the body."
        )
    if isinstance(exc, errors.LimitRequestHeaders):
        if "size" in str(exc):
            return 400, "bad_request", f"A request header is longer than {cfg.limit_request_field_size} bytes."
        if "buffer" in str(exc):
            return 400, "bad_request", "The request's headers are too large together."
        return 400, "bad_request", f"The request has more than {cfg.limit_request_fields} headers."
    if isinstance(exc, errors.InvalidRequestLine | errors.InvalidRequestMethod | errors.InvalidHTTPVersion):
        return 400, "bad_request", MALFORMED_LINE
    if isinstance(exc, errors.InvalidHeader | errors.InvalidHeaderName | errors.ObsoleteFolding):
        return 400, "bad_request", MALFORMED_HEADER
    if isinstance(exc, errors.UnsupportedTransferCoding):
        return 400, "bad_request", "The request's Transfer-Encoding is not supported: send a Content-Length."
    if isinstance(exc, errors.InvalidSchemeHeaders):
        return 400, "bad_request", "The request's forwarded-protocol headers contradict each other."
    if isinstance(exc, errors.InvalidProxyLine | errors.ForbiddenProxyRequest):
        return 400, "bad_request", "The request's PROXY protocol line is not accepted."
    if isinstance(exc, errors.ParseException):  # any other parse error of a future gunicorn
        return 400, "bad_request", "The request could not be read."
    return 500, "server_error", SERVER_ERROR


REASONS = {400: "Bad Request", 500: "Internal Server Error"}


def _envelope(status: int, error_type: str, message: str) -> bytes:
    body = json.dumps(
        {"result": False, "data": None, "error": message, "error_type": error_type, "meta": {}}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


LINGER_S = 0.5
LINGER_BYTES = 256 * 1024


def _linger(client) -> None:
    """Reads and drops what the client is still sending (a request line or headers beyond the
    limit), for a bounded time, before the worker closes the socket: closing it with unread
    data resets the connection, and the client may lose the answer before reading it."""
    client.shutdown(socket.SHUT_WR)
    client.settimeout(LINGER_S)
    deadline = time.monotonic() + LINGER_S
    drained = 0
    try:
        while drained < LINGER_BYTES and time.monotonic() < deadline:
            piece = client.recv(64 * 1024)
            if not piece:
                return
            drained += len(piece)
    except OSError:
        return


DRAIN_BYTES = 4 * 1024 * 1024
DRAIN_S = 2.0


def post_request(worker, req, environ, resp):
    """gunicorn hook, after every request: before a connection closes, read and drop what is
    left of the request body (within DRAIN_BYTES and DRAIN_S). The portal refuses a body over
    its limit from the Content-Length alone; closing the socket while the client, or nginx,
    is still sending that body resets the connection, and the 413 envelope was lost (nginx
    turned it into a 502). Kept-alive connections skip this: gunicorn reads the rest itself
    before the next request."""
    if resp is None or not resp.should_close():
        return
    conn = environ.get("gunicorn.socket")
    deadline = time.monotonic() + DRAIN_S
    left = DRAIN_BYTES
    try:
        if conn is not None:
            conn.settimeout(DRAIN_S)
        while left > 0 and time.monotonic() < deadline:
            piece = req.body.read(min(64 * 1024, left))
            if not piece:
                return
            left -= len(piece)
    except Exception:  # noqa: BLE001 - a client that stops sending or is gone: just close
        return


class JsonErrors:
    """Answers gunicorn's own refusals with the envelope (replaces `Worker.handle_error`)."""

    def handle_error(self, req, client, addr, exc):
        started = datetime.now()
        addr = addr or ("", -1)  # unix socket
        status, error_type, message = _refusal(exc, self.cfg)
        if status == 500:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        else:
            self.log.warning("Invalid request from ip=%s: %s", addr[0], exc)
            if req is None and isinstance(exc, errors.InvalidHeader | errors.InvalidHeaderName):
                req = getattr(exc, "req", None)  # the request line was read: log it
        answer = _envelope(status, error_type, message)
        if req is not None:  # the access log line gunicorn writes for its own refusals
            try:
                environ = default_environ(req, client, self.cfg)
                environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = addr[0], str(addr[1])
                response = Response(req, client, self.cfg)
                response.status = f"{status} {REASONS[status]}"
                response.response_length = len(answer)
                self.log.access(response, req, environ, datetime.now() - started)
            except Exception:  # noqa: BLE001 - logging must not stop the answer
                self.log.debug("Could not log the refused request.")
        try:
            util.write_nonblock(client, answer)
            _linger(client)
        except Exception:  # noqa: BLE001 - the client is gone; nothing to answer
            self.log.debug("Failed to send error message.")


class PortalSyncWorker(JsonErrors, SyncWorker):
    pass


class PortalThreadWorker(JsonErrors, ThreadWorker):
    pass


class PortalWorker(Worker):
    """The sync worker with one thread, gthread with more (`--threads`), both answering
    gunicorn's refusals in JSON. gunicorn instantiates this class; it hands back the one
    that fits the configuration."""

    def __new__(cls, age, ppid, sockets, app, timeout, cfg, log):
        chosen = PortalThreadWorker if cfg.threads > 1 else PortalSyncWorker
        return chosen(age, ppid, sockets, app, timeout, cfg, log)

    @classmethod
    def check_config(cls, cfg, log):
        if cfg.threads > 1:
            PortalThreadWorker.check_config(cfg, log)
