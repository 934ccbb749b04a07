from django.conf import settings

from accounts.models import Account, Plan, Role
from billing.derivation import NETWORKS
from billing.models import Deposit, DepositAddress, DepositStatus, LedgerEntry

PENDING_DEPOSITS_SHOWN = 50


def plans_public():
    return Plan.objects.filter(is_public=True).order_by("price", "tier")


def ledger_entries(*, account: Account):
    """The account's entries, newest first."""
    return LedgerEntry.objects.for_account(account).order_by("-created_at", "-id")


def deposit_addresses(*, account: Account):
    return DepositAddress.objects.for_account(account).order_by("-created_at", "-id")


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


def billing_contacts(*, account: Account) -> list[str]:
    """E-mail addresses of the account's owners and admins."""
    return sorted(
        set(
            account.memberships.filter(role__in=[Role.OWNER, Role.ADMIN], user__is_active=True)
            .values_list("user__email", flat=True)
        )
    )
