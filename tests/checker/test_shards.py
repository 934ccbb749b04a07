"""Sharded check jobs and pool re-checks: shards cover every item exactly once, a shard whose
worker died is redone without counting anything twice, cancellation reaches every shard, the
job completes (and says so) once, and a pool shard never runs in two workers at once."""

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from checker.engine.check import CheckResult
from checker.engine.parse import parse_proxy_line
from checker.models import CheckItem, CheckJob, CheckShard, PoolProxy, PoolShard
from checker.services import runner
from checker.services.jobs import job_cancel, job_create
from checker.services.pools import (
    pool_import,
    pool_recheck_enqueue,
    pool_shard_run,
    pool_shards_plan,
)
from checker.tasks import recheck_pool, run_check_job, run_check_shard, sweep_stale_jobs
from events.models import Event
from events.services import endpoint_create
from tests.checker.servers import closed_port


class Killed(BaseException):
    """Stands for the worker process dying mid-shard: nothing after it runs, no cleanup."""


@pytest.fixture
def completed_events(account, settings):
    """The account's job.completed events (an endpoint subscribed to them; never delivered)."""
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint_create(account=account, url="http://127.0.0.1:9/hook", events=["job.completed"])
    return lambda: Event.objects.filter(account=account, type="job.completed")


def _live_and_dead(proxies, dead: int) -> list[str]:
    live = [f"127.0.0.1:{proxies['http']}", f"127.0.0.1:{proxies['socks5']}", f"127.0.0.1:{proxies['socks4']}",
            f"alice:s3cret@127.0.0.1:{proxies['http_auth']}", f"bob:pa55@127.0.0.1:{proxies['socks5_auth']}"]
    return live + [f"127.0.0.1:{closed_port()}" for _ in range(dead)]


def _job(account, lines: list[str]) -> CheckJob:
    return job_create(account=account, proxies_text="\n".join(lines))


def _assert_exact(job: CheckJob, lines: list[str], live: int) -> None:
    job.refresh_from_db()
    norms = list(CheckItem.objects.filter(job=job).values_list("proxy_norm", flat=True))
    assert sorted(norms) == sorted(parse_proxy_line(line).norm for line in lines)
    assert (job.status, job.total, job.done, job.live) == ("completed", len(lines), len(lines), live)
    assert CheckItem.objects.filter(job=job, status="live").count() == live


# ----------------------------------------------------------------------------- jobs
def test_a_large_job_runs_in_shards_covering_every_proxy_once(
    account, checker_on, proxies, completed_events
):
    checker_on.CHECKER_SHARD_SIZE = 3
    lines = _live_and_dead(proxies, dead=5)
    job = _job(account, lines)
    result = run_check_job(str(job.pk))
    assert result["status"] == "completed"
    shards = list(CheckShard.objects.filter(job=job).order_by("index").values_list("start", "end", "status", "attempt"))
    assert shards == [(0, 3, "done", 1), (3, 6, "done", 1), (6, 9, "done", 1), (9, 10, "done", 1)]
    _assert_exact(job, lines, live=5)
    (event,) = completed_events()
    assert (event.data["status"], event.data["done"], event.data["live"]) == ("completed", 10, 5)


def test_a_job_within_the_shard_size_is_one_shard(account, checker_on, proxies):
    lines = _live_and_dead(proxies, dead=1)
    job = _job(account, lines)
    run_check_job(str(job.pk))
    assert CheckShard.objects.filter(job=job).count() == 1
    _assert_exact(job, lines, live=5)


def test_a_killed_workers_shard_is_redone_without_counting_twice(
    account, checker_on, proxies, silent_server, completed_events
):
    """The worker dies after storing part of its shard; the sweep hands the shard on once its
    lease ran out, and the next attempt checks only the rest."""
    checker_on.CHECKER_SHARD_SIZE = 4
    checker_on.CHECKER_TIMEOUT_S = 1.5
    # the fast ones come in the first batch, the silent ones 1.5 s later
    lines = _live_and_dead(proxies, dead=1) + [f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(2)]
    job = _job(account, lines)
    job, shards = runner._job_claim(job.pk)
    assert [(s.start, s.end) for s in shards] == [(0, 4), (4, 8)]
    stored_at_death = []

    def die_after_storing_something(_):
        stored = CheckItem.objects.filter(job=job).count()
        if stored:
            stored_at_death.append(stored)
            raise Killed

    with pytest.raises(Killed):
        runner.shard_run(shard_id=shards[1].pk, on_batch=die_after_storing_something)
    job.refresh_from_db()
    assert 0 < stored_at_death[0] < 4
    assert job.status == "running" and job.done == stored_at_death[0]
    assert run_check_shard(shards[1].pk) is None  # redelivered at once: the lease still holds
    run_check_shard(shards[0].pk)

    CheckShard.objects.filter(pk=shards[1].pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert sweep_stale_jobs() == 1  # handed on: the eager task redoes it now
    shard = CheckShard.objects.get(pk=shards[1].pk)
    assert (shard.status, shard.attempt) == ("done", 2)
    _assert_exact(job, lines, live=5)
    assert completed_events().count() == 1


def test_a_batch_stored_twice_counts_once_and_a_lost_attempt_stores_nothing(account, checker_on, proxies):
    lines = _live_and_dead(proxies, dead=1)
    job = _job(account, lines)
    job, (shard,) = runner._job_claim(job.pk)
    shard = runner._shard_claim(shard.pk)
    spec = parse_proxy_line(lines[0])
    batch = [CheckResult(proxy=spec, status="live", protocol="http")]
    assert runner._shard_store_batch(shard, batch)
    assert runner._shard_store_batch(shard, batch)  # a retry after a lost commit answer
    job.refresh_from_db()
    assert (job.done, job.live, CheckItem.objects.filter(job=job).count()) == (1, 1, 1)

    CheckShard.objects.filter(pk=shard.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    taken = runner._shard_claim(shard.pk)  # another worker takes the stale shard
    assert taken.attempt == shard.attempt + 1
    other = [CheckResult(proxy=parse_proxy_line(lines[1]), status="live", protocol="socks5")]
    assert not runner._shard_store_batch(shard, other)  # the old attempt comes back: refused
    assert not runner._shard_finish(shard)
    job.refresh_from_db()
    assert (job.done, CheckItem.objects.filter(job=job).count()) == (1, 1)


def test_a_shard_lost_too_often_fails_its_job(account, checker_on):
    checker_on.CHECKER_SHARD_SIZE = 1
    job = _job(account, ["203.0.113.5:80", "203.0.113.6:80"])
    job, shards = runner._job_claim(job.pk)
    old = timezone.now() - timedelta(minutes=5)
    CheckShard.objects.filter(pk=shards[0].pk).update(status="running", attempt=3, heartbeat_at=old)
    CheckJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    assert sweep_stale_jobs() == 1
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "worker lost")


def test_queued_shards_of_an_idle_job_are_enqueued_again(account, checker_on, proxies):
    """Their message died with a worker (prefetched, never acked): the sweep sends it again."""
    checker_on.CHECKER_SHARD_SIZE = 3
    lines = _live_and_dead(proxies, dead=1)
    job = _job(account, lines)
    job, shards = runner._job_claim(job.pk)
    CheckJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert sweep_stale_jobs() == 2  # both queued shards, run eagerly
    _assert_exact(job, lines, live=5)


def test_cancelling_stops_every_shard(account, checker_on, silent_server):
    checker_on.CHECKER_SHARD_SIZE = 4
    checker_on.CHECKER_TIMEOUT_S = 1.5
    checker_on.CHECKER_CONCURRENCY = 1
    job = _job(account, [f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(12)])
    job, shards = runner._job_claim(job.pk)
    calls = []

    def cancel_on_first_batch(_):
        calls.append(1)
        if len(calls) == 1:
            job_cancel(job=CheckJob.objects.get(pk=job.pk))

    started = time.monotonic()
    runner.shard_run(shard_id=shards[0].pk, on_batch=cancel_on_first_batch)
    assert [run_check_shard(s.pk) for s in shards[1:]] == [None, None]
    assert time.monotonic() - started < 6
    job.refresh_from_db()
    assert job.status == "cancelled" and job.done < 4
    assert CheckItem.objects.filter(job=job).count() == job.done
    assert list(CheckShard.objects.filter(job=job).order_by("index").values_list("status", flat=True)) == [
        "running", "queued", "queued"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_shards_in_parallel_workers_complete_the_job_once(account, checker_on, proxies, silent_server, settings):
    """Real threads on PostgreSQL, each a worker running shards of one job at the same time."""
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL")
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    endpoint_create(account=account, url="http://127.0.0.1:9/hook", events=["job.completed"])
    checker_on.CHECKER_SHARD_SIZE = 3
    checker_on.CHECKER_TIMEOUT_S = 1.0
    lines = _live_and_dead(proxies, dead=3) + [f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(4)]
    job = CheckJob.objects.create(account=account, total=len(lines), proxies="\n".join(
        parse_proxy_line(line).norm for line in lines))
    job, shards = runner._job_claim(job.pk)
    assert len(shards) == 4
    barrier = threading.Barrier(4)

    def worker(shard_id):
        try:
            barrier.wait(10)
            runner.shard_run(shard_id=shard_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(s.pk,)) for s in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    _assert_exact(job, lines, live=5)
    assert Event.objects.filter(account=account, type="job.completed").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_reaches_shards_running_in_other_workers(account, checker_on, silent_server, settings):
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL")
    checker_on.CHECKER_SHARD_SIZE = 5
    checker_on.CHECKER_TIMEOUT_S = 1.0
    checker_on.CHECKER_CONCURRENCY = 1
    norms = [f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(10)]
    job = CheckJob.objects.create(account=account, total=10, proxies="\n".join(norms))
    job, shards = runner._job_claim(job.pk)
    threads = [threading.Thread(target=lambda pk=s.pk: (runner.shard_run(shard_id=pk), connection.close()))
               for s in shards]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while CheckJob.objects.get(pk=job.pk).done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    job_cancel(job=CheckJob.objects.get(pk=job.pk))
    for thread in threads:
        thread.join(15)
    assert time.monotonic() - started < 8
    job.refresh_from_db()
    assert job.status == "cancelled" and job.done < 10
    assert CheckItem.objects.filter(job=job).count() == job.done


# ----------------------------------------------------------------------------- pools
def _pool_of(n: int, pool: str = "public") -> list[int]:
    pool_import(pool=pool, text="\n".join(f"10.{i // 250}.{i % 250}.1:8080" for i in range(n)))
    return list(PoolProxy.objects.filter(pool=pool).order_by("id").values_list("id", flat=True))


def _ranges(pool: str = "public") -> list[tuple[int, int]]:
    return list(PoolShard.objects.filter(pool=pool).order_by("first_id").values_list("first_id", "last_id"))


def test_pool_shards_cover_every_proxy_once_and_grow_with_imports(db, settings):
    settings.CHECKER_SHARD_SIZE = 4
    ids = _pool_of(10)
    assert pool_shards_plan(pool="public") == 3
    assert _ranges() == [(ids[0], ids[3]), (ids[4], ids[7]), (ids[8], ids[9])]
    assert pool_shards_plan(pool="public") == 3  # nothing new: nothing changes
    more = [i for i in _pool_of(13) if i not in ids]  # 3 new proxies
    pool_shards_plan(pool="public")
    assert _ranges() == [(ids[0], ids[3]), (ids[4], ids[7]), (ids[8], more[1]), (more[2], more[2])]
    covered = []
    for first, last in _ranges():
        covered += list(PoolProxy.objects.filter(pool="public", id__gte=first, id__lte=last).values_list("id", flat=True))
    assert sorted(covered) == sorted(PoolProxy.objects.filter(pool="public").values_list("id", flat=True))
    assert pool_shards_plan(pool="premium") == 0


def test_the_beat_enqueues_only_the_shards_that_are_due(db, settings, checker_on):
    checker_on.CHECKER_SHARD_SIZE = 2
    checker_on.CHECKER_TIMEOUT_S = 0.5
    for _ in range(5):
        pool_import(pool="public", text=f"127.0.0.1:{closed_port()}")
    assert recheck_pool("public") == {"shards": 3, "enqueued": 3}  # eager: each shard ran
    assert PoolProxy.objects.filter(pool="public", last_status="dead").count() == 5
    assert recheck_pool("public") == {"shards": 3, "enqueued": 0}  # all fresh
    first = PoolShard.objects.order_by("first_id").first()
    period = settings.CHECKER_RECHECK_S["public"]
    PoolShard.objects.filter(pk=first.pk).update(finished_at=timezone.now() - timedelta(seconds=period))
    assert recheck_pool("public") == {"shards": 3, "enqueued": 1}
    assert recheck_pool("public", force=True) == {"shards": 3, "enqueued": 3}
    assert sorted(PoolProxy.objects.values_list("history", flat=True)) == ["00", "00", "00", "000", "000"]


def test_a_pool_shard_held_by_a_worker_is_not_run_again(db, settings, checker_on):
    checker_on.CHECKER_SHARD_SIZE = 10
    for _ in range(3):
        pool_import(pool="public", text=f"127.0.0.1:{closed_port()}")
    pool_shards_plan(pool="public")
    shard = PoolShard.objects.get()
    PoolShard.objects.filter(pk=shard.pk).update(status="running", attempt=1, heartbeat_at=timezone.now())
    assert pool_shard_run(shard_id=shard.pk) is None
    assert pool_recheck_enqueue(pool="public") == {"shards": 1, "enqueued": 0}
    out = StringIO()
    call_command("checkpool", "--pool", "public", stdout=out)
    assert "a worker holds it" in out.getvalue() and "(1 shards left to the workers holding them)" in out.getvalue()
    assert set(PoolProxy.objects.values_list("history", flat=True)) == {""}

    # its worker died: once the heartbeat is older than the lease, the beat hands it on
    PoolShard.objects.filter(pk=shard.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert pool_recheck_enqueue(pool="public") == {"shards": 1, "enqueued": 1}
    shard.refresh_from_db()
    assert (shard.status, shard.attempt, shard.checked) == ("done", 2, 3)
    assert set(PoolProxy.objects.values_list("history", flat=True)) == {"0"}


def test_checkpool_reports_progress(db, settings, checker_on):
    checker_on.CHECKER_SHARD_SIZE = 2
    checker_on.CHECKER_TIMEOUT_S = 0.5
    for _ in range(5):
        pool_import(pool="public", text=f"127.0.0.1:{closed_port()}")
    pool_shards_plan(pool="public")
    out = StringIO()
    call_command("checkpool", "--pool", "public", "--status", stdout=out)
    assert "The public pool: 5 proxies in 3 shards." in out.getvalue()
    assert "Checked within the last 1800 s: 0 (0 %)." in out.getvalue()
    assert "Shards: 0 running, 0 queued, 3 idle (3 never checked)." in out.getvalue()

    first = PoolShard.objects.order_by("first_id").first()
    pool_shard_run(shard_id=first.pk)
    PoolShard.objects.filter(pk=first.pk).update(status="running", heartbeat_at=timezone.now(), checked=1)
    out = StringIO()
    call_command("checkpool", "--pool", "public", "--status", stdout=out)
    text = out.getvalue()
    assert "Checked within the last 1800 s: 2 (40 %)." in text
    assert "Shards: 1 running, 0 queued, 2 idle (2 never checked)." in text
    assert f"  running {first.first_id}-{first.last_id}: 1 checked so far, heartbeat 0 s ago" in text
    assert "proxies/s." in text

    out = StringIO()
    call_command("checkpool", "--pool", "public", "--enqueue", stdout=out)
    assert out.getvalue().strip() == "The public pool has 3 shards; 2 handed to the workers."


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pool_shard_never_runs_in_two_workers_at_once(checker_on, silent_server, settings):
    """Four threads (workers on PostgreSQL) take the same queued shard at the same moment:
    one runs it, every proxy is checked once."""
    if not settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL")
    checker_on.CHECKER_SHARD_SIZE = 100
    checker_on.CHECKER_TIMEOUT_S = 1.0
    pool_import(pool="public", text="\n".join(f"u{i}:p@127.0.0.1:{silent_server.port}" for i in range(6)))
    pool_shards_plan(pool="public")
    shard = PoolShard.objects.get()
    PoolShard.objects.filter(pk=shard.pk).update(status="queued", enqueued_at=timezone.now())
    barrier = threading.Barrier(4)
    results = []

    def worker():
        try:
            barrier.wait(10)
            results.append(pool_shard_run(shard_id=shard.pk, from_queue=True))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results, key=str) == [None, None, None, {"checked": 6, "live": 0, "dead": 6}]
    assert set(PoolProxy.objects.values_list("history", flat=True)) == {"0"}
    shard.refresh_from_db()
    assert (shard.status, shard.attempt) == ("done", 1)
