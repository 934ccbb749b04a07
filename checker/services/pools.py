"""The public and premium pools: import proxy lists into them and re-check them.

A pool is re-checked in shards (`PoolShard`, ranges of proxy ids): the beat enqueues the
shards that are due, any worker takes one, and a shard never runs in two workers at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from checker import selectors
from checker.engine.check import CheckResult
from checker.engine.parse import ProxySpec
from checker.models import UPTIME_WINDOW, Pool, PoolProxy, PoolShard, PoolStatus, ShardStatus
from checker.services.parsing import parse_for_storage
from checker.services.runner import EngineRun, engine_config
from core.errors import DomainValidationError
from core.metrics import checks_record

# Pool proxies per engine run: a shard's worth (CHECKER_SHARD_SIZE, 5,000), as each run ends
# waiting on its slowest checks with most of its slots idle.
POOL_CHUNK = 5000


def _validate_pool(pool: str) -> str:
    if pool not in Pool.values:
        raise DomainValidationError({"pool": f"Choose one of: {', '.join(Pool.values)}."})
    return pool


def pool_import(*, pool: str, text: str, source: str = "import") -> dict:
    """Add the proxies of `text` (formats of POST /check) to a pool; returns
    {imported, duplicates, invalid} (duplicates: repeated in the text or already pooled)."""
    _validate_pool(pool)
    parsed = parse_for_storage(text or "")
    imported = 0
    duplicates = parsed.duplicates
    source = (source or "import")[:100]
    for start in range(0, len(parsed.proxies), 1000):
        chunk = parsed.proxies[start : start + 1000]
        existing = set(
            PoolProxy.objects.filter(pool=pool, proxy_norm__in=[s.norm for s in chunk])
            .values_list("proxy_norm", flat=True)
        )
        fresh = [s for s in chunk if s.norm not in existing]
        duplicates += len(chunk) - len(fresh)
        PoolProxy.objects.bulk_create(
            [
                PoolProxy(
                    pool=pool, proxy_norm=s.norm, scheme=s.scheme or "", protocol=s.scheme or "",
                    host=s.host, port=s.port, username=s.username or "", password=s.password or "",
                    source=source,
                )
                for s in fresh
            ],
            ignore_conflicts=True,
        )
        imported += len(fresh)
    selectors.pool_changed(pool=pool)
    return {"imported": imported, "duplicates": duplicates, "invalid": parsed.invalid}


def _spec_of(proxy: PoolProxy) -> ProxySpec:
    return ProxySpec(
        proxy.scheme or None, proxy.host, proxy.port,
        proxy.username or None, (proxy.password if proxy.username else None) or None,
    )


def _apply_result(proxy: PoolProxy, result: CheckResult | None, now) -> None:
    live = result is not None and result.status == "live"
    proxy.history = (proxy.history + ("1" if live else "0"))[-UPTIME_WINDOW:]
    proxy.uptime_score = round(proxy.history.count("1") / len(proxy.history), 4)
    proxy.last_checked_at = now
    proxy.last_status = PoolStatus.LIVE if live else PoolStatus.DEAD
    proxy.last_error = "" if live else ((result.error if result else "") or "error")[:40]
    if live:
        proxy.protocol = result.protocol or proxy.protocol
        proxy.latency_ms = result.connect_ms
        proxy.exit_ip = result.exit_ip or ""
        proxy.country = result.country or ""
        proxy.anonymity = result.anonymity or ""


_POOL_FIELDS = [
    "history", "uptime_score", "last_checked_at", "last_status", "last_error",
    "protocol", "latency_ms", "exit_ip", "country", "anonymity",
]


def pool_shards_plan(*, pool: str, shard_size: int | None = None) -> int:
    """Cut the proxies no shard covers yet (the newest ids) into shards: the last shard is
    filled up to the shard size while it is not running, then new ones follow. Returns the
    number of shards of the pool."""
    _validate_pool(pool)
    size = max(1, shard_size or int(settings.CHECKER_SHARD_SIZE))
    with transaction.atomic():
        last = PoolShard.objects.select_for_update().filter(pool=pool).order_by("-first_id").first()
        after = last.last_id if last else 0
        fresh = PoolProxy.objects.filter(pool=pool, id__gt=after).order_by("id").values_list("id", flat=True)
        if last is not None and last.status != ShardStatus.RUNNING:
            room = size - PoolProxy.objects.filter(pool=pool, id__gte=last.first_id, id__lte=last.last_id).count()
            if room > 0:
                ids = list(fresh[:room])
                if ids:
                    PoolShard.objects.filter(pk=last.pk).update(last_id=ids[-1])
                    after = ids[-1]
                    fresh = fresh.filter(id__gt=after)
        bounds: list[tuple[int, int]] = []
        first = None
        count = 0
        for proxy_id in fresh.iterator(chunk_size=10_000):
            first = proxy_id if first is None else first
            count += 1
            if count == size:
                bounds.append((first, proxy_id))
                first, count = None, 0
        if first is not None:
            bounds.append((first, proxy_id))
        PoolShard.objects.bulk_create(
            [PoolShard(pool=pool, first_id=a, last_id=b) for a, b in bounds], ignore_conflicts=True
        )
    return PoolShard.objects.filter(pool=pool).count()


def _due(pool: str, now):
    """Shards to enqueue: idle ones not checked within the pool's period (a little less,
    so a run that ended just before the tick is still due), queued ones whose task was lost
    (queued for more than a period), and running ones whose worker died (stale heartbeat)."""
    period = float(settings.CHECKER_RECHECK_S[pool])
    checked_before = now - timedelta(seconds=period * 0.9)
    lost_before = now - timedelta(seconds=max(period, settings.CHECKER_SHARD_LEASE_S))
    lease_before = now - timedelta(seconds=settings.CHECKER_SHARD_LEASE_S)
    idle = Q(status=ShardStatus.DONE) & (Q(finished_at__isnull=True) | Q(finished_at__lt=checked_before))
    lost = Q(status=ShardStatus.QUEUED, enqueued_at__lt=lost_before)
    dead = Q(status=ShardStatus.RUNNING, heartbeat_at__lt=lease_before)
    return PoolShard.objects.filter(Q(pool=pool) & (idle | lost | dead))


def pool_recheck_enqueue(*, pool: str, force: bool = False) -> dict:
    """What the beat runs: plan the shards and hand the ones that are due (every idle one when
    `force`) to the workers; returns {shards, enqueued}."""
    from checker.tasks import recheck_pool_shard

    total = pool_shards_plan(pool=pool)
    now = timezone.now()
    due = PoolShard.objects.filter(pool=pool, status=ShardStatus.DONE) if force else _due(pool, now)
    ids = list(due.values_list("pk", flat=True))
    # the same conditions again: a shard claimed since the read stays running
    due.filter(pk__in=ids).update(status=ShardStatus.QUEUED, enqueued_at=now)
    for shard_id in ids:
        recheck_pool_shard.delay(shard_id)
    return {"shards": total, "enqueued": len(ids)}


def _pool_shard_claim(shard_id, *, from_queue: bool) -> PoolShard | None:
    """Queued (any state but running, when not `from_queue`), or running with a stale
    heartbeat → running under a new attempt: one conditional update, so two workers never
    hold a shard at once. A queued task whose shard was re-checked meanwhile finds it done."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.CHECKER_SHARD_LEASE_S)
    free = Q(status=ShardStatus.QUEUED) if from_queue else ~Q(status=ShardStatus.RUNNING)
    claimed = PoolShard.objects.filter(pk=shard_id).filter(
        free | Q(status=ShardStatus.RUNNING, heartbeat_at__lt=stale_before)
    ).update(status=ShardStatus.RUNNING, attempt=F("attempt") + 1, heartbeat_at=now, started_at=now,
             checked=0, live=0)
    return PoolShard.objects.filter(pk=shard_id).first() if claimed else None


def _pool_shard_beat(shard: PoolShard, **counts) -> bool:
    """The heartbeat, fenced: False when another attempt holds the shard now."""
    return bool(PoolShard.objects.filter(
        pk=shard.pk, status=ShardStatus.RUNNING, attempt=shard.attempt
    ).update(heartbeat_at=timezone.now(), **counts))


def pool_shard_run(*, shard_id, chunk_size: int = POOL_CHUNK, from_queue: bool = False) -> dict | None:
    """Re-check the proxies of one shard, chunk by chunk (constant memory); returns
    {checked, live, dead}, or None when a worker holds the shard (or it is gone, or, for a
    task `from_queue`, it is no longer queued)."""
    shard = _pool_shard_claim(shard_id, from_queue=from_queue)
    if shard is None:
        return None
    config = engine_config(include_anonymity=True)
    checked = live = 0
    last_id = shard.first_id - 1
    while True:
        chunk = list(PoolProxy.objects.filter(pool=shard.pool, id__gt=last_id, id__lte=shard.last_id)
                     .order_by("id")[:chunk_size])
        if not chunk:
            break
        last_id = chunk[-1].id
        specs = {proxy.id: _spec_of(proxy) for proxy in chunk}
        run = EngineRun(list(specs.values()), config).start()
        by_norm: dict[str, CheckResult] = {}
        try:
            for batch in run.batches(batch_size=10_000, flush_every_s=5.0):
                for result in batch:
                    by_norm[result.proxy.norm] = result
                if not _pool_shard_beat(shard):
                    run.cancel()
                    return None
        finally:
            run.thread.join()
        now = timezone.now()
        for proxy in chunk:
            _apply_result(proxy, by_norm.get(specs[proxy.id].norm), now)
            live += proxy.last_status == PoolStatus.LIVE
        checked += len(chunk)
        with transaction.atomic():  # the fence holds the shard row until the results are in
            if not _pool_shard_beat(shard, checked=checked, live=live):
                return None
            PoolProxy.objects.bulk_update(chunk, _POOL_FIELDS, batch_size=500)
        checks_record("pool", [proxy.last_status for proxy in chunk])
        selectors.pool_changed(pool=shard.pool)
    PoolShard.objects.filter(pk=shard.pk, status=ShardStatus.RUNNING, attempt=shard.attempt).update(
        status=ShardStatus.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    return {"checked": checked, "live": live, "dead": checked - live}


def pool_recheck(*, pool: str, chunk_size: int = POOL_CHUNK,
                 on_shard: Callable[[PoolShard, dict | None], None] | None = None) -> dict:
    """Re-check every proxy of a pool now, in this process, shard by shard; a shard a worker
    holds is left to it (counted in `busy`). Returns {checked, live, dead, busy}. What
    `manage.py checkpool` runs; the beat hands the shards to the workers instead
    (`pool_recheck_enqueue`)."""
    pool_shards_plan(pool=pool)
    totals = {"checked": 0, "live": 0, "dead": 0, "busy": 0}
    for shard in PoolShard.objects.filter(pool=pool).order_by("first_id"):
        result = pool_shard_run(shard_id=shard.pk, chunk_size=chunk_size)
        if result is None:
            totals["busy"] += 1
        else:
            for key in ("checked", "live", "dead"):
                totals[key] += result[key]
        if on_shard is not None:
            on_shard(shard, result)
    return totals


def pool_progress(*, pool: str) -> dict:
    """Where the pool's re-checking stands, for `checkpool --status`: shards by state, the
    proxies checked within the pool's period, the running shards and the recent rate."""
    _validate_pool(pool)
    now = timezone.now()
    period = float(settings.CHECKER_RECHECK_S[pool])
    shards = list(PoolShard.objects.filter(pool=pool).order_by("first_id"))
    proxies = PoolProxy.objects.filter(pool=pool)
    recent = [s for s in shards if s.finished_at and s.started_at and s.finished_at >= now - timedelta(minutes=10)]
    rate = 0.0
    if recent:
        span = (max(s.finished_at for s in recent) - min(s.started_at for s in recent)).total_seconds()
        rate = sum(s.checked for s in recent) / span if span > 0 else 0.0
    finished = [s.finished_at for s in shards if s.finished_at]
    return {
        "pool": pool,
        "proxies": proxies.count(),
        "fresh": proxies.filter(last_checked_at__gte=now - timedelta(seconds=period)).count(),
        "period_s": period,
        "shards": len(shards),
        "by_status": {st: sum(1 for s in shards if s.status == st) for st in ShardStatus.values},
        "never_checked": sum(1 for s in shards if s.finished_at is None and s.status != ShardStatus.RUNNING),
        "running": [
            {"first_id": s.first_id, "last_id": s.last_id, "checked": s.checked,
             "started_at": s.started_at, "heartbeat_at": s.heartbeat_at}
            for s in shards if s.status == ShardStatus.RUNNING
        ],
        "last_finished_at": max(finished) if finished else None,
        "rate_per_s": rate,
    }
