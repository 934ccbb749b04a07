"""Rate limiting is exact across separate web processes sharing Redis (docs/api.md#rate-limits).

Two independent gunicorn servers (separate processes, separate ports) serve the same
PostgreSQL test database and the same Redis; requests fired concurrently at both share one
count, so exactly `limit` succeed and every other one is 429.
"""

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlparse, urlunparse
from urllib.request import Request, urlopen

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import Plan
from accounts.selectors import forget_plan_limits
from tests.conftest import stop_processes

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40
EXTRA = 35

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL"),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (the servers share the test database)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, key: str) -> tuple[int, dict]:
    request = Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310 - loopback only
    try:
        with urlopen(request, timeout=20) as response:  # noqa: S310
            return response.status, dict(response.headers)
    except HTTPError as exc:
        return exc.code, dict(exc.headers)


def _wait_ready(base: str, proc: subprocess.Popen) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early: {proc.stdout.read().decode(errors='replace')}")
        try:
            with urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not come up")


@pytest.fixture
def two_servers(transactional_db):
    url = urlparse(os.environ["DATABASE_URL"])
    test_db_url = urlunparse(url._replace(path="/" + connection.settings_dict["NAME"]))
    env = {
        **os.environ,
        "DATABASE_URL": test_db_url,
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_ALLOW_DEMO_SECRETS": "1",
        "DEBUG": "0",
        "DATABASE_CONN_MAX_AGE": "0",
    }
    procs, bases = [], []
    try:
        for _ in range(2):
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}",
                 "--workers", "1", "--threads", "16", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            procs.append(proc)
            bases.append(f"http://127.0.0.1:{port}")
        for base, proc in zip(bases, procs, strict=True):
            _wait_ready(base, proc)
        yield bases
    finally:
        stop_processes(procs, timeout=10)


def test_limit_is_exact_across_two_processes(two_servers, account, make_key):
    # Earlier transactional tests may have flushed the seeded plans: set the row outright.
    Plan.objects.update_or_create(
        tier="free",
        defaults={"name": "Free", "limit_general": LIMIT, "limit_order_create": 10, "limit_check": 20, "limit_export": 10},
    )
    forget_plan_limits()  # the servers read plan limits through the same Redis cache
    key = make_key(account, scopes=["balance:read"])
    first, second = two_servers

    # Start well inside a window, so the fixed window cannot roll over mid-burst.
    status, headers = _call(f"{first}/api/v1/account", key)
    assert status == 200 and headers["X-RateLimit-Limit"] == str(LIMIT)
    if int(headers["X-RateLimit-Reset"]) - time.time() < 20:
        time.sleep(int(headers["X-RateLimit-Reset"]) - time.time() + 1)
        status, _ = _call(f"{first}/api/v1/account", key)
        assert status == 200

    urls = [f"{(first, second)[i % 2]}/api/v1/account" for i in range(LIMIT - 1 + EXTRA)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda u: _call(u, key), urls))

    statuses = [status for status, _ in results]
    assert statuses.count(200) == LIMIT - 1
    assert statuses.count(429) == EXTRA
    # Both processes did refuse some: the count really is shared, not per process.
    refused_by = {url.split("/api")[0] for url, (status, _) in zip(urls, results, strict=True) if status == 429}
    assert refused_by == {first, second}
    for status, headers in results:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1
            assert headers["X-RateLimit-Remaining"] == "0"
