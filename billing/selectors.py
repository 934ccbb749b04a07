from accounts.models import Account, Plan, Role
from billing.models import DepositAddress, LedgerEntry


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
