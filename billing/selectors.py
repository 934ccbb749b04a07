from django.conf import settings
from django.core.cache import cache

from accounts.models import Account, Role
from billing.models import DepositAddress, LedgerEntry, Plan

PLAN_CACHE_S = 30


def _plan_cache_key(tier: str) -> str:
    return f"plan-limits:v1:{tier}"


def plan_rate_limits(*, tier: str) -> dict[str, int]:
    """Limits of the tier's plan, cached briefly; falls back to the defaults of SPEC §3."""
    key = _plan_cache_key(tier)
    limits = cache.get(key)
    if limits is None:
        plan = Plan.objects.filter(tier=tier).first()
        limits = plan.limits if plan else dict(settings.RATE_LIMIT_DEFAULTS[tier])
        cache.set(key, limits, PLAN_CACHE_S)
    return limits


def forget_plan_limits() -> None:
    cache.delete_many([_plan_cache_key(t) for t in settings.RATE_LIMIT_DEFAULTS])


def plan_for_tier(*, tier: str) -> Plan | None:
    return Plan.objects.filter(tier=tier).first()


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
