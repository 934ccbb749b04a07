from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_deposit_id, new_txn_id
from core.money import MoneyField


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


class LedgerEntry(base.Model):
    """One movement of money. Append-only: posted by billing.services.ledger_post alone."""

    public_id = models.CharField(max_length=40, unique=True, default=new_txn_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="ledger_entries")
    type = models.CharField(max_length=16, choices=EntryType.choices)
    amount = MoneyField(help_text="Signed: positive credits the balance, negative debits it.")
    balance_after = MoneyField()
    description = models.CharField(max_length=255)
    # One business event (deposit tx, order charge, refund…) posts at most one entry.
    reference = models.CharField(max_length=200, unique=True)
    # The public id of the order the entry pays for or refunds, if any (billing knows no orders).
    order_public_id = models.CharField(max_length=40, null=True, blank=True, db_index=True)
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


class Chain(models.TextChoices):
    """The extended public keys deposit addresses derive from (settings `DEPOSIT_XPUB_<CHAIN>`)."""

    BTC = "BTC", "Bitcoin"
    LTC = "LTC", "Litecoin"
    ETH = "ETH", "Ethereum (ETH and USDT-ERC20)"
    TRX = "TRX", "TRON (USDT-TRC20)"


class DerivationCounter(base.Model):
    """Next unused index per extended key: the row lock that serialises index allocation.

    `key_id` is the chain plus a fingerprint of the configured key, so a rotated key starts
    its own sequence while the old key's indices are never handed out again.
    """

    key_id = models.CharField(max_length=40, unique=True)
    chain = models.CharField(max_length=3, choices=Chain.choices)
    next_index = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key_id} next={self.next_index}"


class DepositAddressQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)

    def unused(self):
        return self.filter(used_at__isnull=True)


class DepositAddress(base.Model):
    """An address derived for one account; never handed to another account, never recycled."""

    public_id = models.CharField(max_length=40, unique=True, default=new_deposit_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deposit_addresses")
    currency = models.CharField(max_length=8)
    network = models.CharField(max_length=8)
    chain = models.CharField(max_length=3, choices=Chain.choices)
    key_id = models.CharField(max_length=40, help_text="Chain and fingerprint of the extended public key")
    derivation_path = models.CharField(max_length=40, help_text="Relative to the account-level key")
    derivation_index = models.PositiveIntegerField()
    address = models.CharField(max_length=120, unique=True)
    used_at = models.DateTimeField(null=True, blank=True, help_text="First deposit seen")
    created_at = models.DateTimeField(default=timezone.now)

    objects = DepositAddressQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key_id", "derivation_index"], name="deposit_address_unique_key_index"),
        ]
        indexes = [models.Index(fields=["account", "currency", "network"])]
        verbose_name_plural = "deposit addresses"

    def __str__(self) -> str:
        return f"{self.currency}/{self.network} {self.address}"


class DepositStatus(models.TextChoices):
    PENDING = "pending", "Pending confirmations"
    CREDITED = "credited", "Credited"


class Deposit(base.Model):
    """One on-chain output paid to a deposit address; credited at most once."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="deposits")
    address = models.ForeignKey(DepositAddress, on_delete=models.PROTECT, related_name="deposits")
    currency = models.CharField(max_length=8)
    network = models.CharField(max_length=8)
    txid = models.CharField(max_length=128)
    vout = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=40, decimal_places=18, help_text="In the coin's units")
    amount_usd = MoneyField()
    confirmations = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=DepositStatus.choices, default=DepositStatus.PENDING)
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="deposit"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "network", "txid", "vout"], name="deposit_unique_output"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.currency}/{self.network} {self.txid}:{self.vout} {self.status}"

    @property
    def ledger_reference(self) -> str:
        return f"deposit:{self.currency}:{self.network}:{self.txid}:{self.vout}"

    @property
    def amount_text(self) -> str:
        """The coin amount without trailing zeros or an exponent (0.0015, not 0.001500000000000000)."""
        return f"{self.amount.normalize():f}"


class DepositDelivery(base.Model):
    """Calls to POST /webhooks/deposits, for the operator: every signed one with its body,
    the newest refused ones (bad or missing signature) without it."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    raw_body = models.TextField(blank=True)
    signature = models.CharField(max_length=200, blank=True)
    signature_ok = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=255)
    deposit = models.ForeignKey(
        Deposit, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "deposit deliveries"
        indexes = [
            # Refused calls are pruned to the newest few (billing.webhooks.REJECTED_KEEP):
            # this keeps finding them cheap however many signed deliveries there are.
            models.Index(fields=["id"], condition=Q(signature_ok=False), name="deposit_delivery_rejected"),
        ]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.status_code} {self.outcome}"


class AccountBalance(Account):
    """Accounts seen from billing in the admin: balances and the credit/debit action."""

    class Meta:
        proxy = True
        verbose_name = "account balance"
