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
from django.db.models import F
from django.utils import timezone

from checker.engine.check import CheckConfig, CheckResult, check_many, fetch_own_ip
from checker.engine.parse import ProxySpec, parse_proxy_line
from checker.events import job_completed_emit
from checker.models import CheckItem, CheckJob, JobStatus
from core.metrics import checks_record

logger = logging.getLogger("checker")

BATCH_SIZE = 200  # results per database write
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
            asyncio.run(self._amain())
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


def _item_from_result(job: CheckJob, result: CheckResult) -> CheckItem:
    return CheckItem(
        job=job,
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


def _job_store_batch(job: CheckJob, batch: list[CheckResult]) -> bool:
    """Stores a batch and beats the heart; False (nothing stored) when the job is no longer
    running (cancelled, or failed by the sweep)."""
    live = sum(1 for r in batch if r.status == "live")
    with transaction.atomic():
        updated = CheckJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            done=F("done") + len(batch), live=F("live") + live, heartbeat_at=timezone.now()
        )
        if not updated:
            return False
        if batch:
            CheckItem.objects.bulk_create([_item_from_result(job, r) for r in batch], ignore_conflicts=True)
    checks_record("job", [r.status for r in batch])
    return True


def _job_claim(job_id) -> CheckJob | None:
    """queued → running. A redelivered task finds the job running with a stale heartbeat
    (its worker died) and resumes it; a fresh heartbeat means another worker has it."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.CHECKER_JOB_STALE_S)
    with transaction.atomic():
        job = CheckJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and job.heartbeat_at and job.heartbeat_at > stale_before:
            return None
        stored = CheckItem.objects.filter(job=job)
        job.done = stored.count()
        job.live = stored.filter(status="live").count()
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "started_at", "heartbeat_at", "done", "live"])
    return job


def _job_finish(job: CheckJob, status: str, error: str = "") -> None:
    CheckJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
        status=status, error=error[:255], finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


def job_run(*, job_id, on_batch: Callable[[CheckJob], None] | None = None) -> CheckJob | None:
    """Run a job's checks (the Celery task calls this). Idempotent: a finished job is left
    alone; a resumed one checks only the proxies that have no result yet."""
    job = _job_claim(job_id)
    if job is None:
        return None
    already = set(CheckItem.objects.filter(job=job).values_list("proxy_norm", flat=True))
    specs = [spec for spec in (parse_proxy_line(line) for line in job.proxies.splitlines() if line)
             if spec is not None and spec.norm not in already]
    config = engine_config(
        include_anonymity=job.include_anonymity, target_url=job.target_url, expect_text=job.expect_text
    )
    run = EngineRun(specs, config).start()
    try:
        for batch in run.batches():
            if not _job_store_batch(job, batch):
                run.cancel()
                break
            if on_batch is not None:
                on_batch(job)
        else:
            _job_finish(job, JobStatus.COMPLETED)
            job_completed_emit(job_id=job.pk)
    except SoftTimeLimitExceeded:
        run.cancel()
        _job_finish(job, JobStatus.FAILED, "The job ran out of time.")
    except ValueError as exc:  # unusable judge or target URL
        run.cancel()
        _job_finish(job, JobStatus.FAILED, f"Check failed: {exc}")
    except Exception:
        run.cancel()
        logger.exception("check job %s failed", job.pk)
        _job_finish(job, JobStatus.FAILED, "Internal error while checking.")
        raise
    finally:
        run.thread.join(timeout=max(5.0, float(settings.CHECKER_TIMEOUT_S) + 5.0))
    job.refresh_from_db()
    return job
