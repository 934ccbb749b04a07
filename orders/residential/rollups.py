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


def _rows_source(cursor_columns: tuple[tuple[str, str], ...], rows: list[list]) -> tuple[str, list]:
    """The rows as an SQL row source and its parameters. PostgreSQL: `SELECT * FROM unnest(%s::type[],
    …)`, one array parameter per column, so the statement's text and its parsing stay the same
    size however many rows (psycopg's client-side binding scans the text for every `%s`: ten
    thousand of them cost more than the INSERT itself). Elsewhere (SQLite): `VALUES (…), (…)`."""
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{pg_type}[]" for _, pg_type in cursor_columns)
        return f"SELECT * FROM unnest({arrays})", [list(column) for column in zip(*rows, strict=True)]  # noqa: S608
    adapt = connection.ops.adapt_datetimefield_value
    placeholder = "(" + ", ".join(["%s"] * len(cursor_columns)) + ")"
    params = [adapt(v) if isinstance(v, datetime) else v for row in rows for v in row]
    return "VALUES " + ", ".join([placeholder] * len(rows)), params


def _upsert(model, key: tuple[str, ...], columns: tuple[tuple[str, str], ...], rows: dict[tuple, list[int]]) -> None:
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    sums = ("bytes_in", "bytes_out", "requests")
    typed = (*columns, *((c, "bigint") for c in sums))
    names = ", ".join(qn(c) for c, _ in typed)
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in sums)
    conflict = ", ".join(qn(k) for k in key)
    items = [[*bucket, *figures] for bucket, figures in sorted(rows.items())]  # one order of locks for all
    with connection.cursor() as cursor:
        for start in range(0, len(items), CHUNK):
            source, params = _rows_source(typed, items[start:start + CHUNK])
            # The names are the models' own; every value is a parameter. `WHERE true` lets
            # SQLite parse ON CONFLICT after a SELECT.
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM ({source}) AS r WHERE true "  # noqa: S608
                f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}", params,
            )


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
    bucket_columns = (("proxy_id", "bigint"), ("period_start", "timestamptz"), ("account_id", "bigint"))
    _upsert(UsageHourly, ("proxy_id", "period_start"), bucket_columns, hourly)
    _upsert(UsageDaily, ("proxy_id", "period_start"), bucket_columns, daily)
    _upsert(UsageTotal, ("proxy_id", "order_id"), (("proxy_id", "bigint"), ("order_id", "bigint"), ("account_id", "bigint")),
            totals)


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


RAW_COLUMNS = (("record_id", "text"), ("account_id", "bigint"), ("proxy_id", "bigint"), ("order_id", "bigint"),
               ("period_start", "timestamptz"), ("bytes_in", "bigint"), ("bytes_out", "bigint"), ("requests", "bigint"))


def records_insert(rows: list[RawRecord], *, source: str, received_at: datetime) -> set[str]:
    """Inserts the raw records whose id is not stored yet; returns the ids it inserted.

    `INSERT … ON CONFLICT (record_id) DO NOTHING RETURNING record_id`: the unique index decides,
    so a record sent twice at once is inserted once whoever commits first. One statement per
    thousand rows, without building a model instance per record (an ingest's largest cost)."""
    if not rows:
        return set()
    qn = connection.ops.quote_name
    table = qn(UsageRecord._meta.db_table)
    names = ", ".join(qn(c) for c, _ in RAW_COLUMNS)
    returning = connection.features.can_return_columns_from_insert
    received = connection.ops.adapt_datetimefield_value(received_at)
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), RAW_CHUNK):
            chunk = rows[start:start + RAW_CHUNK]
            if not returning:  # SQLite before 3.35: what is stored already, then the rest
                ids = [row.record_id for row in chunk]
                stored = set(UsageRecord.objects.filter(record_id__in=ids).values_list("record_id", flat=True))
                inserted.update(i for i in ids if i not in stored)
            source_sql, params = _rows_source(RAW_COLUMNS, chunk)
            cursor.execute(
                f"INSERT INTO {table} ({names}, {qn('source')}, {qn('received_at')}) "  # noqa: S608
                f"SELECT *, %s, %s FROM ({source_sql}) AS r WHERE true ON CONFLICT ({qn('record_id')}) DO NOTHING"
                + (f" RETURNING {qn('record_id')}" if returning else ""),
                [source, received, *params],  # in the order of the text
            )
            if returning:
                inserted.update(r[0] for r in cursor.fetchall())
    return inserted
