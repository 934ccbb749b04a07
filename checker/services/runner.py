"""A check job fed to the engine, its results stored as they come.

The engine (`checker.engine`, plain asyncio) runs in a thread of its own; the calling thread
(a Celery worker) keeps the database work: it takes results from a queue and stores them in
batches, so progress is visible while the run goes on and the event loop never waits for the
database. The pools' re-check (`checker.services.pools`) runs the engine the same way.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from checker.engine.check import CheckConfig, CheckResult, check_many, fetch_own_ip
from checker.engine.parse import ProxySpec, parse_proxy_line
from checker.events import job_completed_emit
from checker.models import CheckItem, CheckJob, CheckShard, JobStatus, ShardStatus
from core.metrics import checks_record

logger = logging.getLogger("checker")

BATCH_SIZE = 1000  # results per database write
FLUSH_EVERY_S = 0.5  # ... or at least this often (also the heartbeat)


def engine_config(
    *, include_anonymity: bool = False, target_url: str | None = None, expect_text: str | None = None
) -> CheckConfig:
    return CheckConfig(
        judge_url=settings.CHECKER_JUDGE_URL,
        timeout_s=float(settings.CHECKER_TIMEOUT_S),
        concurrency=int(settings.CHECKER_CONCURRENCY),
        allow_private=bool(settings.CHECKER_ALLOW_PRIVATE),
        include_anonymity=include_anonymity,
        target_url=target_url or None,
        expect_text=expect_text or None,
        real_ips=frozenset(getattr(settings, "CHECKER_REAL_IPS", ()) or ()),
    )


_DONE = object()


def _loop_factory():
    """uvloop's event loop when it is installed (it runs the same asyncio code for about 40 %
    less worker CPU per check: bench/RESULTS.md), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _EngineError:
    def __init__(self, exc: BaseException):
        self.exc = exc


class EngineRun:
    """Runs `check_many` on an event loop in a thread of its own.

    Results arrive on `self.results` (a thread-safe queue) as they complete, then `_DONE`, or
    an `_EngineError`. `cancel()` stops the run from any thread.
    """

    def __init__(self, specs: Iterable[ProxySpec], config: CheckConfig):
        self.specs = specs
        self.config = config
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._cancelled = False
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._main, name="checker-engine", daemon=True)

    def start(self) -> EngineRun:
        self.thread.start()
        return self

    def _main(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self._amain())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread
            self.results.put(_EngineError(exc))
            return
        self.results.put(_DONE)

    async def _amain(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        config = self.config
        if config.include_anonymity:
            own = await fetch_own_ip(config.judge_url, timeout_s=min(5.0, config.timeout_s))
            if own:
                config.real_ips = frozenset(config.real_ips | {own})
        await check_many(self.specs, config, on_result=self.results.put)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop already closed
                pass

    def batches(self, *, batch_size: int = BATCH_SIZE, flush_every_s: float = FLUSH_EVERY_S):
        """Yields lists of results (possibly empty, at least every `flush_every_s`) until the
        run ends; raises the engine's exception if it failed."""
        buffer: list[CheckResult] = []
        last = time.monotonic()
        while True:
            wait = max(0.0, flush_every_s - (time.monotonic() - last))
            try:
                item = self.results.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _DONE:
                yield buffer
                return
            if isinstance(item, _EngineError):
                if buffer:
                    yield buffer
                raise item.exc
            if item is not None:
                buffer.append(item)
            if len(buffer) >= batch_size or time.monotonic() - last >= flush_every_s:
                yield buffer
                buffer = []
                last = time.monotonic()


def _item_from_result(job_pk, result: CheckResult) -> CheckItem:
    return CheckItem(
        job_id=job_pk,
        proxy_norm=result.proxy.norm,
        status=result.status,
        protocol=result.protocol or "",
        connect_ms=result.connect_ms,
        ttfb_ms=result.ttfb_ms,
        exit_ip=result.exit_ip or "",
        country=result.country or "",
        anonymity=result.anonymity or "",
        error=(result.error or "")[:40],
    )


def _shard_store_batch(shard: CheckShard, batch: list[CheckResult]) -> bool:
    """Stores the results no earlier attempt stored and counts only those; beats the hearts of
    the job and the shard. False (nothing stored) when the job is no longer running
    (cancelled, failed) or the shard is no longer this attempt's.

    Locks the job row, then the shard row (the order every writer takes), so two attempts of
    one shard never store at once and the counters move exactly with the rows inserted."""
    now = timezone.now()
    with transaction.atomic():
        if not CheckJob.objects.filter(pk=shard.job_id, status=JobStatus.RUNNING).update(heartbeat_at=now):
            return False
        if not CheckShard.objects.filter(
            pk=shard.pk, status=ShardStatus.RUNNING, attempt=shard.attempt
        ).update(heartbeat_at=now):
            return False
        if not batch:
            return True
        stored = set(
            CheckItem.objects.filter(job_id=shard.job_id, proxy_norm__in=[r.proxy.norm for r in batch])
            .values_list("proxy_norm", flat=True)
        )
        fresh = [r for r in batch if r.proxy.norm not in stored]
        if fresh:
            CheckItem.objects.bulk_create([_item_from_result(shard.job_id, r) for r in fresh])
            CheckJob.objects.filter(pk=shard.job_id).update(
                done=F("done") + len(fresh), live=F("live") + sum(1 for r in fresh if r.status == "live")
            )
    checks_record("job", [r.status for r in fresh])
    return True


def _shard_bounds(total: int) -> list[tuple[int, int]]:
    size = max(1, int(settings.CHECKER_SHARD_SIZE))
    return [(start, min(total, start + size)) for start in range(0, max(total, 1), size)]


def _job_claim(job_id) -> tuple[CheckJob, list[CheckShard]] | None:
    """queued → running, the job cut into shards. A redelivered task finds the job running
    with a stale heartbeat (no shard stored anything for a lease) and takes back the shards
    nobody holds; a fresh heartbeat means workers have it. Returns the job and the shards
    to run, or None."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.CHECKER_SHARD_LEASE_S)
    with transaction.atomic():
        job = CheckJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale_before:
            return None
        if not job.shards.exists():
            lines = job.proxies.count("\n") + 1 if job.proxies else 0
            CheckShard.objects.bulk_create(
                CheckShard(job=job, index=i, start=a, end=b) for i, (a, b) in enumerate(_shard_bounds(lines))
            )
        job.shards.filter(status=ShardStatus.RUNNING, heartbeat_at__lt=stale_before).update(
            status=ShardStatus.QUEUED
        )
        stored = CheckItem.objects.filter(job=job)
        job.done = stored.count()
        job.live = stored.filter(status="live").count()
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at", "done", "live"])
        shards = list(job.shards.filter(status=ShardStatus.QUEUED).order_by("index"))
    return job, shards


def _shard_claim(shard_id) -> CheckShard | None:
    """queued (or running with a stale heartbeat: its worker died) → running under a new
    attempt. None when the job is finished, the shard done or held by a live worker."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.CHECKER_SHARD_LEASE_S)
    with transaction.atomic():
        shard = CheckShard.objects.select_related("job").filter(pk=shard_id).first()
        if shard is None or shard.job.status != JobStatus.RUNNING:
            return None
        claimed = CheckShard.objects.filter(pk=shard_id).filter(
            Q(status=ShardStatus.QUEUED) | Q(status=ShardStatus.RUNNING, heartbeat_at__lt=stale_before)
        ).update(status=ShardStatus.RUNNING, attempt=F("attempt") + 1, heartbeat_at=now)
        if not claimed:
            return None
    shard.refresh_from_db(fields=["status", "attempt", "heartbeat_at"])
    return shard


def _job_fail(job_id, error: str) -> None:
    now = timezone.now()
    CheckJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=error[:255], finished_at=now, heartbeat_at=now
    )


def _shard_finish(shard: CheckShard) -> bool:
    """The shard is done; the last one done completes the job and emits `job.completed`,
    exactly once (the job row is locked and moved from running only here)."""
    now = timezone.now()
    with transaction.atomic():
        if not CheckShard.objects.filter(
            pk=shard.pk, status=ShardStatus.RUNNING, attempt=shard.attempt
        ).update(status=ShardStatus.DONE, finished_at=now, heartbeat_at=now):
            return False
    with transaction.atomic():
        job = CheckJob.objects.select_for_update().filter(pk=shard.job_id, status=JobStatus.RUNNING).first()
        if job is None or job.shards.exclude(status=ShardStatus.DONE).exists():
            return False
        CheckJob.objects.filter(pk=job.pk).update(status=JobStatus.COMPLETED, finished_at=now, heartbeat_at=now)
        job_completed_emit(job_id=job.pk)
    return True


def shard_run(*, shard_id, on_batch: Callable[[CheckJob], None] | None = None) -> CheckShard | None:
    """Check one shard of a job (the shard task calls this). Idempotent: a shard done, held by
    a live worker or of a finished job is left alone; a shard taken back from a dead worker
    checks only the proxies that have no result yet."""
    shard = _shard_claim(shard_id)
    if shard is None:
        return None
    job = shard.job
    lines = job.proxies.split("\n")[shard.start : shard.end]
    specs = [spec for spec in (parse_proxy_line(line) for line in lines if line) if spec is not None]
    if shard.attempt > 1:  # taken back from a worker that died: only what it did not store
        stored: set[str] = set()
        norms = [spec.norm for spec in specs]
        for i in range(0, len(norms), 1000):
            stored.update(CheckItem.objects.filter(job=job, proxy_norm__in=norms[i : i + 1000])
                          .values_list("proxy_norm", flat=True))
        specs = [spec for spec in specs if spec.norm not in stored]
    config = engine_config(
        include_anonymity=job.include_anonymity, target_url=job.target_url, expect_text=job.expect_text
    )
    run = EngineRun(specs, config).start()
    try:
        for batch in run.batches():
            if not _shard_store_batch(shard, batch):
                run.cancel()
                break
            if on_batch is not None:
                on_batch(job)
        else:
            _shard_finish(shard)
    except SoftTimeLimitExceeded:
        run.cancel()
        _job_fail(job.pk, "The job ran out of time.")
    except ValueError as exc:  # unusable judge or target URL
        run.cancel()
        _job_fail(job.pk, f"Check failed: {exc}")
    except Exception:
        run.cancel()
        logger.exception("check job %s, shard %s failed", job.pk, shard.index)
        _job_fail(job.pk, "Internal error while checking.")
        raise
    finally:
        run.thread.join(timeout=max(5.0, float(settings.CHECKER_TIMEOUT_S) + 5.0))
    return shard


def job_run(*, job_id, on_batch: Callable[[CheckJob], None] | None = None) -> CheckJob | None:
    """Start a job (the job task calls this): cut it into shards of CHECKER_SHARD_SIZE, hand
    every shard but the first to the workers (`run_check_shard`) and check the first here.
    Idempotent: a finished job, or one whose workers are alive, is left alone."""
    from checker.tasks import run_check_shard

    claimed = _job_claim(job_id)
    if claimed is None:
        return None
    job, shards = claimed
    for shard in shards[1:]:
        run_check_shard.delay(shard.pk)
    if shards:
        shard_run(shard_id=shards[0].pk, on_batch=on_batch)
    job.refresh_from_db()
    return job
