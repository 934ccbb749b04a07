"""Faults: what the portal does when Redis, PostgreSQL, a worker or the upstream fails.

- Redis down: a real gunicorn of the portal on a private redis-server; redis is killed,
  the API answers 503 `unavailable` (the envelope, never a 500 or a trace), /healthz says
  degraded, and everything recovers by itself once redis is back on the same port.
- Database connections killed (pg_terminate_backend, as a PostgreSQL restart does): the
  next requests succeed (CONN_HEALTH_CHECKS reconnects).
- A worker SIGKILLed in the middle of a check job: the sweep ends the job in a defined
  state. A provisioning task that never ran (its worker died): the sweep provisions it.
- The upstream provider failing or slow: the order is refused with 502 `upstream_error` before
  anything is charged, and the money invariants hold. (A worker or an upstream killed in the
  middle of an upstream placement is tested with two real portals in tests/upstream/.)
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apikeys.scopes import ALL_SCOPES
from apikeys.services import apikey_create
from tests.security.conftest import call, ensure_seed_data, require_collected_static
from tests.security.test_money_invariants import assert_money_invariants

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
needs_postgres = pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)")
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (set REDIS_URL)")
live = [pytest.mark.postgres, pytest.mark.redis, needs_postgres, needs_redis,
        pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_for(lambda: _tcp_open(self.port), 10), "private redis-server did not start"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _tcp_open(port) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def server_env(**extra) -> dict:
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        DEBUG="0", PORTAL_ALLOW_DEMO_SECRETS="1", ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_CONN_MAX_AGE="600", LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


class Portal:
    """gunicorn serving the portal on the test database."""

    def __init__(self, redis: RedisServer, **env):
        self.port = free_port()
        self.redis = redis
        self.env = env
        self.proc = None

    def start(self):
        env = server_env(REDIS_URL=f"redis://127.0.0.1:{self.redis.port}/0", **self.env)
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--threads", "2", "--timeout", "60", "--graceful-timeout", "2"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        if not wait_for(lambda: _tcp_open(self.port) or self.proc.poll() is not None, 30) or self.proc.poll() is not None:
            raise AssertionError("gunicorn did not start: " + (self.proc.stderr.read().decode()[-2000:] if self.proc.poll() is not None else ""))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill(self):
        """SIGKILL the master and its workers at once (a machine or container dying)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def get(self, path, key=None, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if key:
            request.add_header("Authorization", f"Bearer {key}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)


@pytest.fixture
def portal_stack(transactional_db):
    ensure_seed_data()
    redis = RedisServer()
    redis.start()
    portal = Portal(redis)
    try:
        portal.start()
        yield portal
    finally:
        portal.stop()
        redis.stop()


def _key_for_new_tenant(email):
    from accounts.services import user_create_with_account

    user, account = user_create_with_account(email=email, password="x-Secret-9-long", name="Faults")
    _, key = apikey_create(account=account, name="faults", scopes=list(ALL_SCOPES), expiration="never",
                           created_by=user)
    return account, key


def _assert_unavailable(status, body):
    assert status == 503, (status, body[:300])
    assert b"Traceback" not in body
    envelope = json.loads(body)
    assert envelope["result"] is False and envelope["error_type"] == "unavailable" and envelope["data"] is None


@pytest.mark.usefixtures("portal_stack")
@pytest.mark.parametrize("_", [pytest.param(None, marks=live, id="redis-down")])
def test_redis_down_answers_503_then_recovers_by_itself(portal_stack, _):
    _, key = _key_for_new_tenant("redis-fault@security.example")
    status, body, headers = portal_stack.get("/api/v1/account", key)
    assert status == 200, body[:300]
    assert "X-RateLimit-Remaining" in headers

    portal_stack.redis.stop()
    for path, auth in (("/api/v1/account", key), ("/api/v1/plans", key), ("/api/v1/account", "pk_live_bogus")):
        status, body, _h = portal_stack.get(path, auth)
        _assert_unavailable(status, body)
    status, body, _h = portal_stack.get("/healthz")
    assert status == 503 and json.loads(body)["status"] == "degraded"

    portal_stack.redis.start()  # same port
    recovered = wait_for(lambda: portal_stack.get("/api/v1/account", key)[0] == 200, timeout=20, interval=0.5)
    assert recovered, "the API did not recover after redis came back"
    assert portal_stack.get("/healthz")[0] == 200


@pytest.mark.parametrize("_", [pytest.param(None, marks=live, id="redis-down-login")])
def test_dashboard_login_with_redis_down_is_a_503_not_a_500(_, collected_static):
    import http.cookiejar
    import re
    import urllib.parse

    static_root = require_collected_static(collected_static)  # pages need the manifest with DEBUG off
    ensure_seed_data()
    account, _key = _key_for_new_tenant("login-fault@security.example")
    redis = RedisServer()
    redis.start()
    portal = Portal(redis, CSRF_COOKIE_SECURE="0", SESSION_COOKIE_SECURE="0",  # plain http here
                    STATIC_ROOT=str(static_root))
    try:
        portal.start()
        base = f"http://127.0.0.1:{portal.port}"
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(base + "/accounts/login/").read().decode()  # noqa: S310 - loopback
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        redis.stop()
        form = urllib.parse.urlencode({"login": "login-fault@security.example", "password": "x-Secret-9-long",
                                       "csrfmiddlewaretoken": token}).encode()
        try:
            status = opener.open(urllib.request.Request(base + "/accounts/login/", data=form)).status  # noqa: S310
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status in (200, 302, 503), f"login with Redis down answered {status}"
        assert status != 500
    finally:
        portal.stop()
        redis.stop()


@pytest.mark.parametrize("_", [pytest.param(None, marks=live, id="db-connections-killed")])
def test_killed_database_connections_are_replaced_transparently(portal_stack, _):
    _, key = _key_for_new_tenant("db-fault@security.example")
    for _i in range(3):  # warm both threads' persistent connections
        assert portal_stack.get("/api/v1/account", key)[0] == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        killed = cursor.rowcount
    assert killed >= 1, "the server held no database connection to kill"
    statuses = [portal_stack.get("/api/v1/account", key)[0] for _i in range(6)]
    assert statuses == [200] * 6, f"after the database dropped its connections: {statuses}"


class _BlackHole:
    """A 'proxy' on loopback that accepts connections and never answers (a check in flight)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_check_job_ends_in_a_defined_state(monkeypatch, settings):
    from checker import tasks as checker_tasks
    from checker.models import CheckJob
    from checker.services.jobs import job_create

    ensure_seed_data()
    account, _key = _key_for_new_tenant("worker-fault@security.example")
    hole = _BlackHole()
    # The job is run by the subprocess below (then killed), not inline by the eager test broker.
    monkeypatch.setattr(checker_tasks.run_check_job, "delay", lambda *a, **k: None)
    job = job_create(account=account, proxies_text="\n".join(f"127.0.0.1:{hole.port}" for _ in range(1))
                     + f"\n127.0.0.2:{hole.port}")
    env = server_env(CHECKER_ALLOW_PRIVATE="1", CHECKER_TIMEOUT_S="60", CELERY_TASK_ALWAYS_EAGER="1")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c",
         f"from checker.services.runner import job_run; job_run(job_id='{job.pk}')"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        running = wait_for(lambda: CheckJob.objects.get(pk=job.pk).status == "running" and hole.accepted, 30)
        assert running, "the worker never started the job: " + (
            worker.stderr.read().decode()[-1500:] if worker.poll() is not None else "")
        worker.send_signal(signal.SIGKILL)  # the worker dies mid-check
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
        hole.close()

    job.refresh_from_db()
    assert job.status == "running" and job.finished_at is None  # what a dead worker leaves behind
    settings.CHECKER_JOB_STALE_S = 1
    CheckJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=5))
    checker_tasks.sweep_stale_jobs()
    job.refresh_from_db()
    assert job.status in ("failed", "completed", "cancelled"), job.status
    assert job.finished_at is not None
    response = call(_key, "GET", f"jobs/{job.pk}")
    assert response.status_code == 200 and response.json_body["data"]["status"] == job.status


@pytest.mark.django_db
def test_provisioning_whose_worker_died_is_completed_by_the_sweep(monkeypatch, tenants):
    from orders import tasks as order_tasks
    from orders.models import InventoryProxy, Order

    # The broker took the task but its worker died: nothing provisions the order now.
    monkeypatch.setattr(order_tasks.provision_order, "delay", lambda *a, **k: None)
    InventoryProxy.objects.bulk_create(
        InventoryProxy(type="datacenter", country="DE", host=f"10.99.0.{i}", port=3128, username=f"w{i}")
        for i in range(3)
    )
    response = call(tenants.a.key, "POST", "orders", {"type": "datacenter", "quantity": 1, "period": 30,
                                                     "country": "DE"})
    assert response.status_code == 201, response.raw[:300]
    order = Order.objects.get(public_id=response.json_body["data"]["id"])
    assert order.status == "pending"
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    monkeypatch.undo()  # a healthy worker again: the beat's sweep runs the task
    order_tasks.expire_orders()
    order.refresh_from_db()
    assert order.status in ("active", "failed"), order.status
    assert_money_invariants([tenants.a.account.pk])


class _Upstream(BaseHTTPRequestHandler):
    mode = "error"

    def log_message(self, *args):
        pass

    def _answer(self):
        if self.mode == "slow":
            time.sleep(2.0)
        body = json.dumps({"error": "upstream exploded"}).encode()
        self.send_response(503 if self.mode == "error" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _answer


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["error", "slow"])
def test_failing_or_slow_upstream_refunds_in_full(mode, tenants, settings):
    handler = type("Upstream", (_Upstream,), {"mode": mode})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ORDER_PROVIDER = "upstream"
    settings.UPSTREAM_API_URL = f"http://127.0.0.1:{server.server_address[1]}"
    settings.UPSTREAM_API_KEY = "upstream-test-key"
    settings.UPSTREAM_TIMEOUT_S = 0.5
    settings.UPSTREAM_RETRIES = 1
    settings.UPSTREAM_BACKOFF_S = 0.05
    account = tenants.a.account
    account.refresh_from_db()
    before = account.balance
    try:
        for _attempt in range(3):
            response = call(tenants.a.key, "POST", "orders", {"type": "datacenter", "quantity": 2, "period": 30,
                                                             "country": "DE"})
            assert response.status_code == 502, response.raw[:300]
            assert response.json_body["error_type"] == "upstream_error"
    finally:
        server.shutdown()
        server.server_close()
    account.refresh_from_db()
    assert account.balance == before, f"{before} → {account.balance}: a failed order kept money"
    from orders.models import Order

    assert set(Order.objects.filter(account=account).values_list("status", flat=True)) <= {"failed"}
    assert_money_invariants([account.pk])
    assert Decimal(account.balance) >= 0
