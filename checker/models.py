"""Check jobs of customers, and the operator's public and premium proxy pools."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core import models as base

PROTOCOLS = ("http", "https", "socks4", "socks5")
ANONYMITY_LEVELS = ("transparent", "anonymous", "elite")
UPTIME_WINDOW = 20  # the last N checks of a pool proxy make its uptime_score


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class ItemStatus(models.TextChoices):
    LIVE = "live", "Live"
    DEAD = "dead", "Dead"


class CheckJobQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)


class CheckJob(base.Model):
    """A customer's list of proxies to check. The UUID is the public id (`job_id`)."""

    job_id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="check_jobs")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    live = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    # The first invalid lines (checker.engine.parse.INVALID_SAMPLE, each cut short), to show.
    invalid_lines = models.JSONField(default=list, blank=True)
    duplicates = models.PositiveIntegerField(default=0)
    include_anonymity = models.BooleanField(default=False)
    target_url = models.CharField(max_length=2048, blank=True)
    expect_text = models.CharField(max_length=512, blank=True)
    # The unique valid proxies to check, one normalised proxy a line (re-parsed by the task).
    proxies = models.TextField(blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    objects = CheckJobQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["account", "-created_at"], name="checkjob_account_created"),
            models.Index(fields=["status", "heartbeat_at"], name="checkjob_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.status}, {self.done}/{self.total})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.is_finished else 0
        return min(100, (self.done * 100) // self.total)


class CheckItem(base.Model):
    """The result of one proxy of a job."""

    # Indexed with `id` below: a page of a job's items, in id order, reads only that page.
    job = models.ForeignKey(CheckJob, on_delete=models.CASCADE, related_name="items", db_index=False)
    proxy_norm = models.CharField(max_length=600)
    status = models.CharField(max_length=4, choices=ItemStatus.choices)
    protocol = models.CharField(max_length=6, blank=True)
    connect_ms = models.PositiveIntegerField(null=True, blank=True)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True)
    exit_ip = models.CharField(max_length=45, blank=True)
    country = models.CharField(max_length=2, blank=True)
    anonymity = models.CharField(max_length=11, blank=True)
    error = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["job", "id"], name="checkitem_job_order"),
            models.Index(fields=["job", "status"], name="checkitem_job_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "proxy_norm"], name="checkitem_unique_per_job"),
        ]

    def __str__(self) -> str:
        return f"{self.proxy_norm} {self.status}"


class ShardStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class CheckShard(base.Model):
    """A slice of a job's list, lines [start, end): a task any worker takes.

    `attempt` counts the claims and fences the writes: a worker stores results only while the
    shard is still running under its own attempt, so a worker that lost the shard (its heartbeat
    went stale and the sweep handed it on) writes nothing more.
    """

    job = models.ForeignKey(CheckJob, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    start = models.PositiveIntegerField()
    end = models.PositiveIntegerField()
    status = models.CharField(max_length=7, choices=ShardStatus.choices, default=ShardStatus.QUEUED)
    attempt = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="checkshard_unique_per_job"),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="checkshard_status_heartbeat")]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index} [{self.start}, {self.end}) {self.status}"


class Pool(models.TextChoices):
    PUBLIC = "public", "Public"
    PREMIUM = "premium", "Premium"


class PoolStatus(models.TextChoices):
    UNCHECKED = "unchecked", "Unchecked"
    LIVE = "live", "Live"
    DEAD = "dead", "Dead"


_LIVE = Q(last_status="live")


class PoolProxy(base.Model):
    """A proxy of the public or premium pool, re-checked on schedule.

    `history` is a ring of the last UPTIME_WINDOW outcomes ('1' live, '0' dead), oldest first;
    `uptime_score` is its share of '1'. The partial indexes cover every filter of the list
    endpoints (which only ever show proxies whose latest check succeeded).
    """

    pool = models.CharField(max_length=7, choices=Pool.choices)
    proxy_norm = models.CharField(max_length=600)
    scheme = models.CharField(max_length=6, blank=True, help_text="Protocol given at import, if any")
    protocol = models.CharField(max_length=6, blank=True, help_text="Protocol found by the latest live check")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=255, blank=True)
    password = models.CharField(max_length=255, blank=True)
    country = models.CharField(max_length=2, blank=True)
    anonymity = models.CharField(max_length=11, blank=True)
    exit_ip = models.CharField(max_length=45, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_status = models.CharField(max_length=9, choices=PoolStatus.choices, default=PoolStatus.UNCHECKED)
    last_error = models.CharField(max_length=40, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    history = models.CharField(max_length=UPTIME_WINDOW, blank=True)
    uptime_score = models.FloatField(default=0.0)
    source = models.CharField(max_length=100, default="import")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "pool proxy"
        verbose_name_plural = "pool proxies"
        constraints = [
            models.UniqueConstraint(fields=["pool", "proxy_norm"], name="poolproxy_unique_per_pool"),
        ]
        indexes = [
            # default listing: fresh live proxies, newest check first; also meta.refreshed_at
            models.Index(fields=["pool", "-last_checked_at", "id"], condition=_LIVE, name="pool_live_checked"),
            models.Index(fields=["pool", "protocol", "-last_checked_at"], condition=_LIVE, name="pool_live_protocol"),
            models.Index(fields=["pool", "country", "-last_checked_at"], condition=_LIVE, name="pool_live_country"),
            models.Index(fields=["pool", "anonymity", "-last_checked_at"], condition=_LIVE, name="pool_live_anonymity"),
            models.Index(fields=["pool", "latency_ms"], condition=_LIVE, name="pool_live_latency"),
            models.Index(fields=["pool", "uptime_score"], condition=_LIVE, name="pool_live_uptime"),
            # re-check walks a pool by id
            models.Index(fields=["pool", "id"], name="pool_id"),
        ]

    def __str__(self) -> str:
        return f"{self.pool}: {self.proxy_norm}"


class PoolShard(base.Model):
    """The pool proxies of ids [first_id, last_id], re-checked as one task.

    Ranges never overlap and never shrink: new proxies (higher ids) fill the last shard up to
    the shard size, then make new shards. A shard runs in one worker at a time: claiming it is
    a conditional update (idle or queued, or running with a stale heartbeat), and `attempt`
    fences the writes as for `CheckShard`. `checked`/`live` count the current or latest run.
    """

    pool = models.CharField(max_length=7, choices=Pool.choices)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    status = models.CharField(max_length=7, choices=ShardStatus.choices, default=ShardStatus.DONE)
    attempt = models.PositiveIntegerField(default=0)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    live = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pool", "first_id"], name="poolshard_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.pool} [{self.first_id}, {self.last_id}] {self.status}"
