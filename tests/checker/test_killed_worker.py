"""A real Celery worker is killed (SIGKILL) in the middle of a shard of a check job; once the
shard's lease runs out, the beat's sweep hands it to a new worker, which checks only what has
no result yet. Nothing is lost, nothing is counted twice, the job completes once.

Separate `celery worker` processes (prefork, as deployed) on the test database and the Redis
broker, real proxy servers and a judge on 127.0.0.1.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection

from checker.models import CheckItem, CheckJob, CheckShard
from checker.services.jobs import job_create, jobs_sweep_stale
from events.models import Event
from events.services import endpoint_create
from portal.celery import app as celery_app
from tests.conftest import stop_processes

ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 10  # the smallest CHECKER_SHARD_LEASE_S

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the broker)"),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (the worker shares the test database)"),
]


def _start_worker(judge_url: str) -> subprocess.Popen:
    url = urlparse(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunparse(url._replace(path="/" + connection.settings_dict["NAME"])),
        "REDIS_URL": settings.REDIS_URL, "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0",
        "CHECKER_JUDGE_URL": judge_url, "CHECKER_ALLOW_PRIVATE": "1", "CHECKER_TIMEOUT_S": "2",
        "CHECKER_CONCURRENCY": "1", "CHECKER_SHARD_SIZE": "4", "CHECKER_SHARD_LEASE_S": str(LEASE_S),
        "WEBHOOKS_ALLOW_HTTP": "1", "WEBHOOKS_ALLOW_PRIVATE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "prefork", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.django_db(transaction=True)
def test_a_shard_whose_worker_was_killed_is_finished_by_the_next(
    account, checker_on, proxies, silent_server, settings
):
    checker_on.CHECKER_SHARD_SIZE = 4
    checker_on.CHECKER_SHARD_LEASE_S = LEASE_S
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint_create(account=account, url="http://127.0.0.1:9/hook", events=["job.completed"])
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    # shard 0: two live proxies answer at once, then two silent ones take 2 s each (concurrency 1)
    lines = [f"127.0.0.1:{proxies['http']}", f"127.0.0.1:{proxies['socks5']}"] + [
        f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(6)]
    workers = []
    try:
        workers.append(_start_worker(checker_on.CHECKER_JUDGE_URL))
        job = job_create(account=account, proxies_text="\n".join(lines))  # run_check_job sent on commit
        _wait(lambda: CheckItem.objects.filter(job=job).count() >= 2, 60, "the first worker stores results")
        os.killpg(workers[0].pid, signal.SIGKILL)  # the worker and its pool child, mid-shard
        workers[0].wait(timeout=10)
        stored = CheckItem.objects.filter(job=job).count()
        first = CheckShard.objects.get(job=job, index=0)
        assert 2 <= stored < 4 and (first.status, first.attempt) == ("running", 1)
        assert CheckJob.objects.get(pk=job.pk).done == stored

        workers.append(_start_worker(checker_on.CHECKER_JUDGE_URL))  # takes shard 1 from the queue
        assert jobs_sweep_stale() == 0  # shard 0's lease still holds
        time.sleep(LEASE_S + 1)
        assert jobs_sweep_stale() >= 1  # what the beat does every minute: shard 0 handed on
        _wait(lambda: CheckJob.objects.get(pk=job.pk).status == "completed", 90, "the second worker finishes")
        job.refresh_from_db()
        assert (job.done, job.live, job.total) == (8, 2, 8)
        assert CheckItem.objects.filter(job=job).count() == 8
        assert CheckShard.objects.get(job=job, index=0).attempt == 2
        assert Event.objects.filter(account=account, type="job.completed").count() == 1
    finally:
        stop_processes(workers, timeout=20)
