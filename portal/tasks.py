"""Platform housekeeping on the beat schedule."""

from celery import shared_task

from api.idempotency import purge_expired_idempotency_records


@shared_task(name="portal.tasks.purge_idempotency_records")
def purge_idempotency_records() -> int:
    """Deletes Idempotency-Key records past their 24 h; returns how many."""
    return purge_expired_idempotency_records()
