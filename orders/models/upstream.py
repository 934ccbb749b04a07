"""What the operator sees of the upstream seller: its failed calls and its balance over time."""

from django.db import models
from django.utils import timezone

from core import models as base
from core.money import MoneyField


class UpstreamCallFailure(base.Model):
    """One call to the upstream that failed, with what the upstream answered (never the key).

    Written outside any request transaction, so a refused calc is kept even though the
    customer's request rolls back."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    operation = models.CharField(max_length=40, help_text="calc, place_order, order, order_proxies, extend_order, …")
    order = models.ForeignKey("orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: no answer came")
    error_type = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=1000, blank=True, default="")
    retry_after = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.operation}: {self.upstream_status or 'no answer'} {self.error_type}".strip()


class UpstreamBalanceCheck(base.Model):
    """The upstream balance as the beat read it; `alerted` when staff were e-mailed that time."""

    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    balance = MoneyField()
    currency = models.CharField(max_length=3, default="USD")
    alerted = models.BooleanField(default=False)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.balance} {self.currency} at {self.checked_at:%Y-%m-%d %H:%M}"
