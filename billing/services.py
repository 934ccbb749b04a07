"""The ledger (the one place money moves), deposits, adjustments and premium."""

import uuid
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account, AuditLogEntry, Plan, User
from accounts.services import account_lock, audit_log
from api.snapshots import account_auth_changed
from billing.derivation import (
    CURRENCIES,
    CURRENCY_NETWORKS,
    DEFAULT_NETWORK,
    NETWORKS,
    DerivationError,
    configured_xpub,
    derive_address,
    key_id_for,
    normalise_address,
)
from billing.events import balance_low_emit, deposit_event_emit
from billing.models import (
    Chain,
    Deposit,
    DepositAddress,
    DepositStatus,
    DerivationCounter,
    EntryType,
    LedgerEntry,
)
from billing.selectors import confirmations_required
from core.db import insert_unless_conflict
from core.errors import Conflict, DomainValidationError, InsufficientFunds, NotFound
from core.metrics import ledger_postings
from core.money import MONEY_MAX, money_str, to_money

MAX_UNUSED_ADDRESSES = 5
REFERENCE_MAX_LENGTH = 200
# The most a money column holds (`core.money.MoneyField`): balances, ledger amounts and
# `balance_after` alike, so also the most an account can hold.
BALANCE_MAX = MONEY_MAX
ADJUSTMENT_MAX = Decimal("99999999999.99")


class DuplicateReference(Conflict):
    default_message = "This business event was already posted to the ledger."


class BalanceLimitExceeded(DomainValidationError):
    """A posting whose amount, or the balance it would leave, is more than an account can hold.

    Refused before anything is written, so the database never sees a number its money
    columns cannot store. `field` names the input the amount came from.
    """

    LIMIT = f"the most an account can hold ({BALANCE_MAX} USD)"

    def __init__(self, *, balance: Decimal | None = None, field: str = "amount", message: str | None = None):
        if message is None:
            message = (f"This amount is more than {self.LIMIT}." if balance is None
                       else f"This would take the balance of {money_str(balance)} USD above {self.LIMIT}.")
        super().__init__({field: message})


def ledger_post(
    *,
    account: Account,
    type: str,  # noqa: A002 - mirrors the entry's field
    amount: Decimal,
    reference: str,
    description: str,
    created_by: User | None = None,
    allow_duplicate: bool = False,
    order_public_id: str | None = None,
) -> LedgerEntry | None:
    """Posts one signed movement and updates the cached balance, atomically.

    Locks the account row first (the fixed lock order of docs/architecture.md), so concurrent
    posts to one account queue behind each other and each sees the balance the previous
    one left. A debit larger than the balance raises InsufficientFunds and writes nothing.
    A reference already posted raises DuplicateReference, or returns None when
    `allow_duplicate` (replays of the same business event). An amount, or a resulting
    balance, above BALANCE_MAX raises BalanceLimitExceeded and writes nothing. The amount
    is rounded once, by `core.money.to_money` (half up to the cent). `order_public_id` names
    the order an entry pays for or refunds (shown as the transaction's `order_id`).
    """
    if type not in EntryType.values:
        raise ValueError(f"unknown ledger entry type {type!r}")
    if not reference or len(reference) > REFERENCE_MAX_LENGTH:
        raise ValueError(f"a ledger reference is 1 to {REFERENCE_MAX_LENGTH} characters")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError("a ledger entry moves a finite amount")
    if amount.copy_abs() > BALANCE_MAX:  # checked unrounded: nothing at most BALANCE_MAX rounds above it
        raise BalanceLimitExceeded()
    amount = to_money(amount)
    if amount == 0:
        raise ValueError("a ledger entry moves a non-zero amount")
    # No savepoint of its own inside a caller's transaction: a refusal is raised after the
    # block, which wrote nothing, and a database error fails the caller's transaction as a
    # whole. Placement would otherwise pay two more round trips for every charge.
    with transaction.atomic(savepoint=False):
        locked = account_lock(account.pk)
        new_balance = locked.balance + amount
        entry = LedgerEntry(
            account=locked, type=type, amount=amount, balance_after=new_balance, reference=reference,
            description=description[:255], created_by=created_by, order_public_id=order_public_id or None,
        )
        # A debit that would overdraw, or a credit that would take the balance past what
        # its column holds, is refused, unless it is a replay of a posted event, which is a
        # duplicate whatever the balance is now.
        covered = new_balance >= 0
        fits = new_balance <= BALANCE_MAX
        posted = covered and fits and insert_unless_conflict(entry)
        if posted:
            transaction.on_commit(ledger_postings.labels(type).inc)
            changes = {"balance": new_balance, **_low_balance_alert_change(locked, amount, new_balance)}
            Account.objects.filter(pk=locked.pk).update(**changes)
            account_auth_changed(locked.pk)  # API processes hold the balance in their key snapshots
            if changes.get("low_balance_alerted"):
                locked.balance, locked.low_balance_alerted = new_balance, True
                balance_low_emit(account=locked)
        else:
            # Not inserted: the reference is posted already, by now or earlier (the unique
            # index waited for a concurrent transaction), or the new balance would not fit.
            duplicate = LedgerEntry.objects.filter(reference=reference).exists()
            if not duplicate and covered and fits:
                raise IntegrityError(f"ledger entry {entry.public_id} conflicts with another one")
    if not posted:
        if not duplicate and not fits:
            raise BalanceLimitExceeded(balance=locked.balance)
        if not duplicate:
            raise InsufficientFunds(
                f"Your balance is {money_str(locked.balance)} USD, lower than the {money_str(-amount)} USD needed."
            )
        if allow_duplicate:
            return None
        raise DuplicateReference()
    account.balance = new_balance
    return entry


def _low_balance_alert_change(account: Account, amount: Decimal, new_balance: Decimal) -> dict:
    """`balance.low` is sent when a charge leaves the balance under the account's threshold,
    and not again until the balance has risen above it."""
    threshold = account.low_balance_threshold
    if threshold is None:
        return {}
    if amount < 0 and new_balance < threshold and not account.low_balance_alerted:
        return {"low_balance_alerted": True}
    if new_balance > threshold and account.low_balance_alerted:
        return {"low_balance_alerted": False}
    return {}


# --- Operator adjustments ---------------------------------------------------------------


def balance_adjust(
    *,
    account: Account,
    amount: Decimal,
    reason: str,
    actor: User | None = None,
    actor_label: str = "operator",
    ip: str | None = None,
) -> LedgerEntry:
    """A signed `adjustment` by an operator, with a reason; refuses to overdraw."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainValidationError({"reason": "Give a reason for the adjustment."})
    try:
        amount = Decimal(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise DomainValidationError({"amount": "Enter an amount such as 25.00 or -10.00."}) from None
    if not amount.is_finite():
        raise DomainValidationError({"amount": "Enter an amount such as 25.00 or -10.00."})
    if amount.copy_abs() > ADJUSTMENT_MAX:
        raise DomainValidationError({"amount": f"The amount is too large: at most {ADJUSTMENT_MAX} USD either way."})
    amount = to_money(amount)
    if amount == 0:
        raise DomainValidationError({"amount": "The amount must not be zero."})
    with transaction.atomic():
        entry = ledger_post(
            account=account,
            type=EntryType.ADJUSTMENT,
            amount=amount,
            reference=f"adjustment:{uuid.uuid4().hex}",
            description=f"Adjustment: {reason}",
            created_by=actor,
        )
        audit_log(
            account=account, action="balance.adjusted", actor=actor,
            actor_label=actor.email if actor else actor_label, target=entry.public_id, ip=ip,
            details={"amount": money_str(amount), "reason": reason[:500], "balance_after": money_str(entry.balance_after)},
        )
    return entry


# --- Deposit addresses ------------------------------------------------------------------


def resolve_network(*, currency, network) -> tuple[str, str]:
    """Validates a (currency, network) choice (docs/api.md#account-and-billing); returns it upper-cased."""
    if not isinstance(currency, str) or currency.strip().upper() not in CURRENCIES:
        raise DomainValidationError({"currency": f"Choose one of {', '.join(CURRENCIES)}."})
    currency = currency.strip().upper()
    allowed = CURRENCY_NETWORKS[currency]
    if network is None or (isinstance(network, str) and network.strip() == ""):
        if currency not in DEFAULT_NETWORK:
            raise DomainValidationError({"network": f"{currency} needs a network: {' or '.join(allowed)}."})
        return currency, DEFAULT_NETWORK[currency]
    if not isinstance(network, str) or network.strip().upper() not in allowed:
        raise DomainValidationError({"network": f"{currency} is available on {' or '.join(allowed)} only."})
    return currency, network.strip().upper()


def deposit_address_create(*, account: Account, currency, network=None, actor: User | None = None) -> DepositAddress:
    """A fresh address for the account, from the next unused index of the chain's key.

    Lock order: the account row (so the 5-unused limit holds under concurrency), then the
    key's counter row (so two accounts never get the same index). The unique constraint on
    (key, index) and on the address backs both.
    """
    currency, network = resolve_network(currency=currency, network=network)
    spec = NETWORKS[(currency, network)]
    xpub = configured_xpub(spec.chain)
    field = "network" if len(CURRENCY_NETWORKS[currency]) > 1 else "currency"
    if not xpub:
        raise DomainValidationError(
            {field: f"No deposit key is configured for chain {spec.chain} (DEPOSIT_XPUB_{spec.chain}); "
                    f"{currency} on {network} is unavailable."}
        )
    key_id = key_id_for(spec.chain, xpub)
    with transaction.atomic():
        account_lock(account.pk)
        unused = DepositAddress.objects.for_account(account).unused().filter(currency=currency, network=network).count()
        if unused >= MAX_UNUSED_ADDRESSES:
            raise Conflict(
                f"This account already holds {MAX_UNUSED_ADDRESSES} unused {currency} ({network}) addresses; "
                "use one of them first."
            )
        DerivationCounter.objects.get_or_create(key_id=key_id, defaults={"chain": spec.chain})
        counter = DerivationCounter.objects.select_for_update().get(key_id=key_id)
        # Skip past any index already issued (e.g. the counter was recreated by hand).
        last = (
            DepositAddress.objects.filter(key_id=key_id).order_by("-derivation_index")
            .values_list("derivation_index", flat=True).first()
        )
        index = max(counter.next_index, -1 if last is None else last + 1)
        try:
            address = derive_address(spec.chain, xpub, index)
        except DerivationError as exc:
            raise DomainValidationError({field: str(exc)}) from None
        created = DepositAddress.objects.create(
            account=account, currency=currency, network=network, chain=spec.chain, key_id=key_id,
            derivation_path=f"0/{index}", derivation_index=index, address=address,
        )
        DerivationCounter.objects.filter(pk=counter.pk).update(next_index=index + 1)
        if actor is not None:
            audit_log(account=account, action="deposit_address.created", actor=actor, target=created.public_id,
                      details={"currency": currency, "network": network, "address": address})
    return created


# --- Deposit notifications --------------------------------------------------------------


def deposit_notification_apply(
    *, currency: str, network: str, address: str, txid: str, vout: int,
    amount: Decimal, amount_usd: Decimal, confirmations: int,
) -> tuple[Deposit, str]:
    """Records one watcher notification; credits the deposit once it is confirmed enough.

    Idempotent per (currency, network, txid, vout): the deposit row is unique and its ledger
    reference too, and the account row lock serialises concurrent deliveries. Returns the
    deposit and a short outcome for the delivery log. Raises NotFound for an address the
    portal never issued, Conflict when the output was already reported to another address.
    """
    currency, network = resolve_network(currency=currency, network=network)
    chain = NETWORKS[(currency, network)].chain
    wanted = normalise_address(chain, address)
    lookup = {"address__iexact": wanted} if chain == Chain.ETH else {"address": wanted}
    deposit_address = DepositAddress.objects.filter(chain=chain, **lookup).first()
    if deposit_address is None:
        raise NotFound(f"No deposit address {address} on {network} was issued by this portal.")
    account = deposit_address.account
    amount_usd = to_money(amount_usd)
    required = confirmations_required(chain)
    now = timezone.now()
    with transaction.atomic():
        account_lock(account.pk)
        deposit = (
            Deposit.objects.select_for_update()
            .filter(currency=currency, network=network, txid=txid, vout=vout).first()
        )
        if deposit is None:
            deposit = Deposit.objects.create(
                account=account, address=deposit_address, currency=currency, network=network,
                txid=txid, vout=vout, amount=amount, amount_usd=amount_usd, confirmations=confirmations,
            )
            outcome = "recorded"
        elif deposit.address_id != deposit_address.pk:
            raise Conflict(f"Output {txid}:{vout} was already reported to another address.")
        elif deposit.status == DepositStatus.CREDITED:
            if confirmations > deposit.confirmations:
                Deposit.objects.filter(pk=deposit.pk).update(confirmations=confirmations, updated_at=now)
                deposit.confirmations = confirmations
            return deposit, "already credited"
        else:
            deposit.confirmations = max(deposit.confirmations, confirmations)
            deposit.amount = amount
            deposit.amount_usd = amount_usd
            deposit.updated_at = now
            deposit.save(update_fields=["confirmations", "amount", "amount_usd", "updated_at"])
            outcome = "updated"
        if deposit_address.used_at is None:
            DepositAddress.objects.filter(pk=deposit_address.pk, used_at__isnull=True).update(used_at=now)
        if deposit.confirmations < required:
            if outcome == "recorded":
                deposit_event_emit(deposit=deposit, type="deposit.pending")
            return deposit, f"pending ({deposit.confirmations}/{required} confirmations)"
        try:
            entry = ledger_post(
                account=account,
                type=EntryType.DEPOSIT,
                amount=deposit.amount_usd,
                reference=deposit.ledger_reference,
                description=f"Deposit {deposit.amount.normalize():f} {currency} ({network}) tx {txid[:16]}…:{vout}",
                allow_duplicate=True,
            )
        except BalanceLimitExceeded:  # rolls the deposit back with the rest of the block
            raise BalanceLimitExceeded(
                field="amount_usd",
                message=f"This deposit would take the account's balance above {BalanceLimitExceeded.LIMIT}.",
            ) from None
        if entry is None:  # credited by an earlier delivery; the reference says so
            entry = LedgerEntry.objects.get(reference=deposit.ledger_reference)
        deposit.status = DepositStatus.CREDITED
        deposit.ledger_entry = entry
        deposit.credited_at = now
        deposit.save(update_fields=["status", "ledger_entry", "credited_at"])
        deposit_event_emit(deposit=deposit, type="deposit.credited")
        audit_log(account=account, action="deposit.credited", actor_label="deposit webhook",
                  target=entry.public_id,
                  details={"amount_usd": money_str(deposit.amount_usd), "currency": currency,
                           "network": network, "txid": txid, "vout": vout})
        deposit_id = deposit.pk
        transaction.on_commit(lambda: _notify_deposit_credited(deposit_id))
    return deposit, f"credited {money_str(deposit.amount_usd)} USD ({outcome})"


def _notify_deposit_credited(deposit_id: int) -> None:
    from billing.tasks import send_deposit_credited_email

    send_deposit_credited_email.delay(deposit_id)


# --- Premium ----------------------------------------------------------------------------


def premium_plan() -> Plan:
    plan = Plan.objects.filter(tier="premium").first()
    if plan is None:
        raise NotFound("No premium plan is offered at the moment.")
    return plan


def premium_purchase(*, account: Account, actor: User | None = None, ip: str | None = None) -> Account:
    """Pays the premium plan from the balance; extends premium_until by its period.

    The period starts at max(now, premium_until); the ledger reference names the account
    and that start, so one period is never paid twice.
    """
    plan = premium_plan()
    with transaction.atomic():
        locked = account_lock(account.pk)
        now = timezone.now()
        start = max(now, locked.premium_until) if locked.premium_until else now
        start = start.replace(microsecond=0)
        until = start + timedelta(days=plan.period_days)
        price = to_money(plan.price)
        if price > 0:
            try:
                ledger_post(
                    account=locked,
                    type=EntryType.SUBSCRIPTION,
                    amount=-price,
                    reference=f"subscription:{locked.public_id}:{start.strftime('%Y-%m-%dT%H:%M:%SZ')}",
                    description=f"{plan.name}: {plan.period_days} days until {until:%Y-%m-%d %H:%M} UTC",
                    created_by=actor,
                )
            except InsufficientFunds:
                raise InsufficientFunds(
                    f"Premium costs {money_str(price)} USD but your balance is {money_str(locked.balance)} USD. "
                    "Add funds with a deposit first."
                ) from None
        Account.objects.filter(pk=locked.pk).update(premium_until=until)
        account_auth_changed(locked.pk)
        audit_log(account=locked, action="premium.purchased", actor=actor, target=plan.name, ip=ip,
                  details={"price": money_str(price), "premium_until": until.isoformat()})
    account.premium_until = until
    account.balance = locked.balance
    return account


PREMIUM_REMINDER_BEFORE = timedelta(days=3)
PREMIUM_LAPSE_LOOKBACK = timedelta(days=30)


def _premium_marker(until) -> str:
    return f"premium_until:{until.isoformat()}"


def premium_lapse_due(*, now=None) -> int:
    """Writes one `premium.lapsed` audit entry per ended premium period (idempotent).

    The tier is derived from premium_until, so limits change at that instant whatever this
    task does; it only records the event and e-mails nothing. Returns entries written.
    """
    now = now or timezone.now()
    written = 0
    candidates = Account.objects.filter(premium_until__lte=now, premium_until__gt=now - PREMIUM_LAPSE_LOOKBACK)
    for account_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            account = account_lock(account_id)
            if account.premium_until is None or account.premium_until > now:
                continue
            marker = _premium_marker(account.premium_until)
            if AuditLogEntry.objects.filter(account=account, action="premium.lapsed", target=marker).exists():
                continue
            audit_log(account=account, action="premium.lapsed", actor_label="system", target=marker,
                      details={"premium_until": account.premium_until.isoformat()})
            written += 1
    return written


def premium_remind_expiring(*, now=None) -> list[int]:
    """Accounts whose premium ends within PREMIUM_REMINDER_BEFORE and not yet reminded for
    that end date: records the reminder and returns their ids (the task e-mails them)."""
    now = now or timezone.now()
    reminded = []
    candidates = Account.objects.filter(premium_until__gt=now, premium_until__lte=now + PREMIUM_REMINDER_BEFORE)
    for account_id in candidates.values_list("pk", flat=True):
        with transaction.atomic():
            account = account_lock(account_id)
            if account.premium_until is None or not (now < account.premium_until <= now + PREMIUM_REMINDER_BEFORE):
                continue
            marker = _premium_marker(account.premium_until)
            if AuditLogEntry.objects.filter(account=account, action="premium.expiry_reminded", target=marker).exists():
                continue
            audit_log(account=account, action="premium.expiry_reminded", actor_label="system", target=marker,
                      details={"premium_until": account.premium_until.isoformat()})
            reminded.append(account.pk)
    return reminded
