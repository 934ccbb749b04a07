"""The residential wing's data: sub-user proxies drawing on residential orders, and their usage."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_proxy_id

# From the files, not from the package `orders.models`: that package imports this module (so
# Django registers these models under the app `orders`) and is not done loading yet.
from orders.models.order import TRAFFIC_MAX_DIGITS, TRAFFIC_PLACES, Order

BYTES_PER_GB = 10**9  # traffic is metered in decimal gigabytes: 1 GB = 10^9 bytes


class SubUserProtocol(models.TextChoices):
    HTTP = "http", "HTTP"
    SOCKS5 = "socks5", "SOCKS5"


class Rotation(models.TextChoices):
    ROTATING = "rotating", "Rotating"
    STICKY = "sticky", "Sticky"


class SubUserStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


class DisabledReason(models.TextChoices):
    BY_USER = "disabled_by_user", "Disabled by the customer"
    TRAFFIC_LIMIT = "traffic_limit_reached", "The proxy's own traffic limit is used up"
    ORDER_EXHAUSTED = "order_traffic_exhausted", "The order's traffic is used up"
    ORDER_INACTIVE = "order_inactive", "The order is no longer active"


class SubUserProxyQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account, deleted_at__isnull=True)


class SubUserProxy(base.Model):
    """A residential sub-user drawing on one of its account's residential orders.

    Deleting one keeps the row (`deleted_at`) so its usage history stays in the statistics."""

    public_id = models.CharField(max_length=40, unique=True, default=new_proxy_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subusers")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="subusers")
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=10, choices=SubUserProtocol.choices, default=SubUserProtocol.HTTP)
    username = models.CharField(max_length=40, unique=True, help_text="Base login; targeting is appended")
    password = models.CharField(max_length=128)
    country = models.CharField(max_length=2, blank=True, default="")
    state = models.CharField(max_length=10, blank=True, default="", help_text="ISO 3166-2 code without the country")
    city = models.CharField(max_length=120, blank=True, default="")
    zip = models.CharField(max_length=10, blank=True, default="")
    rotation = models.CharField(max_length=10, choices=Rotation.choices, default=Rotation.ROTATING)
    sticky_ttl_minutes = models.PositiveIntegerField(default=10)
    session_id = models.CharField(max_length=16, blank=True, default="")
    traffic_limit_gb = models.DecimalField(
        max_digits=TRAFFIC_MAX_DIGITS, decimal_places=TRAFFIC_PLACES, null=True, blank=True,
        help_text="The proxy's own limit in GB (10^9 bytes); empty: only the order's allowance",
    )
    traffic_used_bytes = models.BigIntegerField(default=0)
    whitelist = models.JSONField(default=list, blank=True, help_text="IP addresses and CIDR ranges")
    status = models.CharField(max_length=10, choices=SubUserStatus.choices, default=SubUserStatus.ACTIVE)
    disabled_reason = models.CharField(max_length=40, choices=DisabledReason.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Where the order is an upstream seller's (provider `upstream`): the sub-user there, and the
    # connection details it answered (orders/residential/upstream.py).
    upstream_id = models.CharField(max_length=200, blank=True, default="", db_index=True,
                                   help_text="The sub-user's id at the upstream seller")
    upstream_host = models.CharField(max_length=255, blank=True, default="")
    upstream_port = models.PositiveIntegerField(null=True, blank=True)
    upstream_username = models.CharField(max_length=255, blank=True, default="",
                                         help_text="The upstream's connection username, targeting included")
    upstream_pending = models.BooleanField(
        default=False, help_text="The system changed it here and the upstream has not been told yet",
    )

    objects = SubUserProxyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "sub-user proxy"
        verbose_name_plural = "sub-user proxies"
        indexes = [
            models.Index(fields=["account", "-created_at", "-id"]),
            models.Index(fields=["order", "status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(traffic_used_bytes__gte=0), name="subuser_used_non_negative"),
            models.CheckConstraint(
                condition=Q(traffic_limit_gb__isnull=True) | Q(traffic_limit_gb__gt=0), name="subuser_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(status="active", disabled_reason="") | Q(status="disabled") & ~Q(disabled_reason=""),
                name="subuser_disabled_has_reason",
            ),
            models.UniqueConstraint(
                "account", Lower("name"), condition=Q(deleted_at__isnull=True), name="subuser_unique_live_name",
                violation_error_message="A proxy of this name already exists in the account.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.name} ({self.status})"

    @property
    def traffic_used_gb(self) -> Decimal:
        return Decimal(self.traffic_used_bytes) / BYTES_PER_GB

    @property
    def traffic_limit_bytes(self) -> int | None:
        if self.traffic_limit_gb is None:
            return None
        return int(self.traffic_limit_gb * BYTES_PER_GB)


class UsageRecord(base.Model):
    """One metered record from the provider (webhook or pull), stored once per provider record id.

    `period_start` is the hour bucket the record's time falls in; `order` is the order whose
    allowance the traffic was drawn from."""

    record_id = models.CharField(max_length=200, unique=True)
    # Few indexes: a record is written once and read by its id (deduplication), by its hour (the
    # purge) and by proxy; statistics read the rollups. Each index more costs every ingest.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="usage_records", db_index=False)
    proxy = models.ForeignKey(SubUserProxy, on_delete=models.PROTECT, related_name="usage_records", db_index=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="usage_records")
    period_start = models.DateTimeField()
    bytes_in = models.BigIntegerField()
    bytes_out = models.BigIntegerField()
    requests = models.BigIntegerField(default=0)
    source = models.CharField(max_length=10, default="webhook")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period_start", "-id"]
        indexes = [
            models.Index(fields=["proxy", "period_start"]),
            models.Index(fields=["period_start"], name="usage_record_hour"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(bytes_in__gte=0, bytes_out__gte=0, requests__gte=0), name="usage_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.bytes_in + self.bytes_out} bytes"

    @property
    def bytes_total(self) -> int:
        return self.bytes_in + self.bytes_out


class UsageRollup(base.Model):
    """Usage summed per proxy and period, kept up to date at ingest (`services.usage_ingest`
    adds each new record's figures once, in the record's own transaction). Statistics read
    these, never the raw records, which are purged after `USAGE_RAW_RETENTION_DAYS`."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    proxy = models.ForeignKey(SubUserProxy, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.proxy_id} {self.period_start:%Y-%m-%d %H:00}: {self.bytes_total} bytes"

    @property
    def bytes_total(self) -> int:
        return self.bytes_in + self.bytes_out


class UsageHourly(UsageRollup):
    """One row per proxy and hour (UTC)."""

    class Meta:
        ordering = ["period_start", "proxy_id"]
        verbose_name = "hourly usage"
        verbose_name_plural = "hourly usage"
        indexes = [models.Index(fields=["account", "period_start"])]
        constraints = [models.UniqueConstraint(fields=["proxy", "period_start"], name="usage_hourly_bucket")]


class UsageDaily(UsageRollup):
    """One row per proxy and day (UTC, `period_start` at midnight)."""

    class Meta:
        ordering = ["period_start", "proxy_id"]
        verbose_name = "daily usage"
        verbose_name_plural = "daily usage"
        indexes = [models.Index(fields=["account", "period_start"])]
        constraints = [models.UniqueConstraint(fields=["proxy", "period_start"], name="usage_daily_bucket")]


class UsageTotal(base.Model):
    """All the traffic a proxy drew from one order: what a proxy and an order have used, read
    without summing a year of records (and still right once the records are purged)."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    proxy = models.ForeignKey(SubUserProxy, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="+")
    bytes_in = models.BigIntegerField(default=0)
    bytes_out = models.BigIntegerField(default=0)
    requests = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = "usage total"
        indexes = [models.Index(fields=["order"])]
        constraints = [models.UniqueConstraint(fields=["proxy", "order"], name="usage_total_per_order")]

    def __str__(self) -> str:
        return f"{self.proxy_id} on {self.order_id}: {self.bytes_in + self.bytes_out} bytes"


class UsagePurge(base.Model):
    """One run of the raw records' purge. Records of hours before the latest `before` can no
    longer be told apart from a re-sent one, so ingest refuses them (they are reported back)."""

    before = models.DateTimeField(help_text="Records of hours before this were deleted")
    deleted = models.BigIntegerField(default=0)
    ran_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-before"]
        get_latest_by = "before"

    def __str__(self) -> str:
        return f"before {self.before:%Y-%m-%d %H:00}: {self.deleted} deleted"
