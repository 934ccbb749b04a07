from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Tier
from portal.ids import new_txn_id
from portal.money import MoneyField


class EntryType(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"
    SUBSCRIPTION = "subscription", "Subscription"


class LedgerEntryQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)

    def update(self, **kwargs):
        raise TypeError("Ledger entries are immutable; post a correcting entry instead.")

    def delete(self):
        raise TypeError("Ledger entries are immutable; post a correcting entry instead.")


class LedgerEntry(models.Model):
    """One movement of money. Append-only: posted by billing.services.ledger_post alone."""

    public_id = models.CharField(max_length=40, unique=True, default=new_txn_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger_entries")
    type = models.CharField(max_length=16, choices=EntryType.choices)
    amount = MoneyField(help_text="Signed: positive credits the balance, negative debits it.")
    balance_after = MoneyField()
    description = models.CharField(max_length=255)
    # One business event (deposit tx, order charge, refund…) posts at most one entry.
    reference = models.CharField(max_length=200, unique=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = LedgerEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at", "-id"])]
        constraints = [
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_non_negative"),
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_non_zero"),
        ]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} {self.amount}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Ledger entries are immutable; post a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Ledger entries are immutable; post a correcting entry instead.")


class Plan(models.Model):
    """Operator-edited plan: the tier it grants, its price and rate limits per category."""

    name = models.CharField(max_length=80)
    tier = models.CharField(max_length=10, choices=Tier.choices, unique=True)
    price = MoneyField()
    period_days = models.PositiveIntegerField(default=30)
    limit_general = models.PositiveIntegerField(help_text="Requests per minute")
    limit_order_create = models.PositiveIntegerField(help_text="Orders per minute")
    limit_check = models.PositiveIntegerField(help_text="Check jobs per hour")
    limit_export = models.PositiveIntegerField(help_text="Exports per hour")
    max_check_job_size = models.PositiveIntegerField(default=1000, help_text="Proxies per check job")
    max_subusers = models.PositiveIntegerField(default=20, help_text="Residential sub-user proxies")
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["price"]

    def __str__(self) -> str:
        return f"{self.name} ({self.tier})"

    @property
    def limits(self) -> dict[str, int]:
        return {
            "general": self.limit_general,
            "order_create": self.limit_order_create,
            "check": self.limit_check,
            "export": self.limit_export,
        }
