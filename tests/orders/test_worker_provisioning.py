"""A real Celery worker provisions placed orders and keeps its database connection between
tasks, as `CONN_MAX_AGE` says (a new PostgreSQL session per task cost more than the task).

The worker is a separate `celery worker` process (prefork, as deployed) on the test database
and the Redis broker; the test places orders and watches them turn active.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection

from orders.models import Order, OrderStatus
from orders.services import order_place
from portal.celery import app as celery_app
from tests.conftest import stop_processes
from tests.orders.conftest import add_stock, ensure_catalogue, fund

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the broker)"),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (the worker shares the test database)"),
]


def _start_worker(application_name: str, conn_max_age: str) -> subprocess.Popen:
    url = urlparse(os.environ["DATABASE_URL"])
    test_db_url = urlunparse(url._replace(path="/" + connection.settings_dict["NAME"],
                                          query=urlencode({"application_name": application_name})))
    env = {
        **os.environ,
        "DATABASE_URL": test_db_url,
        "REDIS_URL": settings.REDIS_URL,
        "PORTAL_ALLOW_DEMO_SECRETS": "1",
        "DEBUG": "0",
        "DATABASE_CONN_MAX_AGE": conn_max_age,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "prefork", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


@pytest.fixture
def worker_factory(transactional_db):
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()  # nothing left over from other tests reaches this worker
    started = []

    def start(conn_max_age: str) -> str:
        name = f"test-worker-{uuid.uuid4().hex[:8]}"
        started.append(_start_worker(name, conn_max_age))
        return name

    yield start
    stop_processes(started, timeout=20)


def _place_and_wait(account, count: int, timeout: float = 60) -> None:
    placed = [
        order_place(account=account, type="datacenter", quantity=1, period=30, country="DE").pk
        for _ in range(count)
    ]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if Order.objects.filter(pk__in=placed, status=OrderStatus.ACTIVE).count() == count:
            return
        time.sleep(0.1)
    raise AssertionError(f"not provisioned in {timeout} s: "
                         f"{list(Order.objects.filter(pk__in=placed).values_list('status', flat=True))}")


def _worker_sessions(application_name: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return [pid for (pid,) in cursor.fetchall()]


def test_worker_keeps_one_database_session_across_tasks(worker_factory, account):
    ensure_catalogue()
    add_stock(count=12)
    fund(account, 1000)
    name = worker_factory("60")

    _place_and_wait(account, 6)
    first = _worker_sessions(name)
    assert len(first) == 1, first  # the session outlives the tasks that opened it
    _place_and_wait(account, 6)
    assert _worker_sessions(name) == first  # and the next tasks reuse it
    assert Order.objects.filter(account=account, status=OrderStatus.ACTIVE).count() == 12


def test_worker_with_conn_max_age_zero_closes_its_session_after_each_task(worker_factory, account):
    # For operators behind a transaction-pooling PgBouncer, DATABASE_CONN_MAX_AGE=0.
    ensure_catalogue()
    add_stock(count=4)
    fund(account, 1000)
    name = worker_factory("0")

    _place_and_wait(account, 4)
    deadline = time.time() + 10
    while _worker_sessions(name) and time.time() < deadline:
        time.sleep(0.1)
    assert _worker_sessions(name) == []
