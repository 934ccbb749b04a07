from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Account, Plan, Role
from billing.derivation import NETWORKS
from billing.models import Deposit, DepositAddress, DepositStatus, EntryType, LedgerEntry
from core.db import PreparedQuery

PENDING_DEPOSITS_SHOWN = 50


# Built and compiled once per shape (core.db.PreparedQuery): lists the API reads often.
_PLANS_PUBLIC = PreparedQuery(lambda: Plan.objects.filter(is_public=True).order_by("price", "tier"))
_LEDGER_ENTRIES = PreparedQuery(
    lambda *, account_id: LedgerEntry.objects.for_account(account_id).order_by("-created_at", "-id")
)
_DEPOSIT_ADDRESSES = PreparedQuery(
    lambda *, account_id: DepositAddress.objects.for_account(account_id).order_by("-created_at", "-id")
)


def plans_public():
    return _PLANS_PUBLIC()


def ledger_entries(*, account: Account):
    """The account's entries, newest first."""
    return _LEDGER_ENTRIES(account_id=account.pk)


def deposit_addresses(*, account: Account):
    return _DEPOSIT_ADDRESSES(account_id=account.pk)


def confirmations_required(chain: str) -> int:
    """How many confirmations credit a deposit on `chain` (DEPOSIT_CONFIRMATIONS_<chain>)."""
    return int(settings.DEPOSIT_CONFIRMATIONS[chain])


def pending_deposits(*, account: Account | None = None) -> list[Deposit]:
    """Deposits seen on chain but not yet credited, newest first, each with
    `confirmations_required`; every account's when `account` is None (the operator console)."""
    deposits = Deposit.objects.filter(status=DepositStatus.PENDING).select_related("address")
    if account is not None:
        deposits = deposits.filter(account=account)
    else:
        deposits = deposits.select_related("account")
    rows = list(deposits.order_by("-created_at", "-id")[:PENDING_DEPOSITS_SHOWN])
    for deposit in rows:
        deposit.confirmations_required = confirmations_required(NETWORKS[(deposit.currency, deposit.network)].chain)
    return rows


# What customers paid for orders and plans, net of refunds (deposits and operator adjustments
# move balance, not revenue). Charges and subscriptions are negative entries, refunds positive.
REVENUE_TYPES = (EntryType.CHARGE, EntryType.SUBSCRIPTION, EntryType.REFUND)


def revenue_by_day(*, days: int = 30, now=None) -> list[tuple[date, Decimal]]:
    """Revenue per UTC day for the last `days` days (today included), every day listed."""
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=days - 1)
    start = timezone.make_aware(datetime.combine(first, time.min))
    sums = dict(
        LedgerEntry.objects.filter(type__in=REVENUE_TYPES, created_at__gte=start)
        .annotate(day=TruncDate("created_at")).order_by().values("day")
        .annotate(total=Sum("amount")).values_list("day", "total")
    )
    return [(day, -(sums.get(day) or Decimal("0"))) for day in (first + timedelta(days=i) for i in range(days))]


def top_spenders(*, days: int = 30, limit: int = 10, now=None) -> list[dict]:
    """The accounts that spent most in the last `days` days: {account, spent}."""
    since = (now or timezone.now()) - timedelta(days=days)
    spent = (
        LedgerEntry.objects.filter(type__in=REVENUE_TYPES, created_at__gte=since).order_by()
        .values("account").annotate(total=Sum("amount")).filter(total__lt=0).order_by("total")[:limit]
    )
    rows = list(spent)
    accounts = Account.objects.in_bulk([r["account"] for r in rows])
    return [{"account": accounts[r["account"]], "spent": -r["total"]} for r in rows]


def billing_contacts(*, account: Account) -> list[str]:
    """E-mail addresses of the account's owners and admins."""
    return sorted(
        set(
            account.memberships.filter(role__in=[Role.OWNER, Role.ADMIN], user__is_active=True)
            .values_list("user__email", flat=True)
        )
    )


def account_has_topped_up(*, account: Account) -> bool:
    """Whether money ever came in: a credited deposit or an operator's credit."""
    return (
        LedgerEntry.objects.for_account(account)
        .filter(Q(type=EntryType.DEPOSIT) | Q(type=EntryType.ADJUSTMENT, amount__gt=0))
        .exists()
    )
