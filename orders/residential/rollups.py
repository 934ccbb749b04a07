"""The usage rollups' one write: add figures to their hourly, daily and per-order buckets.

One `INSERT … ON CONFLICT (bucket) DO UPDATE SET x = x + excluded.x` per table, the same text
on PostgreSQL and SQLite (3.24+): the database adds, so two writers of one bucket never lose
a figure. Each raw record is added exactly once because `services.usage_ingest` only adds the
records it inserted (or, replacing one, the difference), in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from .models import UsageDaily, UsageHourly, UsageTotal

CHUNK = 500  # rows per statement: SQLite allows 32,766 parameters, 6 per row


@dataclass(frozen=True)
class UsageDelta:
    account_id: int
    proxy_id: int
    order_id: int
    hour: datetime  # UTC, on the hour
    bytes_in: int
    bytes_out: int
    requests: int


def _day(hour: datetime) -> datetime:
    return hour.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _upsert(model, key: tuple[str, ...], columns: tuple[str, ...], rows: dict[tuple, list[int]]) -> None:
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    sums = ("bytes_in", "bytes_out", "requests")
    names = ", ".join(qn(c) for c in (*columns, *sums))
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in sums)
    placeholder = "(" + ", ".join(["%s"] * (len(columns) + len(sums))) + ")"
    adapt = connection.ops.adapt_datetimefield_value
    items = [
        [adapt(v) if isinstance(v, datetime) else v for v in bucket] + figures
        for bucket, figures in sorted(rows.items())  # one order of locks for every writer
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(items), CHUNK):
            chunk = items[start:start + CHUNK]
            # The names are the models' own; every value is a parameter.
            values = ", ".join([placeholder] * len(chunk))
            conflict = ", ".join(qn(k) for k in key)
            sql = f"INSERT INTO {table} ({names}) VALUES {values} ON CONFLICT ({conflict}) DO UPDATE SET {updates}"  # noqa: S608
            cursor.execute(sql, [v for row in chunk for v in row])


def rollups_add(deltas: list[UsageDelta]) -> None:
    """Adds each delta to its hour, its day and its (proxy, order) total."""
    hourly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for d in deltas:
        for bucket in (
            hourly[(d.proxy_id, d.hour, d.account_id)],
            daily[(d.proxy_id, _day(d.hour), d.account_id)],
            totals[(d.proxy_id, d.order_id, d.account_id)],
        ):
            bucket[0] += d.bytes_in
            bucket[1] += d.bytes_out
            bucket[2] += d.requests
    bucket_columns = ("proxy_id", "period_start", "account_id")
    _upsert(UsageHourly, ("proxy_id", "period_start"), bucket_columns, hourly)
    _upsert(UsageDaily, ("proxy_id", "period_start"), bucket_columns, daily)
    _upsert(UsageTotal, ("proxy_id", "order_id"), ("proxy_id", "order_id", "account_id"), totals)
