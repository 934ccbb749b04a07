"""Reads of the checker: a tenant's jobs and results, and the verified pools."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Max, Subquery
from django.utils import timezone

from accounts.models import Account
from checker.models import ANONYMITY_LEVELS, PROTOCOLS, CheckItem, CheckJob, PoolProxy, PoolStatus
from core import numbers
from core.db import PreparedQuery
from core.errors import DomainValidationError, NotFound

DEFAULT_FRESH_MINUTES = 1440
MAX_FRESH_MINUTES = 366 * 24 * 60
MAX_LATENCY_MS = 3_600_000
# A pool list's `meta.total` (and `refreshed_at`) is read once per pool version and filter
# set, then reused for this long: counting every request visited 100k+ heap rows on a
# million-row pool. Any write to a pool (pool_changed) starts a new version, so only rows
# ageing out of a `fresh_minutes` window can make a total up to this stale.
POOL_TOTAL_TTL_S = 30


def _jobs(*, account_id: int):
    return CheckJob.objects.for_account(account_id).order_by("-created_at", "-job_id").defer("proxies")


def _job_items(*, job_id: uuid.UUID, status: str | None = None, account_id: int | None = None):
    # A job's items lie together in the table, yet the planner cannot know it: asked for a
    # page in id order, it walks the primary key from the first item of every job before.
    # The job's own first id (from the job-and-id index) is where the walk starts.
    first = CheckItem.objects.filter(job_id=job_id).order_by("id").values("id")[:1]
    items = CheckItem.objects.filter(job_id=job_id, id__gte=Subquery(first))
    if account_id is not None:  # the job's tenant checked in the same query (account_job_items)
        items = items.filter(job__account_id=account_id)
    if status:
        items = items.filter(status=status)
    return items.order_by("id")


# Built and compiled once per shape (core.db.PreparedQuery).
_JOBS = PreparedQuery(_jobs)
# One job or none (its primary key): read as it is, and rendered by its version (job_shown).
_JOB = PreparedQuery(
    lambda *, account_id, job_id: CheckJob.objects.for_account(account_id).defer("proxies").filter(pk=job_id)
)
_JOB_ITEMS = PreparedQuery(_job_items)


def jobs(*, account: Account):
    """The account's jobs, newest first."""
    return _JOBS(account_id=account.pk)


def job_key(job_id) -> uuid.UUID:
    """A job's id as a UUID; a malformed one is NotFound."""
    try:
        return job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("No such job.") from None


def job_shown(*, account: Account, job_id):
    """The account's job as a query of at most one row, to render it (none for another
    tenant's or an unknown one); a malformed id is NotFound."""
    return _JOB(account_id=account.pk, job_id=job_key(job_id))


def job_get(*, account: Account, job_id) -> CheckJob:
    """The account's job by its UUID; a malformed id or another tenant's job is NotFound."""
    job = next(iter(_JOB(account_id=account.pk, job_id=job_key(job_id))), None)
    if job is None:
        raise NotFound("No such job.")
    return job


def account_job_items(*, account: Account, job_id, status: str | None = None):
    """The items of the account's job `job_id` without reading the job first: the query
    itself keeps to the account's jobs, so another tenant's job (or no job) gives no items.
    An empty page is then told apart by `job_get` (404, or a job with nothing there)."""
    return _JOB_ITEMS(job_id=job_key(job_id), status=status or None, account_id=account.pk)


def job_items(*, account: Account, job: CheckJob, status: str | None = None):
    if job.account_id != account.pk:  # defensive: jobs come from job_get(account=...)
        raise NotFound("No such job.")
    return _JOB_ITEMS(job_id=job.pk, status=status or None)


def parse_item_status(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    if raw not in ("live", "dead"):
        raise DomainValidationError({"status": "status must be live or dead."})
    return raw


@dataclass(frozen=True)
class PoolFilters:
    protocol: str | None = None
    country: str | None = None
    anonymity: str | None = None
    fresh_minutes: int = DEFAULT_FRESH_MINUTES
    max_latency_ms: int | None = None
    min_uptime: float | None = None


def _int(query, name: str, lo: int, hi: int, errors: dict) -> int | None:
    try:
        return numbers.parse_int_param(query.get(name), name=name, lo=lo, hi=hi)
    except numbers.NumberError as exc:
        errors[name] = [str(exc)]
        return None


def parse_pool_filters(query) -> PoolFilters:
    """The filters of the pool list endpoints from a query dict; bad values → validation_error."""
    errors: dict[str, list[str]] = {}
    protocol = query.get("protocol") or None
    if protocol is not None:
        protocol = protocol.lower()
        if protocol not in PROTOCOLS:
            errors["protocol"] = [f"protocol must be one of: {', '.join(PROTOCOLS)}."]
    country = query.get("country") or None
    if country is not None:
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            errors["country"] = ["country must be a two-letter ISO code."]
        country = country.upper()
    anonymity = query.get("anonymity") or None
    if anonymity is not None:
        anonymity = anonymity.lower()
        if anonymity not in ANONYMITY_LEVELS:
            errors["anonymity"] = [f"anonymity must be one of: {', '.join(ANONYMITY_LEVELS)}."]
    fresh = _int(query, "fresh_minutes", 1, MAX_FRESH_MINUTES, errors)
    max_latency = _int(query, "max_latency_ms", 0, MAX_LATENCY_MS, errors)
    min_uptime = None
    raw = query.get("min_uptime")
    if raw not in (None, ""):
        try:
            min_uptime = numbers.parse_float(raw, lo=0.0, hi=1.0)
        except numbers.NumberError:
            errors["min_uptime"] = ["min_uptime must be a number between 0 and 1."]
    if errors:
        raise DomainValidationError(errors)
    return PoolFilters(
        protocol=protocol, country=country, anonymity=anonymity,
        fresh_minutes=fresh or DEFAULT_FRESH_MINUTES, max_latency_ms=max_latency, min_uptime=min_uptime,
    )


def pool_live(*, pool: str):
    return PoolProxy.objects.filter(pool=pool, last_status=PoolStatus.LIVE)


def _pool_proxies(*, pool: str, since, protocol=None, country=None, anonymity=None, max_latency_ms=None,
                  min_uptime=None):
    qs = pool_live(pool=pool).filter(last_checked_at__gte=since)
    if protocol:
        qs = qs.filter(protocol=protocol)
    if country:
        qs = qs.filter(country=country)
    if anonymity:
        qs = qs.filter(anonymity=anonymity)
    if max_latency_ms is not None:
        qs = qs.filter(latency_ms__lte=max_latency_ms)
    if min_uptime is not None:
        qs = qs.filter(uptime_score__gte=min_uptime)
    return qs.order_by("-last_checked_at", "id")


_POOL_PROXIES = PreparedQuery(_pool_proxies)  # built and compiled once per shape (core.db.PreparedQuery)


def pool_proxies(*, pool: str, filters: PoolFilters, now=None):
    """Verified proxies of a pool (latest check live), filtered, most recently checked first."""
    now = now or timezone.now()
    return _POOL_PROXIES(
        pool=pool, since=now - timedelta(minutes=filters.fresh_minutes), protocol=filters.protocol,
        country=filters.country, anonymity=filters.anonymity, max_latency_ms=filters.max_latency_ms,
        min_uptime=filters.min_uptime,
    )


def _pool_version_key(pool: str) -> str:
    return f"checker:pool-version:{pool}"


def pool_changed(*, pool: str) -> None:
    """Forget the pool's cached list totals and refresh time (call after any write to its rows)."""
    cache.set(_pool_version_key(pool), uuid.uuid4().hex, timeout=None)


def pool_summary(*, pool: str, filters: PoolFilters, queryset) -> tuple[int, datetime | None]:
    """(`queryset.count()`, `pool_refreshed_at`) for the pool list's filters, cached together
    per pool version: the summary carries the version it was counted in, so the version and
    the summary are read in one round trip, and a summary of another version is counted again."""
    version_key = _pool_version_key(pool)
    key = f"checker:pool-summary:{pool}:{hashlib.sha256(repr(filters).encode()).hexdigest()[:32]}"
    found = cache.get_many([version_key, key])
    version = found.get(version_key)
    if version is None:
        version = cache.get_or_set(version_key, uuid.uuid4().hex, timeout=None)
    cached = found.get(key)
    if cached is not None and cached[0] == version:
        return cached[1], cached[2]
    total, refreshed_at = queryset.count(), pool_refreshed_at(pool=pool)
    cache.set(key, (version, total, refreshed_at), timeout=POOL_TOTAL_TTL_S)
    return total, refreshed_at


def pool_refreshed_at(*, pool: str):
    """When the pool's verified list last changed: its most recent live check."""
    return pool_live(pool=pool).aggregate(at=Max("last_checked_at"))["at"]
