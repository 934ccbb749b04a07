"""The public and premium pools: import proxy lists into them and re-check them."""

from __future__ import annotations

from django.utils import timezone

from checker import selectors
from checker.engine.check import CheckResult
from checker.engine.parse import ProxySpec
from checker.models import UPTIME_WINDOW, Pool, PoolProxy, PoolStatus
from checker.services.parsing import parse_for_storage
from checker.services.runner import EngineRun, engine_config
from core.errors import DomainValidationError
from core.metrics import checks_record

POOL_CHUNK = 2000  # pool proxies per engine run during a re-check


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


def pool_recheck(*, pool: str, chunk_size: int = POOL_CHUNK) -> dict:
    """Re-check every proxy of a pool (chunk by chunk, constant memory); returns
    {checked, live, dead}. What `manage.py checkpool` and the beat schedule run."""
    _validate_pool(pool)
    config = engine_config(include_anonymity=True)
    checked = live = 0
    last_id = 0
    while True:
        chunk = list(PoolProxy.objects.filter(pool=pool, id__gt=last_id).order_by("id")[:chunk_size])
        if not chunk:
            break
        last_id = chunk[-1].id
        specs = {proxy.id: _spec_of(proxy) for proxy in chunk}
        run = EngineRun(list(specs.values()), config).start()
        by_norm: dict[str, CheckResult] = {}
        for batch in run.batches(batch_size=10_000, flush_every_s=5.0):
            for result in batch:
                by_norm[result.proxy.norm] = result
        run.thread.join()
        now = timezone.now()
        for proxy in chunk:
            result = by_norm.get(specs[proxy.id].norm)
            _apply_result(proxy, result, now)
            live += proxy.last_status == PoolStatus.LIVE
        PoolProxy.objects.bulk_update(chunk, _POOL_FIELDS, batch_size=500)
        checks_record("pool", [proxy.last_status for proxy in chunk])
        selectors.pool_changed(pool=pool)
        checked += len(chunk)
    return {"checked": checked, "live": live, "dead": checked - live}
