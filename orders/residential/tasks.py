"""The wing's background work: the usage pull. Thin, like every task: services do the work, and it
is safe to run twice (each record is stored once, by its id)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from core.errors import PortalError

from .services import subusers_reconcile, usage_pull

USAGE_PULL_WINDOW = timedelta(days=2)


@shared_task(name="orders.residential.tasks.pull_usage", soft_time_limit=240, time_limit=300)
def pull_usage() -> dict:
    """Every 5 minutes: pull residential usage through the provider adapter and ingest it (each
    record once, by id), then re-evaluate sub-users the system disabled (a top-up re-enables)."""
    try:
        pulled = usage_pull(since=timezone.now() - USAGE_PULL_WINDOW).as_dict()
    except PortalError as exc:  # the upstream failed: try again next time, records are idempotent
        pulled = {"error": exc.message}
    return {**pulled, "reconciled": subusers_reconcile()}
