import time

from django.conf import settings
from django.core.cache import cache

from accounts.models import Plan

PLAN_CACHE_S = 30
# Every API request reads its tier's limits: a process-local copy saves the shared-cache
# round trip. Other processes see an operator's edit within PLAN_LOCAL_CACHE_S.
PLAN_LOCAL_CACHE_S = 5
_local_limits: dict[str, tuple[float, dict[str, int]]] = {}


def _plan_cache_key(tier: str) -> str:
    return f"plan-limits:v1:{tier}"


def plan_rate_limits(*, tier: str) -> dict[str, int]:
    """Limits of the tier's plan, cached briefly; falls back to settings.RATE_LIMIT_DEFAULTS."""
    now = time.monotonic()
    local = _local_limits.get(tier)
    if local is not None and local[0] > now:
        return local[1]
    key = _plan_cache_key(tier)
    limits = cache.get(key)
    if limits is None:
        plan = Plan.objects.filter(tier=tier).first()
        limits = plan.limits if plan else dict(settings.RATE_LIMIT_DEFAULTS[tier])
        cache.set(key, limits, PLAN_CACHE_S)
    _local_limits[tier] = (now + PLAN_LOCAL_CACHE_S, limits)
    return limits


def forget_plan_limits() -> None:
    _local_limits.clear()
    cache.delete_many([_plan_cache_key(t) for t in settings.RATE_LIMIT_DEFAULTS])


def plan_for_tier(*, tier: str) -> Plan | None:
    return Plan.objects.filter(tier=tier).first()


def user_email_verified(*, user) -> bool:
    """Whether the user confirmed an e-mail address (allauth's record of it)."""
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, verified=True).exists()
