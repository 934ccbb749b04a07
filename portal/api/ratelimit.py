"""Per-key, per-category rate limits on the shared cache (Redis in production).

Counting is django-ratelimit's fixed window: `cache.add` then `cache.incr`, both atomic on
Redis, so several web processes share one exact count.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage

from portal.api.errors import RateLimited

CATEGORY_WINDOW_S = {"general": 60, "order_create": 60, "check": 3600, "export": 3600}
CATEGORIES = tuple(CATEGORY_WINDOW_S)


@dataclass(frozen=True)
class RateUsage:
    limit: int
    remaining: int
    reset_at: int  # Unix time when the window ends
    exceeded: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


def limit_for(tier: str, category: str) -> int:
    from billing.selectors import plan_rate_limits

    return plan_rate_limits(tier=tier)[category]


def _consume(request, *, group: str, key: str, limit: int, window_s: int) -> RateUsage:
    usage = get_usage(
        request,
        group=group,
        key=lambda _group, _request: key,
        rate=(limit, window_s),
        increment=True,
    )
    if usage is None:  # rate limiting disabled by the operator
        return RateUsage(limit=limit, remaining=limit, reset_at=int(time.time()) + window_s, exceeded=False)
    reset_at = int(time.time()) + max(usage["time_left"], 1)
    remaining = max(0, limit - usage["count"])
    return RateUsage(limit=limit, remaining=remaining, reset_at=reset_at, exceeded=usage["should_limit"])


def consume_key_quota(request, *, api_key_id: int, tier: str, category: str) -> RateUsage:
    """Counts one request of `category` for this key; raises RateLimited past the limit."""
    limit = limit_for(tier, category)
    usage = _consume(
        request,
        group=f"api:{category}",
        key=f"key:{api_key_id}",
        limit=limit,
        window_s=CATEGORY_WINDOW_S[category],
    )
    request.rate_usage = usage
    if usage.exceeded:
        raise RateLimited(usage.retry_after, f"Rate limit of {limit} {category} requests exceeded.")
    return usage


def auth_failures_exceeded(request, ip: str) -> RateUsage | None:
    """Peek (without counting) whether this address is over its failed-auth budget."""
    limit = settings.AUTH_FAILURES_PER_MINUTE
    usage = get_usage(
        request, group="api:auth-failures", key=lambda _g, _r: f"ip:{ip}", rate=(limit, 60), increment=False
    )
    if usage is None or not usage["count"] >= limit:
        return None
    return RateUsage(limit=limit, remaining=0, reset_at=int(time.time()) + max(usage["time_left"], 1), exceeded=True)


def record_auth_failure(request, ip: str) -> None:
    limit = settings.AUTH_FAILURES_PER_MINUTE
    get_usage(request, group="api:auth-failures", key=lambda _g, _r: f"ip:{ip}", rate=(limit, 60), increment=True)
