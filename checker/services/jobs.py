"""A customer's check jobs: create one (the plan's size, the optional target URL), cancel it
(every shard stops at its next batch), and hand on or fail the work of lost workers. Running a job is `checker.services.runner`."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import plan_for_tier
from checker.models import FINISHED_STATUSES, CheckJob, CheckShard, JobStatus, ShardStatus
from checker.services.parsing import parse_for_storage
from core.errors import BadRequest, Conflict, DomainValidationError

DEFAULT_MAX_JOB_SIZE = 1000
TARGET_URL_MAX = 2048
EXPECT_TEXT_MAX = 512
QUEUED_MAX_S = 3600  # a job queued longer than this is considered lost
MAX_SHARD_ATTEMPTS = 3  # a shard whose worker died this many times fails its job


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
    parsed = parse_for_storage(proxies_text or "", max_items=limit)
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
            invalid_lines=parsed.invalid_lines,
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


def jobs_sweep_stale() -> int:
    """Work of lost workers is handed on, never left running (or queued) forever:
    - a job nothing happened to for CHECKER_JOB_STALE_S (or queued for an hour) fails;
    - a running shard whose heartbeat is older than CHECKER_SHARD_LEASE_S goes back to the
      queue (its stored results stay, the next attempt checks the rest); one lost
      MAX_SHARD_ATTEMPTS times fails its job;
    - the queued shards of a job nothing was stored for within a lease are enqueued again
      (their message may have died with a worker; a duplicate finds the shard taken).
    Returns the jobs failed plus the shards handed on."""
    from checker.tasks import run_check_shard

    now = timezone.now()
    running_before = now - timedelta(seconds=settings.CHECKER_JOB_STALE_S)
    queued_before = now - timedelta(seconds=max(QUEUED_MAX_S, settings.CHECKER_JOB_STALE_S))
    lease_before = now - timedelta(seconds=settings.CHECKER_SHARD_LEASE_S)
    swept = CheckJob.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=running_before).update(
        status=JobStatus.FAILED, error="worker lost", finished_at=now
    )
    swept += CheckJob.objects.filter(
        status=JobStatus.RUNNING, heartbeat_at__isnull=True, started_at__lt=running_before
    ).update(status=JobStatus.FAILED, error="worker lost", finished_at=now)
    swept += CheckJob.objects.filter(status=JobStatus.QUEUED, created_at__lt=queued_before).update(
        status=JobStatus.FAILED, error="worker lost (the job was never started)", finished_at=now
    )
    lost = CheckShard.objects.filter(
        status=ShardStatus.RUNNING, heartbeat_at__lt=lease_before, job__status=JobStatus.RUNNING
    ).values_list("pk", "job_id", "attempt")
    for pk, job_id, attempt in list(lost):
        if attempt >= MAX_SHARD_ATTEMPTS:
            swept += CheckJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
                status=JobStatus.FAILED, error="worker lost", finished_at=now
            )
        elif CheckShard.objects.filter(
            pk=pk, status=ShardStatus.RUNNING, attempt=attempt, heartbeat_at__lt=lease_before
        ).update(status=ShardStatus.QUEUED):
            swept += 1
            run_check_shard.delay(pk)
    waiting = CheckShard.objects.filter(
        status=ShardStatus.QUEUED, job__status=JobStatus.RUNNING, job__heartbeat_at__lt=lease_before
    ).values_list("pk", flat=True)
    for pk in list(waiting):
        swept += 1
        run_check_shard.delay(pk)
    return swept
