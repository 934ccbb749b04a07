"""Check job events for customers' webhooks: the job as `GET /jobs/{job_id}` shows it."""

from events.services import event_emit

from .models import CheckJob, JobStatus


def job_completed_emit(*, job_id) -> None:
    from .api import JobOut  # the API module imports the services, which import this one

    job = CheckJob.objects.filter(pk=job_id, status=JobStatus.COMPLETED).first()
    if job is not None:
        event_emit(account=job.account_id, type="job.completed", data=dict(JobOut(job).data))
