"""Webhook endpoints, the event outbox, the pending work per (event, endpoint), and each attempt."""

from django.db import models
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_public_id


def new_endpoint_id() -> str:
    return new_public_id("whe")


def new_event_id() -> str:
    return new_public_id("evt")


def new_delivery_id() -> str:
    return new_public_id("dlv")


class EventType(models.TextChoices):
    ORDER_ACTIVATED = "order.activated"
    ORDER_FAILED = "order.failed"
    ORDER_EXPIRING = "order.expiring"
    ORDER_EXPIRED = "order.expired"
    ORDER_RENEWED = "order.renewed"
    ORDER_RENEWAL_FAILED = "order.renewal_failed"
    DEPOSIT_PENDING = "deposit.pending"
    DEPOSIT_CREDITED = "deposit.credited"
    BALANCE_LOW = "balance.low"
    PROXY_DISABLED = "proxy.disabled"
    JOB_COMPLETED = "job.completed"
    PING = "ping"


# What an endpoint may subscribe to: every type but `ping`, which the test button sends.
SUBSCRIBABLE = tuple(t.value for t in EventType if t != EventType.PING)


class EndpointQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)


class Endpoint(base.Model):
    """A customer's URL and the event types it wants. The secret signs every delivery, so it is
    kept as it is (not hashed); it is shown once, in the answer to its creation."""

    public_id = models.CharField(max_length=40, unique=True, default=new_endpoint_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=64, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, help_text="First failure since the last success")
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    objects = EndpointQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "enabled"])]

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"


class Event(base.Model):
    """The outbox: written in the transaction of the change it reports, so both commit or
    neither does. `data` is the object as the API shows it."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EventType.choices)  # noqa: A003
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class DispatchState(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up", "Gave up"


class Dispatch(base.Model):
    """One event owed to one endpoint: the worker's to-do row. `next_attempt_at` is also the
    claim (a worker pushes it forward before it calls out), so the beat's sweep finds work a
    killed worker left behind once the claim runs out."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="dispatches")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="dispatches")
    state = models.CharField(max_length=10, choices=DispatchState.choices, default=DispatchState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now, help_text="The retry window starts here")
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="dispatch_unique_event_endpoint")]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} {self.state}"


class Delivery(base.Model):
    """One attempt to deliver an event to an endpoint, as `GET …/deliveries` shows it."""

    public_id = models.CharField(max_length=40, unique=True, default=new_delivery_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.public_id} attempt {self.attempt}: {self.status_code or self.error}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
