"""The usage tables' bulk writes: raw records inserted once by id, and their figures added to
the hourly, daily and per-order buckets.

One `INSERT … ON CONFLICT (bucket) DO UPDATE SET x = x + excluded.x` per table, the same text
on PostgreSQL and SQLite (3.24+): the database adds, so two writers of one bucket never lose
a figure. Each raw record is added exactly once because `services.usage_ingest` only adds the
records it inserted (or, replacing one, the difference), in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from django.db import connection

from .models import UsageDaily, UsageHourly, UsageRecord, UsageTotal

CHUNK = 2000  # rows per statement: SQLite allows 32,766 parameters, 6 per row


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


class RawRecord(NamedTuple):
    record_id: str
    account_id: int
    proxy_id: int
    order_id: int
    hour: datetime
    bytes_in: int
    bytes_out: int
    requests: int


RAW_CHUNK = 1000  # rows per INSERT: 10 parameters each, within SQLite's and PostgreSQL's limits


def records_insert(rows: list[RawRecord], *, source: str, received_at: datetime) -> set[str]:
    """Inserts the raw records whose id is not stored yet; returns the ids it inserted.

    `INSERT … ON CONFLICT (record_id) DO NOTHING RETURNING record_id`: the unique index decides,
    so a record sent twice at once is inserted once whoever commits first. One statement per
    thousand rows, without building a model instance per record (an ingest's largest cost)."""
    if not rows:
        return set()
    qn = connection.ops.quote_name
    table = qn(UsageRecord._meta.db_table)
    columns = ("record_id", "account_id", "proxy_id", "order_id", "period_start", "bytes_in", "bytes_out",
               "requests", "source", "received_at")
    names = ", ".join(qn(c) for c in columns)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    adapt = connection.ops.adapt_datetimefield_value
    received = adapt(received_at)
    returning = connection.features.can_return_columns_from_insert
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), RAW_CHUNK):
            chunk = rows[start:start + RAW_CHUNK]
            if not returning:  # SQLite before 3.35: what is stored already, then the rest
                ids = [row.record_id for row in chunk]
                stored = set(UsageRecord.objects.filter(record_id__in=ids).values_list("record_id", flat=True))
                inserted.update(i for i in ids if i not in stored)
            values = ", ".join([placeholder] * len(chunk))
            sql = (f"INSERT INTO {table} ({names}) VALUES {values} ON CONFLICT ({qn('record_id')}) DO NOTHING"  # noqa: S608
                   + (f" RETURNING {qn('record_id')}" if returning else ""))
            params = []
            for row in chunk:
                params += [row.record_id, row.account_id, row.proxy_id, row.order_id, adapt(row.hour),
                           row.bytes_in, row.bytes_out, row.requests, source, received]
            cursor.execute(sql, params)
            if returning:
                inserted.update(r[0] for r in cursor.fetchall())
    return inserted
