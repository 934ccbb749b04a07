"""Checker background work. Thin: ids in, services do the work."""

from celery import shared_task
from django.core.cache import cache

from checker.services.jobs import jobs_sweep_stale
from checker.services.pools import pool_recheck
from checker.services.runner import job_run

# A job of the largest plan (10 000 proxies) at the default concurrency and timeout takes
# a few minutes; the limits leave ample room and a stuck run ends as `failed`.
JOB_SOFT_TIME_LIMIT_S = 3600
POOL_SOFT_TIME_LIMIT_S = 6 * 3600


@shared_task(
    name="checker.tasks.run_check_job", acks_late=True,
    soft_time_limit=JOB_SOFT_TIME_LIMIT_S, time_limit=JOB_SOFT_TIME_LIMIT_S + 60,
)
def run_check_job(job_id: str) -> dict | None:
    job = job_run(job_id=job_id)
    if job is None:
        return None
    return {"job_id": str(job.job_id), "status": job.status, "done": job.done, "live": job.live}


@shared_task(name="checker.tasks.sweep_stale_jobs", soft_time_limit=60, time_limit=90)
def sweep_stale_jobs() -> int:
    """Beat: jobs whose worker died become `failed` ("worker lost")."""
    return jobs_sweep_stale()


@shared_task(
    name="checker.tasks.recheck_pool",
    soft_time_limit=POOL_SOFT_TIME_LIMIT_S, time_limit=POOL_SOFT_TIME_LIMIT_S + 60,
)
def recheck_pool(pool: str) -> dict:
    """Beat: re-check the public or premium pool (the same work as `manage.py checkpool`).
    One run per pool at a time: a schedule tick during a long run is skipped."""
    lock = f"checker:recheck:{pool}"
    if not cache.add(lock, "1", timeout=POOL_SOFT_TIME_LIMIT_S + 60):
        return {"skipped": "a re-check of this pool is already running"}
    try:
        return pool_recheck(pool=pool)
    finally:
        cache.delete(lock)
