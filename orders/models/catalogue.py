"""The catalogue: proxy types, periods, countries and price rules (with volume and period discounts)."""

from decimal import Decimal

from django.db import models
from django.db.models import Q

from core import models as base

QUANTITY_MAX_DIGITS = 12
QUANTITY_PLACES = 3


def quantity_display(value) -> str:
    """A quantity without trailing zeros or exponent: 10, 2.5."""
    text = f"{Decimal(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class ProxyTypeCode(models.TextChoices):
    RESIDENTIAL = "residential", "Residential"
    DATACENTER = "datacenter", "Datacenter"
    ISP = "isp", "ISP"
    MOBILE = "mobile", "Mobile"
    IPV6 = "ipv6", "IPv6"


class Unit(models.TextChoices):
    GB = "GB", "GB"
    IP = "IP", "IP"


class ProxyType(base.Model):
    """An orderable product. Residential is sold by the GB, the others by the IP for a period."""

    code = models.CharField(max_length=20, choices=ProxyTypeCode.choices, unique=True)
    name = models.CharField(max_length=60)
    unit = models.CharField(max_length=2, choices=Unit.choices)
    period_required = models.BooleanField(default=True)
    min_quantity = models.DecimalField(max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES)
    max_quantity = models.DecimalField(max_digits=QUANTITY_MAX_DIGITS, decimal_places=QUANTITY_PLACES)
    is_active = models.BooleanField(default=True, help_text="Inactive types cannot be ordered.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(
        max_length=20, blank=True, default="", db_default="", choices=[("inventory", "inventory"), ("upstream", "upstream")],
        help_text="Who supplies new orders of this type. Blank: the environment's choice "
                  "(ORDER_PROVIDER_<TYPE>, else ORDER_PROVIDER).",
    )
    markup_percent = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True,
        help_text="Upstream types: percent added to the upstream's price. Blank: UPSTREAM_MARKUP_PERCENT.",
    )

    class Meta:
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(min_quantity__gt=0), name="proxytype_min_positive"),
            models.CheckConstraint(
                condition=Q(max_quantity__gte=models.F("min_quantity")), name="proxytype_max_ge_min"
            ),
            models.CheckConstraint(
                condition=Q(markup_percent__isnull=True) | Q(markup_percent__gte=0), name="proxytype_markup_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.conf import settings
        from django.core.exceptions import ValidationError

        if self.provider == "upstream" and not settings.UPSTREAM_API_URL:
            raise ValidationError({"provider": "No upstream seller is configured: set UPSTREAM_API_URL and "
                                               "UPSTREAM_API_KEY in the environment first."})

    @property
    def is_traffic(self) -> bool:
        return self.unit == Unit.GB

    @property
    def min_display(self) -> str:
        return quantity_display(self.min_quantity)

    @property
    def max_display(self) -> str:
        return quantity_display(self.max_quantity)


class Period(base.Model):
    """An orderable period in days, e.g. 30 → "30 days"."""

    days = models.PositiveIntegerField(unique=True)
    label = models.CharField(max_length=40)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["days"]
        constraints = [models.CheckConstraint(condition=Q(days__gt=0), name="period_days_positive")]

    def __str__(self) -> str:
        return self.label


class Country(base.Model):
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


class PriceRule(base.Model):
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


class VolumeTier(base.Model):
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


class PeriodDiscount(base.Model):
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
