from django.conf import settings
from django.core.cache import cache

from billing.models import Plan

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
