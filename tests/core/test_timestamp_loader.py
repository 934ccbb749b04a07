"""Timestamps read through psycopg's C loader (core.postgresql) are the values Django's own
loader gives: aware, in UTC, to the microsecond, on every kind of read."""

import datetime

import pytest
from django.conf import settings
from django.db import connection
from psycopg import pq
from psycopg.postgres import types

from checker.models import CheckJob
from core.postgresql.base import UtcTimestamptzLoader

pytestmark = pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)")

TIMESTAMPTZ = types["timestamptz"].oid
MOMENTS = [
    datetime.datetime(2026, 12, 7, 5, 54, 50, 323858, tzinfo=datetime.UTC),
    datetime.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC),
    datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
]


def _read(sql: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
def test_timestamps_read_back_as_the_same_aware_utc_moments(account):
    jobs = [CheckJob.objects.create(account=account, total=1, finished_at=moment) for moment in MOMENTS]
    assert connection.connection.adapters.get_loader(TIMESTAMPTZ, pq.Format.TEXT) is UtcTimestamptzLoader
    for job, moment in zip(jobs, MOMENTS, strict=True):
        read = CheckJob.objects.values_list("finished_at", flat=True).get(pk=job.pk)
        assert read == moment and read.tzinfo is datetime.UTC
        assert CheckJob.objects.get(pk=job.pk).finished_at.isoformat() == moment.astimezone(datetime.UTC).isoformat()
    sql = "SELECT %s::timestamptz UNION ALL SELECT NULL::timestamptz"
    assert _read(sql, [MOMENTS[2]]) == [MOMENTS[2], None]
