"""Orders and their paid extensions."""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_order_id
from core.money import MoneyField

from .catalogue import QUANTITY_MAX_DIGITS, QUANTITY_PLACES, ProxyTypeCode, quantity_display

TRAFFIC_MAX_DIGITS = 18
TRAFFIC_PLACES = 6
_GB_QUANTUM = Decimal(1).scaleb(-TRAFFIC_PLACES)


def format_gb(value) -> str | None:
    """Traffic in GB as a decimal string to 6 places without trailing zeros ("10", "0.25");
    None stays None."""
    if value is None:
        return None
    text = f"{Decimal(value).quantize(_GB_QUANTUM):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class OrderQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)


class Order(base.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_order_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    type = models.CharField(max_length=20, choices=ProxyTypeCode.choices)
    quantity = models.DecimalField(
        max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES,
        help_text="GB for residential, IPs otherwise",
    )
    period_days = models.PositiveIntegerField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True, default="")
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.PENDING)
    unit_price = MoneyField()
    subtotal = MoneyField()
    discount = MoneyField()
    total = MoneyField()
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it expired, failed or was cancelled")
    traffic_gb = models.DecimalField(
        max_digits=TRAFFIC_MAX_DIGITS, decimal_places=TRAFFIC_PLACES, null=True, blank=True,
        help_text="Residential traffic allowance in GB",
    )
    traffic_used_gb = models.DecimalField(
        max_digits=TRAFFIC_MAX_DIGITS, decimal_places=TRAFFIC_PLACES, default=Decimal("0")
    )
    provider = models.CharField(max_length=20, blank=True, default="")
    provider_ref = models.CharField(
        max_length=200, blank=True, default="", help_text="The provider's id of the order (upstream: its order id there)"
    )
    provider_cost = MoneyField(
        null=True, blank=True, default=None, help_text="What the provider charged for it (upstream orders)"
    )
    provider_checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker last drove its placement (the sweep re-drives stale ones)"
    )
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    extension_count = models.PositiveIntegerField(default=0)
    auto_renew = models.BooleanField(default=False, help_text="Renewed for its last period a day before it expires")
    # The last renewal that failed (short balance) in the current period: retried hourly, and
    # the customer told once per period. Cleared by every extension.
    renewal_failed_at = models.DateTimeField(null=True, blank=True)
    reminded_7d_at = models.DateTimeField(null=True, blank=True)
    reminded_3d_at = models.DateTimeField(null=True, blank=True)
    reminded_1d_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-created_at", "-id"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} ×{self.quantity} ({self.status})"

    @property
    def is_residential(self) -> bool:
        return self.type == ProxyTypeCode.RESIDENTIAL

    @property
    def quantity_display(self) -> str:
        return quantity_display(self.quantity)

    @property
    def margin(self) -> Decimal | None:
        """The order's price less what the provider charged (placement only); None without a cost."""
        return None if self.provider_cost is None else self.total - self.provider_cost

    @property
    def traffic_left_gb(self):
        if self.traffic_gb is None:
            return None
        return max(self.traffic_gb - self.traffic_used_gb, Decimal("0"))


class OrderExtension(base.Model):
    """One paid extension of an order (its ledger reference is order:<id>:extend:<number>)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="extensions")
    number = models.PositiveIntegerField()
    period_days = models.PositiveIntegerField()
    total = MoneyField()
    provider_cost = MoneyField(null=True, blank=True, default=None, help_text="What the provider charged for it")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["order", "number"], name="orderextension_unique")]

    def __str__(self) -> str:
        return f"extension {self.number} (+{self.period_days} days)"
