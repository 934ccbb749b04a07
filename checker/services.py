"""Everything the checker writes: jobs, their results, the pools.

The engine (`checker.engine`, plain asyncio) runs in a thread of its own; the calling thread
(a Celery worker) keeps the database work: it takes results from a queue and stores them in
batches, so progress is visible while the run goes on and the event loop never waits for the
database.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import plan_for_tier
from checker import selectors
from checker.engine.check import CheckConfig, CheckResult, check_many, fetch_own_ip
from checker.engine.parse import ParseResult, ProxySpec, parse_proxy_line, parse_proxy_list
from checker.events import job_completed_emit
from checker.models import (
    FINISHED_STATUSES,
    UPTIME_WINDOW,
    CheckItem,
    CheckJob,
    JobStatus,
    Pool,
    PoolProxy,
    PoolStatus,
)
from core.errors import BadRequest, Conflict, DomainValidationError

logger = logging.getLogger("checker")

DEFAULT_MAX_JOB_SIZE = 1000
NORM_MAX = 600  # CheckItem/PoolProxy.proxy_norm
CRED_MAX = 255
TARGET_URL_MAX = 2048
EXPECT_TEXT_MAX = 512
BATCH_SIZE = 200  # results per database write
FLUSH_EVERY_S = 0.5  # ... or at least this often (also the heartbeat)
POOL_CHUNK = 2000  # pool proxies per engine run during a re-check
QUEUED_MAX_S = 3600  # a job queued longer than this is considered lost


# ----------------------------------------------------------------------------- parsing
def _parse(text: str, *, max_items: int | None = None) -> ParseResult:
    """The engine's parser, plus the storage limits: over-long entries count as invalid."""
    result = parse_proxy_list(text, max_items=max_items)
    kept = []
    for spec in result.proxies:
        if (len(spec.norm) > NORM_MAX or len(spec.username or "") > CRED_MAX
                or len(spec.password or "") > CRED_MAX):
            result.invalid += 1
            continue
        kept.append(spec)
    result.proxies = kept
    return result


def max_job_size(*, account: Account) -> int:
    plan = plan_for_tier(tier=account.tier)
    return plan.max_check_job_size if plan is not None else DEFAULT_MAX_JOB_SIZE


def _validate_target(target_url: str | None, expect_text: str | None) -> tuple[str, str]:
    target_url = (target_url or "").strip()
    expect_text = expect_text or ""
    errors: dict[str, str] = {}
    if target_url:
        parts = urlsplit(target_url)
        if len(target_url) > TARGET_URL_MAX:
            errors["target_url"] = f"Use at most {TARGET_URL_MAX} characters."
        elif parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            errors["target_url"] = "Enter an http:// or https:// URL."
        else:
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                errors["target_url"] = "The URL's port is not valid."
    if expect_text:
        if len(expect_text) > EXPECT_TEXT_MAX:
            errors["expect_text"] = f"Use at most {EXPECT_TEXT_MAX} characters."
        elif not target_url:
            errors["expect_text"] = "Give a target_url to look for this text in."
    if errors:
        raise DomainValidationError(errors)
    return target_url, expect_text


# ----------------------------------------------------------------------------- jobs
def job_create(
    *,
    account: Account,
    proxies_text: str,
    include_anonymity: bool = False,
    target_url: str | None = None,
    expect_text: str | None = None,
    created_by=None,
) -> CheckJob:
    """Parse the list, enforce the plan's job size, store a queued job and start it on commit."""
    target_url, expect_text = _validate_target(target_url, expect_text)
    limit = max_job_size(account=account)
    parsed = _parse(proxies_text or "", max_items=limit)
    if parsed.over_limit:
        unique = len(parsed.proxies) + parsed.over_limit
        raise DomainValidationError(
            {"proxies_text": f"The list holds {unique} proxies; your plan checks at most {limit} per job."}
        )
    if not parsed.proxies:
        raise BadRequest("No valid proxy in proxies_text (one proxy a line: ip:port, ip:port:user:pass, "
                         "user:pass@ip:port, or with a scheme such as socks5://).")
    with transaction.atomic():
        job = CheckJob.objects.create(
            account=account,
            total=len(parsed.proxies),
            invalid=parsed.invalid,
            duplicates=parsed.duplicates,
            include_anonymity=bool(include_anonymity),
            target_url=target_url,
            expect_text=expect_text,
            proxies="\n".join(spec.norm for spec in parsed.proxies),
            created_by=created_by,
        )
        job_id = str(job.job_id)

        def start() -> None:
            from checker.tasks import run_check_job

            run_check_job.delay(job_id)

        transaction.on_commit(start)
    return job


def job_cancel(*, job: CheckJob) -> CheckJob:
    """Cancel a queued or running job; the worker stops at its next batch."""
    now = timezone.now()
    updated = CheckJob.objects.filter(pk=job.pk).exclude(status__in=FINISHED_STATUSES).update(
        status=JobStatus.CANCELLED, finished_at=now
    )
    job.refresh_from_db()
    if not updated:
        raise Conflict(f"This job is already {job.status}.")
    return job


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


def jobs_sweep_stale() -> int:
    """Jobs whose worker died are failed, never left running (or queued) forever."""
    now = timezone.now()
    running_before = now - timedelta(seconds=settings.CHECKER_JOB_STALE_S)
    queued_before = now - timedelta(seconds=max(QUEUED_MAX_S, settings.CHECKER_JOB_STALE_S))
    swept = CheckJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=running_before).update(
        status=JobStatus.FAILED, error="worker lost", finished_at=now
    )
    swept += CheckJob.objects.filter(
        status=JobStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=running_before
    ).update(status=JobStatus.FAILED, error="worker lost", finished_at=now)
    swept += CheckJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=queued_before).update(
        status=JobStatus.FAILED, error="worker lost (the job was never started)", finished_at=now
    )
    return swept


# ----------------------------------------------------------------------------- pools
def _validate_pool(pool: str) -> str:
    if pool not in Pool.values:
        raise DomainValidationError({"pool": f"Choose one of: {', '.join(Pool.values)}."})
    return pool


def pool_import(*, pool: str, text: str, source: str = "import") -> dict:
    """Add the proxies of `text` (formats of POST /check) to a pool; returns
    {imported, duplicates, invalid} (duplicates: repeated in the text or already pooled)."""
    _validate_pool(pool)
    parsed = _parse(text or "")
    imported = 0
    duplicates = parsed.duplicates
    source = (source or "import")[:100]
    for start in range(0, len(parsed.proxies), 1000):
        chunk = parsed.proxies[start : start + 1000]
        existing = set(
            PoolProxy.objects.filter(pool=pool, proxy_norm__in=[s.norm for s in chunk])
            .values_list("proxy_norm", flat=True)
        )
        fresh = [s for s in chunk if s.norm not in existing]
        duplicates += len(chunk) - len(fresh)
        PoolProxy.objects.bulk_create(
            [
                PoolProxy(
                    pool=pool, proxy_norm=s.norm, scheme=s.scheme or "", protocol=s.scheme or "",
                    host=s.host, port=s.port, username=s.username or "", password=s.password or "",
                    source=source,
                )
                for s in fresh
            ],
            ignore_conflicts=True,
        )
        imported += len(fresh)
    selectors.pool_changed(pool=pool)
    return {"imported": imported, "duplicates": duplicates, "invalid": parsed.invalid}


def _spec_of(proxy: PoolProxy) -> ProxySpec:
    return ProxySpec(
        proxy.scheme or None, proxy.host, proxy.port,
        proxy.username or None, (proxy.password if proxy.username else None) or None,
    )


def _apply_result(proxy: PoolProxy, result: CheckResult | None, now) -> None:
    live = result is not None and result.status == "live"
    proxy.history = (proxy.history + ("1" if live else "0"))[-UPTIME_WINDOW:]
    proxy.uptime_score = round(proxy.history.count("1") / len(proxy.history), 4)
    proxy.last_checked_at = now
    proxy.last_status = PoolStatus.LIVE if live else PoolStatus.DEAD
    proxy.last_error = "" if live else ((result.error if result else "") or "error")[:40]
    if live:
        proxy.protocol = result.protocol or proxy.protocol
        proxy.latency_ms = result.connect_ms
        proxy.exit_ip = result.exit_ip or ""
        proxy.country = result.country or ""
        proxy.anonymity = result.anonymity or ""


_POOL_FIELDS = [
    "history", "uptime_score", "last_checked_at", "last_status", "last_error",
    "protocol", "latency_ms", "exit_ip", "country", "anonymity",
]


def pool_recheck(*, pool: str, chunk_size: int = POOL_CHUNK) -> dict:
    """Re-check every proxy of a pool (chunk by chunk, constant memory); returns
    {checked, live, dead}. What `manage.py checkpool` and the beat schedule run."""
    _validate_pool(pool)
    config = engine_config(include_anonymity=True)
    checked = live = 0
    last_id = 0
    while True:
        chunk = list(PoolProxy.objects.filter(pool=pool, id__gt=last_id).order_by("id")[:chunk_size])
        if not chunk:
            break
        last_id = chunk[-1].id
        specs = {proxy.id: _spec_of(proxy) for proxy in chunk}
        run = EngineRun(list(specs.values()), config).start()
        by_norm: dict[str, CheckResult] = {}
        for batch in run.batches(batch_size=10_000, flush_every_s=5.0):
            for result in batch:
                by_norm[result.proxy.norm] = result
        run.thread.join()
        now = timezone.now()
        for proxy in chunk:
            result = by_norm.get(specs[proxy.id].norm)
            _apply_result(proxy, result, now)
            live += proxy.last_status == PoolStatus.LIVE
        PoolProxy.objects.bulk_update(chunk, _POOL_FIELDS, batch_size=500)
        selectors.pool_changed(pool=pool)
        checked += len(chunk)
    return {"checked": checked, "live": live, "dead": checked - live}
