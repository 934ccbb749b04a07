"""core.db.PreparedQuery: the same rows as the queryset it builds, compiled once per shape."""

import pickle
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from api.pagination import paginate
from checker.models import CheckItem, CheckJob
from core.db import PreparedQuery, prepared_rows


@pytest.fixture
def compiles(monkeypatch):
    """How many times Django compiled a SELECT."""
    calls = []
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        calls.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    return calls


def _job(account, **fields) -> CheckJob:
    return CheckJob.objects.create(account=account, total=3, **fields)


def _items(job, *statuses):
    return [CheckItem.objects.create(job=job, proxy_norm=f"10.0.0.{i}:80", status=s) for i, s in enumerate(statuses)]


def _items_query(*, job_id, status=None):
    items = CheckItem.objects.filter(job_id=job_id)
    if status:
        items = items.filter(status=status)
    return items.order_by("id")


def _fields(instances) -> list[dict]:
    return [{k: v for k, v in vars(i).items() if k != "_state"} for i in instances]


def test_the_rows_are_the_built_querysets(account, outsider_account):
    job, other = _job(account), _job(outsider_account)
    _items(job, "live", "dead", "live")
    _items(other, "live")
    prepared = PreparedQuery(_items_query)
    for status in (None, "live", "dead"):
        for job_id in (job.pk, other.pk, uuid.uuid4()):
            expected = list(_items_query(job_id=job_id, status=status))
            assert _fields(prepared(job_id=job_id, status=status)) == _fields(expected)


def test_a_shape_is_compiled_once_then_run_with_each_calls_values(account, compiles):
    first, second = _job(account), _job(account)
    _items(first, "live", "dead")
    _items(second, "live")
    prepared = PreparedQuery(_items_query)
    assert len(list(prepared(job_id=first.pk))) == 2
    compiled = len(compiles)
    assert compiled == 2  # the shape, from two sets of stand-ins
    with CaptureQueriesContext(connection) as queries:
        assert len(list(prepared(job_id=second.pk))) == 1
        assert [i.status for i in prepared(job_id=first.pk)] == ["live", "dead"]
    assert len(compiles) == compiled and len(queries) == 2
    list(prepared(job_id=first.pk, status="dead"))  # another shape: compiled on its first call
    assert len(compiles) == compiled + 2


def test_a_value_the_shape_holds_selects_its_own_sql(account):
    """None, a bool, 0 and "" are part of the shape: the builder may branch on them."""
    job = _job(account)
    _items(job, "live", "dead")
    prepared = PreparedQuery(_items_query)
    assert len(list(prepared(job_id=job.pk, status="live"))) == 1
    assert len(list(prepared(job_id=job.pk, status=""))) == 2
    assert len(list(prepared(job_id=job.pk, status=None))) == 2


def test_a_value_transformed_or_inlined_takes_the_usual_way(account, compiles):
    job = _job(account)
    _items(job, "live", "dead")
    contains = PreparedQuery(lambda *, job_id, text: CheckItem.objects.filter(job_id=job_id, status__contains=text))
    assert [i.status for i in contains(job_id=job.pk, text="iv")] == ["live"]
    sliced = PreparedQuery(lambda *, job_id, n: CheckItem.objects.filter(job_id=job_id).order_by("id")[:n])
    assert len(list(sliced(job_id=job.pk, n=1))) == 1
    before = len(compiles)
    assert [i.status for i in contains(job_id=job.pk, text="ea")] == ["dead"]
    assert len(list(sliced(job_id=job.pk, n=2))) == 2
    assert len(compiles) == before + 2  # each built and compiled again, as Django would


def test_a_builder_reading_the_clock_takes_the_usual_way(account, compiles):
    job = _job(account)
    recent = PreparedQuery(
        lambda *, account_id: CheckJob.objects.filter(account_id=account_id, created_at__gte=timezone.now()
                                                      - timedelta(hours=1))
    )
    assert [j.pk for j in recent(account_id=account.pk)] == [job.pk]
    before = len(compiles)
    assert [j.pk for j in recent(account_id=account.pk)] == [job.pk]
    assert len(compiles) == before + 1


def test_anything_but_evaluation_builds_the_queryset_from_its_values(account):
    job = _job(account)
    _items(job, "live", "dead", "live")
    prepared = PreparedQuery(_items_query)
    assert prepared(job_id=job.pk).count() == 3
    assert prepared(job_id=job.pk).filter(status="dead").count() == 1
    assert [i.status for i in prepared(job_id=job.pk)[1:]] == ["dead", "live"]
    assert prepared(job_id=job.pk).first().status == "live"
    assert prepared(job_id=job.pk).exists() and not prepared(job_id=uuid.uuid4()).exists()
    assert str(prepared(job_id=job.pk).query) == str(_items_query(job_id=job.pk).query)
    evaluated = prepared(job_id=job.pk)
    assert len(evaluated) == 3 and evaluated.count() == 3 and evaluated.filter(status="live").count() == 2
    restored = pickle.loads(pickle.dumps(prepared(job_id=job.pk, status="live")))
    assert type(restored) is type(CheckItem.objects.all()) and len(restored) == 2


def test_prefetches_and_values_are_kept(account):
    job = _job(account)
    _items(job, "live", "dead")
    with_items = PreparedQuery(
        lambda *, account_id: CheckJob.objects.filter(account_id=account_id)
        .prefetch_related(Prefetch("items", queryset=CheckItem.objects.order_by("id")))
    )
    [found] = with_items(account_id=account.pk)
    with CaptureQueriesContext(connection) as queries:
        assert [i.status for i in found.items.all()] == ["live", "dead"]
    assert not queries
    values = PreparedQuery(lambda *, job_id: CheckItem.objects.filter(job_id=job_id).order_by("id").values("status"))
    assert list(values(job_id=job.pk)) == [{"status": "live"}, {"status": "dead"}]


def test_pages_run_from_the_compiled_sql_with_their_total(account, compiles):
    job = _job(account)
    _items(job, *["live"] * 5)
    prepared = PreparedQuery(_items_query)
    ids = list(CheckItem.objects.filter(job=job).order_by("id").values_list("id", flat=True))
    items, meta = paginate(prepared(job_id=job.pk), {"limit": "2"}, default_limit=20, max_limit=100)
    assert [i.pk for i in items] == ids[:2] and meta == {"page": 1, "limit": 2, "total": 5}
    before = len(compiles)
    with CaptureQueriesContext(connection) as queries:
        for page, expected in ((2, ids[2:4]), (3, ids[4:])):
            items, meta = paginate(prepared(job_id=job.pk), {"limit": "2", "page": str(page)},
                                   default_limit=20, max_limit=100)
            assert [i.pk for i in items] == expected and meta["total"] == 5
    assert len(compiles) == before and len(queries) == 2
    assert not hasattr(items[0], "_page_total")
    items, meta = paginate(prepared(job_id=job.pk), {"limit": "2", "page": "9"}, default_limit=20, max_limit=100)
    assert items == [] and meta["total"] == 5  # past the end: counted the usual way


def test_values_of_a_prepared_queryset_stay_prepared(account, outsider_account, compiles):
    """`prepared(...).values(*names)` (a list reading only the columns it prints) pages from
    compiled SQL too, with the rows and the total `values()` gives the usual way."""
    job, other = _job(account), _job(outsider_account)
    _items(job, "live", "dead", "live")
    _items(other, "dead")
    prepared = PreparedQuery(_items_query)
    usual = list(_items_query(job_id=job.pk).values("proxy_norm", "status"))
    assert list(prepared(job_id=job.pk).values("proxy_norm", "status")) == usual
    items, meta = paginate(prepared(job_id=job.pk).values("proxy_norm", "status"), {"limit": "2"},
                           default_limit=20, max_limit=100)
    assert items == usual[:2] and meta["total"] == 3
    before = len(compiles)
    with CaptureQueriesContext(connection) as queries:
        items, meta = paginate(prepared(job_id=other.pk).values("proxy_norm", "status"), {"limit": "2"},
                               default_limit=20, max_limit=100)
    assert items == [{"proxy_norm": "10.0.0.0:80", "status": "dead"}] and meta["total"] == 1
    assert len(compiles) == before and len(queries) == 1
    assert prepared(job_id=job.pk).values("status").filter(status="live").count() == 2  # chained further: usual way


def test_a_settings_change_forgets_what_was_compiled(account, compiles):
    job = _job(account)
    prepared = PreparedQuery(_items_query)
    list(prepared(job_id=job.pk))
    before = len(compiles)
    with override_settings(USE_TZ=True):
        list(prepared(job_id=job.pk))
    assert len(compiles) == before + 2


def test_only_untouched_prepared_querysets_have_prepared_rows(account):
    job = _job(account)
    _items(job, "live")
    prepared = PreparedQuery(_items_query)
    assert prepared_rows(_items_query(job_id=job.pk)) is None
    assert prepared_rows(prepared(job_id=job.pk).filter(status="live")) is None
    assert [i.status for i in prepared_rows(prepared(job_id=job.pk))] == ["live"]
    unsupported = prepared(job_id=str(job.pk))  # a kind of value the shape cannot hold: built as usual
    assert prepared_rows(unsupported) is None and len(unsupported) == 1


def test_zero_and_false_are_different_shapes(account):
    job = _job(account, include_anonymity=False)
    by_flag = PreparedQuery(lambda *, account_id, flag: CheckJob.objects.filter(account_id=account_id,
                                                                               include_anonymity=flag))
    by_total = PreparedQuery(lambda *, account_id, total: CheckJob.objects.filter(account_id=account_id, total=total))
    assert [j.pk for j in by_flag(account_id=account.pk, flag=False)] == [job.pk]
    assert list(by_flag(account_id=account.pk, flag=True)) == []
    assert list(by_total(account_id=account.pk, total=0)) == []
    assert [j.pk for j in by_total(account_id=account.pk, total=3)] == [job.pk]


def test_datetimes_with_their_zone_are_parameters(account, compiles):
    now = timezone.now()
    old, new = _job(account, created_at=now - timedelta(days=2)), _job(account, created_at=now)
    since = PreparedQuery(lambda *, account_id, since: CheckJob.objects.filter(account_id=account_id,
                                                                               created_at__gte=since).order_by("pk"))
    assert {j.pk for j in since(account_id=account.pk, since=now - timedelta(days=3))} == {old.pk, new.pk}
    before = len(compiles)
    assert [j.pk for j in since(account_id=account.pk, since=now - timedelta(days=1))] == [new.pk]
    if connection.vendor == "postgresql":  # SQLite receives them as text in its zone: the usual way
        assert len(compiles) == before


def test_a_models_choice_is_a_parameter_as_its_value_is(account, compiles):
    from checker.models import ItemStatus

    job = _job(account)
    live, dead = _items(job, ItemStatus.LIVE, ItemStatus.DEAD)
    items = PreparedQuery(_items_query)
    assert [i.pk for i in items(job_id=job.pk, status=ItemStatus.LIVE)] == [live.pk]
    before = len(compiles)
    assert [i.pk for i in items(job_id=job.pk, status=ItemStatus.DEAD)] == [dead.pk]
    assert [i.pk for i in items(job_id=job.pk, status="live")] == [live.pk]
    assert len(compiles) == before  # the member and the plain text are one shape, compiled once
