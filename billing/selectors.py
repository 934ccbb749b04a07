from django.conf import settings
from django.db.models import Q

from accounts.models import Account, Plan, Role
from billing.models import Deposit, DepositAddress, DepositStatus, EntryType, LedgerEntry


def plans_public():
    return Plan.objects.filter(is_public=True).order_by("price", "tier")


def ledger_entries(*, account: Account):
    """The account's entries, newest first."""
    return LedgerEntry.objects.for_account(account).order_by("-created_at", "-id")


def deposit_addresses(*, account: Account):
    return DepositAddress.objects.for_account(account).order_by("-created_at", "-id")


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


def deposits_pending(*, account: Account) -> list[Deposit]:
    """Deposits seen on chain and not yet credited, newest first, each with
    `confirmations_required` (the chain's setting) beside its `confirmations`."""
    pending = list(
        Deposit.objects.filter(account=account, status=DepositStatus.PENDING)
        .select_related("address")
        .order_by("-created_at", "-id")
    )
    for deposit in pending:
        deposit.confirmations_required = int(settings.DEPOSIT_CONFIRMATIONS.get(deposit.address.chain, 0))
    return pending
