"""The wing's background work: the usage pull and the raw records' purge. Thin, like every task: services do the work, and it
is safe to run twice (each record is stored once, by its id)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from core.errors import PortalError

from .services import (
    subusers_reconcile,
    upstream_sync_pending,
    usage_pull,
    usage_pull_upstream,
    usage_raw_purge,
)

USAGE_PULL_WINDOW = timedelta(days=2)


@shared_task(name="orders.residential.tasks.pull_usage", soft_time_limit=240, time_limit=300)
def pull_usage() -> dict:
    """Every 5 minutes: pull residential usage through the provider adapter and, for sub-users
    living at an upstream seller, from its hourly statistics, and ingest it (each record once,
    by id); then re-evaluate sub-users the system disabled (a top-up re-enables) and push to the
    upstream what it has not taken yet (exhaustion, re-enabling)."""
    since = timezone.now() - USAGE_PULL_WINDOW
    try:
        pulled = usage_pull(since=since).as_dict()
    except PortalError as exc:  # the provider failed: try again next time, records are idempotent
        pulled = {"error": exc.message}
    try:
        from_upstream = usage_pull_upstream(since=since).as_dict()
    except PortalError as exc:
        from_upstream = {"error": exc.message}
    reconciled = subusers_reconcile()
    return {**pulled, "upstream": from_upstream, "reconciled": reconciled, "pushed": upstream_sync_pending()}


@shared_task(name="orders.residential.tasks.purge_usage_records", soft_time_limit=1500, time_limit=1800)
def purge_usage_records() -> int:
    """Hourly: delete raw usage records past USAGE_RAW_RETENTION_DAYS (statistics read the rollups)."""
    return usage_raw_purge()
