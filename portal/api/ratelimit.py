"""Per-key, per-category rate limits on the shared cache (Redis in production).

Fixed windows counted atomically on the shared store, so several web processes share one
exact count. On Redis one pipelined round trip does it (`SET NX EX` opens the window,
`INCR` counts, `TTL` gives the reset); on other cache backends (the embedded default's
in-process cache) django-ratelimit's `cache.add` + `cache.incr` does the same.
"""

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
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


_redis_lock = threading.Lock()
_redis_client = None


def _redis():
    """The rate-limit store's Redis client, built once per process (None off Redis)."""
    global _redis_client
    backend = caches[settings.RATELIMIT_USE_CACHE]
    if not isinstance(backend, RedisCache):
        return None, backend
    if _redis_client is None:
        with _redis_lock:
            if _redis_client is None:
                _redis_client = backend._cache.get_client(write=True)
    return _redis_client, backend


def _redis_count(client, cache_key: str, window_s: int, *, increment: bool) -> tuple[int, int]:
    """(count in the current window, seconds until it ends), in one round trip."""
    pipe = client.pipeline(transaction=False)
    if increment:
        pipe.set(cache_key, 0, ex=window_s, nx=True)
        pipe.incr(cache_key)
        pipe.ttl(cache_key)
        _, count, ttl = pipe.execute()
    else:
        pipe.get(cache_key)
        pipe.ttl(cache_key)
        raw, ttl = pipe.execute()
        count = int(raw or 0)
    if increment and ttl < 0:  # the window expired between SET and INCR: give it one
        client.expire(cache_key, window_s)
        ttl = window_s
    return int(count), max(int(ttl), 1)


def _count(request, *, group: str, key: str, limit: int, window_s: int, increment: bool) -> RateUsage | None:
    if not settings.RATELIMIT_ENABLE:
        return None
    client, backend = _redis()
    if client is not None:
        count, ttl = _redis_count(client, backend.make_key(f"rl:{group}:{key}"), window_s, increment=increment)
        reset_at = int(time.time()) + ttl
    else:
        usage = get_usage(
            request, group=group, key=lambda _g, _r: key, rate=(limit, window_s), increment=increment
        )
        if usage is None:
            return None
        count, reset_at = usage["count"], int(time.time()) + max(usage["time_left"], 1)
    return RateUsage(limit=limit, remaining=max(0, limit - count), reset_at=reset_at, exceeded=count > limit)


def _consume(request, *, group: str, key: str, limit: int, window_s: int) -> RateUsage:
    usage = _count(request, group=group, key=key, limit=limit, window_s=window_s, increment=True)
    if usage is None:  # rate limiting disabled by the operator
        return RateUsage(limit=limit, remaining=limit, reset_at=int(time.time()) + window_s, exceeded=False)
    return usage


def _key_counter(api_key_id: int, category: str) -> dict:
    return {"group": f"api:{category}", "key": f"key:{api_key_id}", "window_s": CATEGORY_WINDOW_S[category]}


def consume_key_quota(request, *, api_key_id: int, tier: str, category: str) -> RateUsage:
    """Counts one request of `category` for this key; raises RateLimited past the limit."""
    limit = limit_for(tier, category)
    usage = _consume(request, **_key_counter(api_key_id, category), limit=limit)
    request.rate_usage = usage
    if usage.exceeded:
        raise RateLimited(usage.retry_after, f"Rate limit of {limit} {category} requests exceeded.")
    return usage


def peek_key_quota(request, *, api_key_id: int, tier: str, category: str) -> None:
    """Reads this key's `category` count without counting, for the headers of a refusal."""
    usage = _count(request, **_key_counter(api_key_id, category), limit=limit_for(tier, category), increment=False)
    if usage is not None:
        request.rate_usage = usage


def _auth_failure_counter(ip: str) -> dict:
    return {"group": "api:auth-failures", "key": f"ip:{ip}", "limit": settings.AUTH_FAILURES_PER_MINUTE,
            "window_s": 60}


def auth_failures_exceeded(request, ip: str) -> RateUsage | None:
    """Peek (without counting) whether this address is over its failed-auth budget."""
    usage = _count(request, **_auth_failure_counter(ip), increment=False)
    if usage is None or usage.remaining > 0:  # remaining hits 0 once `limit` failures are counted
        return None
    request.rate_usage = usage
    return usage


def record_auth_failure(request, ip: str) -> None:
    """Counts a failed authentication; the 401 then carries this address's failure budget
    in its X-RateLimit-* headers (a request without a valid key has no key budget)."""
    usage = _count(request, **_auth_failure_counter(ip), increment=True)
    if usage is not None:
        request.rate_usage = usage
