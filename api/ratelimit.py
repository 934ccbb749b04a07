"""Per-key, per-category rate limits on the shared store (core.store; Redis in production).

Fixed windows counted atomically on the shared store, so several web processes share one
exact count. On Redis one script call does it in one round trip (`INCR` counts, the first
count of a window sets its expiry, `TTL` gives the reset, and the account's auth version is
checked on the way, see api.snapshots); on other cache backends (the embedded default's
in-process cache) django-ratelimit's `cache.add` + `cache.incr` does the same.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django_ratelimit.core import get_usage
from redis.exceptions import NoScriptError

from api.hooks import rate_limits
from core.errors import RateLimited
from core.metrics import rate_limit_refusals
from core.store import Store, current_store

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
    """The tier's limit for the category, from the plans (`API_RATE_LIMITS`, see api.hooks)."""
    return rate_limits()(tier=tier)[category]


# One round trip counts a request (or only reads the count) and, when asked, first checks
# a version key: on a mismatch nothing is counted and the caller retries with fresh data
# (api.snapshots). Returns {count, seconds left, version}; count -1 means mismatch.
_COUNT_LUA = """
local version = redis.call('GET', KEYS[2])
if ARGV[3] == '1' and (version or '') ~= ARGV[4] then
  return {-1, 0, version}
end
local count
if ARGV[2] == '1' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then
    redis.call('EXPIRE', KEYS[1], ARGV[1])
    return {count, tonumber(ARGV[1]), version}
  end
else
  count = tonumber(redis.call('GET', KEYS[1]) or '0')
end
local ttl = redis.call('TTL', KEYS[1])
if ARGV[2] == '1' and ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl, version}
"""


class VersionMismatch(Exception):
    """The version key moved since the caller's data was read; nothing was counted."""


def _redis():
    """(Redis client or None off Redis, cache backend) of the shared store."""
    store = current_store()
    return store.client, store.backend


def _run_count_script(store: Store, keys: tuple, args: tuple):
    """The count script's reply, sent straight on the held connection.

    redis-py's script and command layers cost an API request about as much Python as the
    rest of its rate limiting; this is the same EVALSHA without them, under the client's
    connection lock and through the connection's own retry policy (the cache's `retry`
    in settings: a dropped connection reconnects and is retried once). When the server
    no longer knows the script (restarted, `SCRIPT FLUSH`: nothing ran), `Script.__call__`
    loads it and runs it. Anything else, a timeout included, propagates; redis-py has
    dropped the connection then, so no late reply is read by the next command.
    """
    client, script = store.client, store.script(_COUNT_LUA)
    conn = client.connection
    command = conn.pack_command("EVALSHA", script.sha, len(keys), *keys, *args)

    def send_and_read():
        conn.send_packed_command(command)
        return conn.read_response()

    with client.single_connection_lock:
        try:
            return conn.retry.call_with_retry(send_and_read, lambda _error: conn.disconnect())
        except NoScriptError:
            pass
    return script(keys=list(keys), args=list(args))


def _redis_count(cache_key: str, window_s: int, *, increment: bool,
                 verify: tuple[str, str | None] | None) -> tuple[int, int]:
    """(count in the current window, seconds until it ends), in one round trip."""
    version_key, expected = verify if verify is not None else (cache_key, None)
    count, ttl, _ = _run_count_script(
        current_store(), (cache_key, version_key), (window_s, int(increment), int(verify is not None), expected or "")
    )
    if count == -1:
        raise VersionMismatch
    return int(count), max(int(ttl), 1)


def _count(request, *, group: str, key: str, limit: int, window_s: int, increment: bool,
           verify: tuple[str, str | None] | None = None) -> RateUsage | None:
    if not settings.RATELIMIT_ENABLE:
        return None
    client, backend = _redis()
    if client is not None:
        count, ttl = _redis_count(backend.make_key(f"rl:{group}:{key}"), window_s, increment=increment,
                                  verify=verify)
        reset_at = int(time.time()) + ttl
    else:
        usage = get_usage(
            request, group=group, key=lambda _g, _r: key, rate=(limit, window_s), increment=increment
        )
        if usage is None:
            return None
        count, reset_at = usage["count"], int(time.time()) + max(usage["time_left"], 1)
    return RateUsage(limit=limit, remaining=max(0, limit - count), reset_at=reset_at, exceeded=count > limit)


def _consume(request, *, group: str, key: str, limit: int, window_s: int,
             verify: tuple[str, str | None] | None = None) -> RateUsage:
    usage = _count(request, group=group, key=key, limit=limit, window_s=window_s, increment=True, verify=verify)
    if usage is None:  # rate limiting disabled by the operator
        return RateUsage(limit=limit, remaining=limit, reset_at=int(time.time()) + window_s, exceeded=False)
    return usage


def _key_counter(api_key_id: int, category: str) -> dict:
    return {"group": f"api:{category}", "key": f"key:{api_key_id}", "window_s": CATEGORY_WINDOW_S[category]}


def consume_key_quota(request, *, api_key_id: int, tier: str, category: str,
                      verify: tuple[str, str | None] | None = None) -> RateUsage:
    """Counts one request of `category` for this key; raises RateLimited past the limit.

    `verify` (version key, expected value): count only if the version is still that one,
    else raise VersionMismatch having counted nothing.
    """
    limit = limit_for(tier, category)
    usage = _consume(request, **_key_counter(api_key_id, category), limit=limit, verify=verify)
    request.rate_usage = usage
    if usage.exceeded:
        rate_limit_refusals.labels(category).inc()
        raise RateLimited(usage.retry_after, f"Rate limit of {limit} {category} requests exceeded.")
    return usage


def peek_key_quota(request, *, api_key_id: int, tier: str, category: str,
                   verify: tuple[str, str | None] | None = None) -> None:
    """Reads this key's `category` count without counting, for the headers of a refusal."""
    usage = _count(request, **_key_counter(api_key_id, category), limit=limit_for(tier, category),
                   increment=False, verify=verify)
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


TOO_MANY_AUTH_FAILURES = "Too many failed authentication attempts from this address."


def failed_authentication(request, ip: str) -> RateUsage | None:
    """A failed authentication from `ip` (a bad API key, a bad webhook signature): the usage
    to refuse it with (429) when the address's budget is already spent, else None once the
    failure is counted (the caller answers 401)."""
    over = auth_failures_exceeded(request, ip)
    if over is None:
        record_auth_failure(request, ip)
    else:
        rate_limit_refusals.labels("auth_failures").inc()
    return over


def record_auth_failure(request, ip: str) -> None:
    """Counts a failed authentication; the 401 then carries this address's failure budget
    in its X-RateLimit-* headers (a request without a valid key has no key budget)."""
    usage = _count(request, **_auth_failure_counter(ip), increment=True)
    if usage is not None:
        request.rate_usage = usage


def consume_keyless_quota(request, *, subject: str, limit: int, category: str) -> RateUsage:
    """Counts one request of `category` made without a key (a secret list link) against
    `subject` (the link, the client's address), in the category's window; the caller refuses
    it when `exceeded`."""
    usage = _consume(request, group=f"keyless:{category}", key=subject, limit=limit,
                     window_s=CATEGORY_WINDOW_S[category])
    if usage.exceeded:
        rate_limit_refusals.labels(f"keyless_{category}").inc()
    return usage
