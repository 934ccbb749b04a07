"""Orders: the catalogue (proxy types, periods, countries, price rules), orders and stock.

Sub-user proxies, usage and geo models (the residential wing) live further down in this module.
"""

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core.ids import new_order_id, new_proxy_id
from core.money import MoneyField

QUANTITY_MAX_DIGITS = 12
QUANTITY_PLACES = 3
TRAFFIC_MAX_DIGITS = 18
TRAFFIC_PLACES = 6


def quantity_display(value) -> str:
    """A quantity without trailing zeros or exponent: 10, 2.5."""
    text = f"{Decimal(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- catalogue ---------------------------------------------------------------------------


class ProxyTypeCode(models.TextChoices):
    RESIDENTIAL = "residential", "Residential"
    DATACENTER = "datacenter", "Datacenter"
    ISP = "isp", "ISP"
    MOBILE = "mobile", "Mobile"
    IPV6 = "ipv6", "IPv6"


class Unit(models.TextChoices):
    GB = "GB", "GB"
    IP = "IP", "IP"


class ProxyType(models.Model):
    """An orderable product. Residential is sold by the GB, the others by the IP for a period."""

    code = models.CharField(max_length=20, choices=ProxyTypeCode.choices, unique=True)
    name = models.CharField(max_length=60)
    unit = models.CharField(max_length=2, choices=Unit.choices)
    period_required = models.BooleanField(default=True)
    min_quantity = models.DecimalField(max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES)
    max_quantity = models.DecimalField(max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES)
    is_active = models.BooleanField(default=True, help_text="Inactive types cannot be ordered.")
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(min_quantity__gt=0), name="proxytype_min_positive"),
            models.CheckConstraint(
                condition=Q(max_quantity__gte=models.F("min_quantity")), name="proxytype_max_ge_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_traffic(self) -> bool:
        return self.unit == Unit.GB

    @property
    def min_display(self) -> str:
        return quantity_display(self.min_quantity)

    @property
    def max_display(self) -> str:
        return quantity_display(self.max_quantity)


class Period(models.Model):
    """An orderable period in days, e.g. 30 → "30 days"."""

    days = models.PositiveIntegerField(unique=True)
    label = models.CharField(max_length=40)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["days"]
        constraints = [models.CheckConstraint(condition=Q(days__gt=0), name="period_days_positive")]

    def __str__(self) -> str:
        return self.label


class Country(models.Model):
    """A country orderable for the proxy types it lists."""

    code = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2, upper case")
    name = models.CharField(max_length=80)
    types = models.ManyToManyField(ProxyType, related_name="countries", blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PriceRule(models.Model):
    """The unit price of a type, optionally for one country (a country rule beats the generic one).

    For period-bound types `unit_price` is per IP per `base_period_days` and scales linearly
    with the ordered period; for residential it is per GB.
    """

    proxy_type = models.ForeignKey(ProxyType, on_delete=models.CASCADE, related_name="price_rules")
    country = models.ForeignKey(
        Country, null=True, blank=True, on_delete=models.CASCADE, related_name="price_rules",
        help_text="Empty: applies to every country without a rule of its own.",
    )
    unit_price = models.DecimalField(max_digits=14, decimal_places=4)
    base_period_days = models.PositiveIntegerField(default=30)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["proxy_type__sort_order", "country__code"]
        constraints = [
            models.CheckConstraint(condition=Q(unit_price__gt=0), name="pricerule_unit_price_positive"),
            models.CheckConstraint(condition=Q(base_period_days__gt=0), name="pricerule_base_period_positive"),
            models.UniqueConstraint(
                fields=["proxy_type", "country"], name="pricerule_unique_type_country"
            ),
            models.UniqueConstraint(
                fields=["proxy_type"], condition=Q(country__isnull=True), name="pricerule_unique_type_default"
            ),
        ]

    def __str__(self) -> str:
        where = self.country.code if self.country_id else "any country"
        return f"{self.proxy_type} / {where}: {self.unit_price}"


class VolumeTier(models.Model):
    """From `min_quantity` units on, `discount_percent` off (the highest matching tier applies)."""

    rule = models.ForeignKey(PriceRule, on_delete=models.CASCADE, related_name="volume_tiers")
    min_quantity = models.DecimalField(max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["min_quantity"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "min_quantity"], name="volumetier_unique"),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0, discount_percent__lt=100), name="volumetier_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"≥ {self.min_quantity}: -{self.discount_percent}%"


class PeriodDiscount(models.Model):
    """Ordering `period_days` (exactly) takes `discount_percent` off."""

    rule = models.ForeignKey(PriceRule, on_delete=models.CASCADE, related_name="period_discounts")
    period_days = models.PositiveIntegerField()
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2)

    class Meta:
        ordering = ["period_days"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "period_days"], name="perioddiscount_unique"),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0, discount_percent__lt=100), name="perioddiscount_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.period_days} days: -{self.discount_percent}%"


# --- orders ----------------------------------------------------------------------------------


class OrderStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class OrderQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)


class Order(models.Model):
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
    provider_ref = models.CharField(max_length=200, blank=True, default="")
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    extension_count = models.PositiveIntegerField(default=0)
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
    def traffic_left_gb(self):
        if self.traffic_gb is None:
            return None
        return max(self.traffic_gb - self.traffic_used_gb, Decimal("0"))


class OrderExtension(models.Model):
    """One paid extension of an order (its ledger reference is order:<id>:extend:<number>)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="extensions")
    number = models.PositiveIntegerField()
    period_days = models.PositiveIntegerField()
    total = MoneyField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["number"]
        constraints = [models.UniqueConstraint(fields=["order", "number"], name="orderextension_unique")]

    def __str__(self) -> str:
        return f"extension {self.number} (+{self.period_days} days)"


class ProxyProtocol(models.TextChoices):
    HTTP = "http", "HTTP"
    HTTPS = "https", "HTTPS"
    SOCKS4 = "socks4", "SOCKS4"
    SOCKS5 = "socks5", "SOCKS5"


class StockStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ALLOCATED = "allocated", "Allocated"
    DISABLED = "disabled", "Disabled"


class InventoryProxy(models.Model):
    """Operator-loaded stock the inventory provider allocates from."""

    type = models.CharField(max_length=20, choices=ProxyTypeCode.choices)
    country = models.CharField(max_length=2)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=255, blank=True, default="")
    password = models.CharField(max_length=255, blank=True, default="")
    protocol = models.CharField(max_length=10, choices=ProxyProtocol.choices, default=ProxyProtocol.HTTP)
    status = models.CharField(max_length=10, choices=StockStatus.choices, default=StockStatus.AVAILABLE)
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="inventory_proxies"
    )
    allocated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["type", "country", "id"]
        verbose_name_plural = "inventory proxies"
        indexes = [
            models.Index(fields=["type", "country", "status"]),
            # Placement takes the lowest free ids of a type and country: without this, that
            # scan walks past every row ever sold, and slows down with each sale.
            models.Index(fields=["type", "country", "id"], condition=Q(status="available"),
                         name="inventoryproxy_free"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["type", "host", "port", "username"], name="inventoryproxy_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="allocated", order__isnull=False) | ~Q(status="allocated"),
                name="inventoryproxy_allocated_has_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host}:{self.port} ({self.type}/{self.country}, {self.status})"


class OrderProxy(models.Model):
    """A proxy delivered to an order (from stock, an upstream, or the residential gateway)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="proxies")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=255, blank=True, default="")
    password = models.CharField(max_length=255, blank=True, default="")
    protocol = models.CharField(max_length=10, choices=ProxyProtocol.choices, default=ProxyProtocol.HTTP)
    country = models.CharField(max_length=2, blank=True, default="")
    inventory = models.ForeignKey(
        InventoryProxy, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "order proxies"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


# --- residential sub-user proxies, usage -------------------------------------------------------

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


class SubUserProxy(models.Model):
    """A residential sub-user drawing on one of its account's residential orders.

    Deleting one keeps the row (`deleted_at`) so its usage history stays in the statistics."""

    public_id = models.CharField(max_length=40, unique=True, default=new_proxy_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subusers")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="subusers")
    name = models.CharField(max_length=100)
    protocol = models.CharField(max_length=10, choices=SubUserProtocol.choices, default=SubUserProtocol.HTTP)
    username = models.CharField(max_length=40, unique=True, help_text="Base login; targeting is appended")
    password = models.CharField(max_length=64)
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


class UsageRecord(models.Model):
    """One metered record from the provider (webhook or pull), stored once per provider record id.

    `period_start` is the hour bucket the record's time falls in; `order` is the order whose
    allowance the traffic was drawn from."""

    record_id = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="usage_records")
    proxy = models.ForeignKey(SubUserProxy, on_delete=models.PROTECT, related_name="usage_records")
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
            models.Index(fields=["account", "period_start"]),
            models.Index(fields=["proxy", "period_start"]),
            models.Index(fields=["order"]),
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
