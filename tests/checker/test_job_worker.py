"""The job task: progress stored in batches while it runs, cancellation, the stale sweep,
resuming after a lost worker."""

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from checker.models import CheckItem, CheckJob, JobStatus
from checker.services.jobs import job_cancel, job_create
from checker.services.runner import job_run
from checker.tasks import run_check_job, sweep_stale_jobs


def _job(account, text, **kwargs):
    return job_create(account=account, proxies_text=text, **kwargs)


def test_progress_is_visible_while_the_job_runs(account, checker_on, proxies, silent_server):
    checker_on.CHECKER_TIMEOUT_S = 2.0
    live = [f"127.0.0.1:{proxies[name]}" for name in ("http", "socks5", "socks4")]
    silent = [f"socks5://127.0.0.1:{silent_server.port}", f"http://127.0.0.1:{silent_server.port}"]
    job = _job(account, "\n".join(live + silent))
    seen = []

    def observe(_):
        fresh = CheckJob.objects.get(pk=job.pk)
        seen.append((fresh.status, fresh.done, fresh.live, CheckItem.objects.filter(job=job).count()))

    job_run(job_id=job.pk, on_batch=observe)
    partial = [s for s in seen if 0 < s[1] < 5]
    assert partial, seen
    for status, done, live_count, stored in partial:
        assert status == "running"
        assert stored == done
        assert live_count <= done
    job.refresh_from_db()
    assert (job.status, job.done, job.live) == ("completed", 5, 3)
    assert job.heartbeat_at is not None and job.finished_at >= job.started_at


def test_cancelling_stops_the_run_at_the_next_batch(account, checker_on, silent_server):
    checker_on.CHECKER_TIMEOUT_S = 2.0
    checker_on.CHECKER_CONCURRENCY = 2
    # 20 distinct silent proxies (usernames make them distinct) at 2 at a time: 20 s if not stopped
    text = "\n".join(f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(20))
    job = _job(account, text)
    calls = []

    def cancel_on_first_batch(_):
        calls.append(1)
        if len(calls) == 1:
            job_cancel(job=CheckJob.objects.get(pk=job.pk))

    started = time.monotonic()
    job_run(job_id=job.pk, on_batch=cancel_on_first_batch)
    elapsed = time.monotonic() - started
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.done < 20
    assert job.finished_at is not None
    assert elapsed < 8, elapsed


def test_cancel_of_a_finished_job_is_a_conflict(account):
    from core.errors import Conflict

    job = CheckJob.objects.create(account=account, status=JobStatus.COMPLETED, total=1, done=1)
    with pytest.raises(Conflict):
        job_cancel(job=job)
    job.refresh_from_db()
    assert job.status == "completed"


def test_sweep_fails_jobs_whose_worker_died(account, settings):
    settings.CHECKER_JOB_STALE_S = 300
    now = timezone.now()
    old = now - timedelta(seconds=301)
    stale = CheckJob.objects.create(account=account, status="running", started_at=old, heartbeat_at=old, total=5)
    fresh = CheckJob.objects.create(account=account, status="running", started_at=old, heartbeat_at=now, total=5)
    lost_queue = CheckJob.objects.create(account=account, status="queued", created_at=now - timedelta(hours=2))
    waiting = CheckJob.objects.create(account=account, status="queued")
    done = CheckJob.objects.create(account=account, status="completed", heartbeat_at=old, finished_at=old)

    assert sweep_stale_jobs() == 2
    states = {j.pk: (j.status, j.error) for j in CheckJob.objects.all()}
    assert states[stale.pk] == ("failed", "worker lost")
    assert states[fresh.pk][0] == "running"
    assert states[lost_queue.pk][0] == "failed" and "worker lost" in states[lost_queue.pk][1]
    assert states[waiting.pk][0] == "queued"
    assert states[done.pk][0] == "completed"
    assert CheckJob.objects.get(pk=stale.pk).finished_at is not None
    assert sweep_stale_jobs() == 0


def test_a_swept_job_stops_its_late_worker(account, checker_on, silent_server):
    """The sweep wins over a worker that comes back: it stops storing results."""
    checker_on.CHECKER_TIMEOUT_S = 1.5
    checker_on.CHECKER_CONCURRENCY = 1
    job = _job(account, "\n".join(f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(6)))

    def sweep_now(_):
        CheckJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(days=1))
        sweep_stale_jobs()

    job_run(job_id=job.pk, on_batch=sweep_now)
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == "worker lost"
    assert CheckItem.objects.filter(job=job).count() == job.done


def test_redelivered_task_resumes_the_job_of_a_dead_worker(account, checker_on, proxies, settings):
    settings.CHECKER_JOB_STALE_S = 60
    norms = [f"127.0.0.1:{proxies['http']}", f"127.0.0.1:{proxies['socks5']}"]
    job = _job(account, "\n".join(norms))
    old = timezone.now() - timedelta(minutes=5)
    CheckJob.objects.filter(pk=job.pk).update(status="running", started_at=old, heartbeat_at=old, done=1, live=1)
    CheckItem.objects.create(job=job, proxy_norm=norms[0], status="live", protocol="http", exit_ip="127.0.0.1")

    result = run_check_job(str(job.pk))
    assert result["status"] == "completed"
    job.refresh_from_db()
    assert (job.done, job.live, job.total) == (2, 2, 2)
    assert job.started_at == old
    assert CheckItem.objects.filter(job=job).count() == 2


def test_task_leaves_a_job_another_worker_is_running(account):
    job = _job(account, "203.0.113.5:80")
    CheckJob.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now())
    assert run_check_job(str(job.pk)) is None
    job.refresh_from_db()
    assert job.status == "running" and job.done == 0


def test_task_on_a_finished_or_missing_job_does_nothing(account):
    job = _job(account, "203.0.113.5:80")
    CheckJob.objects.filter(pk=job.pk).update(status="cancelled")
    assert run_check_job(str(job.pk)) is None
    assert run_check_job("00000000-0000-0000-0000-000000000000") is None
    assert CheckItem.objects.count() == 0


def test_unusable_judge_url_fails_the_job(account, settings):
    settings.CHECKER_JUDGE_URL = "ftp://judge.invalid/"
    settings.CHECKER_ALLOW_PRIVATE = True
    job = _job(account, "127.0.0.1:9")
    run_check_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error
    assert job.finished_at is not None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_from_another_connection_while_a_worker_runs(account, checker_on, silent_server):
    """Real threads on PostgreSQL: the worker in one, the owner's dashboard click in another."""
    from django.conf import settings as django_settings
    from django.db import connection
    from django.test import Client

    from tests.conftest import PASSWORD

    if not django_settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL")
    checker_on.CHECKER_TIMEOUT_S = 2.0
    checker_on.CHECKER_CONCURRENCY = 2
    # Stored directly: in a transactional test job_create's on_commit would run the eager task now.
    norms = [f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(20)]
    job = CheckJob.objects.create(account=account, total=20, proxies="\n".join(norms))
    outcome = {}

    def worker():
        try:
            started = time.monotonic()
            run_check_job(str(job.pk))
            outcome["elapsed"] = time.monotonic() - started
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    deadline = time.monotonic() + 10
    while CheckJob.objects.get(pk=job.pk).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    client = Client()
    assert client.login(email="owner@example.com", password=PASSWORD)
    response = client.post(f"/checker/jobs/{job.pk}/cancel/")
    assert response.status_code == 302
    assert response.url == f"/checker/jobs/{job.pk}/", response.url
    assert CheckJob.objects.get(pk=job.pk).status == "cancelled"
    thread.join(15)
    assert not thread.is_alive()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.done < 20
    assert outcome["elapsed"] < 8
