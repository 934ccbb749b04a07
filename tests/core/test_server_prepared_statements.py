"""On PostgreSQL the statements of prepared reads (core.db.PreparedQuery) are prepared on the
server, once per connection, and nothing else is: not a statement repeated many times, not
the statistics' reads, whose plan depends on the date range."""

import pytest
from django.conf import settings
from django.db import connection

from checker.models import CheckItem, CheckJob
from core.db import PreparedQuery

pytestmark = pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)")


def _prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def _items_query(*, job_id):
    return CheckItem.objects.filter(job_id=job_id).order_by("id")


def _job_with_items(account, count: int) -> CheckJob:
    job = CheckJob.objects.create(account=account, total=count)
    CheckItem.objects.bulk_create(CheckItem(job=job, proxy_norm=f"10.0.0.{i}:80") for i in range(count))
    return job


@pytest.mark.django_db
def test_a_prepared_read_is_prepared_on_the_server_once_and_gives_each_calls_rows(account, outsider_account):
    items = PreparedQuery(_items_query)
    mine, theirs = _job_with_items(account, 3), _job_with_items(outsider_account, 2)
    before = len(_prepared_statements())

    assert [i.job_id for i in items(job_id=mine.pk)] == [mine.pk] * 3
    statements = _prepared_statements()
    assert len(statements) == before + 1
    assert any('FROM "checker_checkitem"' in s and "$1" in s for s in statements)

    # The same statement again, with other values: no second one, and the other job's rows.
    assert [i.job_id for i in items(job_id=theirs.pk)] == [theirs.pk] * 2
    assert [i.job_id for i in items(job_id=mine.pk)] == [mine.pk] * 3
    assert len(_prepared_statements()) == before + 1


@pytest.mark.django_db
def test_other_statements_are_not_prepared_however_often_they_run(account):
    job = _job_with_items(account, 2)
    before = _prepared_statements()
    for _ in range(20):
        assert CheckItem.objects.filter(job_id=job.pk).count() == 2
    plain = PreparedQuery(_items_query, prepare_on_server=False)
    for _ in range(20):
        assert len(list(plain(job_id=job.pk))) == 2
    assert _prepared_statements() == before


@pytest.mark.django_db
def test_the_connection_binds_on_the_server_and_prepares_only_when_asked():
    connection.ensure_connection()
    raw = connection.connection
    assert raw.cursor_factory.__name__ == "PreparingCursor"
    # psycopg prepares a statement on request only when its connection has a threshold; the
    # one set here is never reached, so nothing is prepared for having been repeated.
    assert raw.prepare_threshold is not None and raw.prepare_threshold > 10**12


def _executions() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_daily_statistics_over_a_month_are_prepared_and_others_planned_for_their_range(account):
    from datetime import date, timedelta

    from orders.residential.selectors import StatsQuery, stats_rows, stats_totals

    end = date(2026, 12, 7)
    month = StatsQuery(start=end - timedelta(days=29), end=end, proxy=None, group_by="day")
    year = StatsQuery(start=end - timedelta(days=365), end=end, proxy=None, group_by="day")
    hourly = StatsQuery(start=end - timedelta(days=29), end=end, proxy=None, group_by="hour")
    before = _executions()
    assert stats_rows(account=account, query=hourly)[0:50] == []
    assert stats_totals(account=account, query=hourly)["requests"] == 0
    assert _executions() == before

    assert stats_rows(account=account, query=month)[0:50] == []
    assert stats_totals(account=account, query=month)["bytes_total"] == 0
    prepared = {s: n for s, n in _executions().items() if s not in before}
    assert len(prepared) == 2 and all('"orders_usagedaily"' in s for s in prepared)

    # The same statements over a year run unprepared: the prepared ones are not executed again.
    assert stats_rows(account=account, query=year)[0:50] == []
    assert stats_totals(account=account, query=year)["bytes_total"] == 0
    assert {s: n for s, n in _executions().items() if s not in before} == prepared
    stats_rows(account=account, query=month)[0:50]
    assert sum(_executions()[s] for s in prepared) == sum(prepared.values()) + 1


@pytest.mark.django_db
def test_a_bulk_write_past_the_protocols_parameter_limit_is_split_into_statements(account):
    """Bound on the server, a statement carries at most 65,535 parameters. Updating 25,000
    proxies of an order in bulk (three parameters a row) takes as many statements as that
    needs, and so does deleting them with their order."""
    from orders.models import Order, OrderProxy

    order = Order.objects.create(account=account, type="ipv6", quantity=25_000, status="active",
                                 unit_price=0, subtotal=0, discount=0, total=0)
    proxies = OrderProxy.objects.bulk_create(
        OrderProxy(order=order, host=f"2001:db8::{i:x}", port=8000, username="u", password="p") for i in range(25_000)
    )
    for proxy in proxies:
        proxy.port = 9000
    OrderProxy.objects.bulk_update(proxies, ["port"])
    assert OrderProxy.objects.filter(order=order, port=9000).count() == 25_000
    order.delete()
    assert not OrderProxy.objects.filter(order_id=order.pk).exists()
