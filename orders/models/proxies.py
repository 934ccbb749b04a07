"""Proxies: the stock the inventory provider allocates from, and those delivered to an order."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core import models as base

from .catalogue import ProxyTypeCode
from .order import Order


class ProxyProtocol(models.TextChoices):
    HTTP = "http", "HTTP"
    HTTPS = "https", "HTTPS"
    SOCKS4 = "socks4", "SOCKS4"
    SOCKS5 = "socks5", "SOCKS5"


class StockStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    ALLOCATED = "allocated", "Allocated"
    DISABLED = "disabled", "Disabled"


class InventoryProxy(base.Model):
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
    quarantined_until = models.DateTimeField(
        null=True, blank=True,
        help_text="A replaced proxy rests until then before it is sold again",
    )
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


class OrderProxy(base.Model):
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


class StockThreshold(base.Model):
    """Low-stock alert for one proxy type in one country (or in all countries together): staff
    are e-mailed once when the stock that can be sold falls below `minimum`, and again only
    after it has recovered to `minimum` or more."""

    type = models.CharField(max_length=20, choices=ProxyTypeCode.choices)
    country = models.CharField(
        max_length=2, blank=True, default="",
        help_text="ISO 3166-1 alpha-2, upper case; empty: the type's stock in every country together",
    )
    minimum = models.PositiveIntegerField(help_text="Alert when fewer proxies than this can be sold")
    alerted_at = models.DateTimeField(
        null=True, blank=True, editable=False,
        help_text="When staff were told the stock is low; cleared when it recovers",
    )

    class Meta:
        ordering = ["type", "country"]
        constraints = [
            models.UniqueConstraint(fields=["type", "country"], name="stockthreshold_unique"),
            models.CheckConstraint(condition=Q(minimum__gt=0), name="stockthreshold_minimum_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.type} in {self.country or 'all countries'}: below {self.minimum}"

    def clean(self):
        self.country = (self.country or "").strip().upper()
        if self.country and (len(self.country) != 2 or not self.country.isalpha() or not self.country.isascii()):
            raise ValidationError({"country": "Use an ISO 3166-1 alpha-2 country code, e.g. US, or leave it empty."})
