"""Delivery of webhook events. Each call makes at most one attempt; the service schedules the
next one, and the beat's sweep re-drives what a lost message or a killed worker left pending."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def deliver(dispatch_id: int) -> None:
    services.dispatch_deliver(dispatch_id=dispatch_id)


@shared_task(ignore_result=True)
def redrive_undelivered() -> int:
    return services.dispatches_redrive()


@shared_task(ignore_result=True)
def purge_old_events() -> int:
    return services.events_purge_old()
