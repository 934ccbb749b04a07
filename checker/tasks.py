"""Checker background work. Thin: ids in, services do the work."""

from celery import shared_task

from checker.services.jobs import jobs_sweep_stale
from checker.services.pools import pool_recheck_enqueue, pool_shard_run
from checker.services.runner import job_run, shard_run

# A shard of a job (CHECKER_SHARD_SIZE proxies, 5,000) at the default concurrency and timeout
# takes a few minutes; the limits leave ample room and a stuck run ends as `failed`.
JOB_SOFT_TIME_LIMIT_S = 3600
POOL_SOFT_TIME_LIMIT_S = 3600  # a shard (CHECKER_SHARD_SIZE proxies, most of them silent)


@shared_task(
    name="checker.tasks.run_check_job", acks_late=True,
    soft_time_limit=JOB_SOFT_TIME_LIMIT_S, time_limit=JOB_SOFT_TIME_LIMIT_S + 60,
)
def run_check_job(job_id: str) -> dict | None:
    job = job_run(job_id=job_id)
    if job is None:
        return None
    return {"job_id": str(job.job_id), "status": job.status, "done": job.done, "live": job.live}


@shared_task(
    name="checker.tasks.run_check_shard", acks_late=True,
    soft_time_limit=JOB_SOFT_TIME_LIMIT_S, time_limit=JOB_SOFT_TIME_LIMIT_S + 60,
)
def run_check_shard(shard_id: int) -> dict | None:
    shard = shard_run(shard_id=shard_id)
    if shard is None:
        return None
    return {"shard_id": shard.pk, "job_id": str(shard.job_id), "index": shard.index}


@shared_task(name="checker.tasks.sweep_stale_jobs", soft_time_limit=60, time_limit=90)
def sweep_stale_jobs() -> int:
    """Beat: shards whose worker died are handed on; jobs lost for good become `failed`."""
    return jobs_sweep_stale()


@shared_task(name="checker.tasks.recheck_pool", soft_time_limit=300, time_limit=360)
def recheck_pool(pool: str, force: bool = False) -> dict:
    """Beat: hand the pool's shards that are due (every shard, when `force`: the admin's
    "re-check now") to the workers."""
    return pool_recheck_enqueue(pool=pool, force=force)


@shared_task(
    name="checker.tasks.recheck_pool_shard", acks_late=True,
    soft_time_limit=POOL_SOFT_TIME_LIMIT_S, time_limit=POOL_SOFT_TIME_LIMIT_S + 60,
)
def recheck_pool_shard(shard_id: int) -> dict | None:
    """One shard of a pool; nothing when another worker holds it or it is no longer queued."""
    return pool_shard_run(shard_id=shard_id, from_queue=True)
