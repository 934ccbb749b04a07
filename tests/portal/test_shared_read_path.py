"""The shared read path of every list and detail endpoint: output serializers render exactly
as DRF's serializers do, and a page comes with its total in one query."""

import datetime
import decimal
import uuid
from datetime import UTC, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from api.pagination import paginate
from api.serializers import OutputSerializer
from billing.models import LedgerEntry
from checker.models import CheckItem, CheckJob
from orders.models import Order, OrderProxy
from orders.residential.models import SubUserProxy, UsageRecord
from tests.billing.conftest import fund

pytestmark = pytest.mark.django_db


def _seed(account) -> dict:
    fund(account, "25.10", reference="shared-path")
    now = timezone.now()
    orders = Order.objects.bulk_create([
        Order(account=account, type="datacenter", quantity=Decimal(2), period_days=30, country="US",
              status="active", unit_price=Decimal("1.50"), subtotal=Decimal("3.00"), discount=Decimal("0.30"),
              total=Decimal("2.70"), created_at=now - timedelta(hours=n), activated_at=now,
              expires_at=now + timedelta(days=30))
        for n in range(3)
    ] + [Order(account=account, type="residential", quantity=Decimal("1.5"), status="active",
               unit_price=Decimal(4), subtotal=Decimal(6), discount=Decimal(0), total=Decimal(6),
               traffic_gb=Decimal("1.5"), traffic_used_gb=Decimal("0.25"), created_at=now - timedelta(days=1))])
    order, residential = orders[0], orders[-1]
    OrderProxy.objects.bulk_create([
        OrderProxy(order=order, host=f"10.0.0.{n}", port=8000 + n, username="u", password="p",
                   country="US" if n else "")
        for n in range(3)
    ] + [OrderProxy(order=order, host="10.0.0.9", port=9, released_at=now)])
    proxy = SubUserProxy.objects.create(account=account, order=residential, name="Zoë", username="shared0001x",
                                        password="secret", country="US", city="Los Angeles")
    UsageRecord.objects.bulk_create([
        UsageRecord(record_id=f"shared:{h}", account=account, proxy=proxy, order=residential,
                    period_start=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=h),
                    bytes_in=1000 * h, bytes_out=10 * h, requests=h)
        for h in range(5)
    ])
    job = CheckJob.objects.create(account=account, status="completed", total=2, done=2, live=1,
                                  started_at=now, finished_at=now)
    CheckItem.objects.bulk_create([
        CheckItem(job=job, proxy_norm="http://192.0.2.1:80", status="live", protocol="http", connect_ms=12,
                  ttfb_ms=40, exit_ip="192.0.2.1", country="US", anonymity="elite"),
        CheckItem(job=job, proxy_norm="http://192.0.2.2:80", status="dead", error="timeout"),
    ])
    return {"order": order.public_id, "proxy": proxy.public_id, "job": str(job.job_id)}


READS = [
    "account", "account/transactions", "plans", "deposits/addresses", "reference/countries",
    "reference/proxy-types", "reference/periods", "orders", "orders/{order}", "orders/{order}/proxies",
    "proxy", "proxy/{proxy}", "stats?group_by=hour", "geo/countries", "geo/states?country=US", "jobs",
    "jobs/{job}", "jobs/{job}/items",
]


def test_every_read_renders_as_drfs_serializers_render(account, make_key, api, monkeypatch):
    ids = _seed(account)
    client = api(make_key(account))
    paths = [path.format(**ids) for path in READS]
    served = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.content)
        served[path] = response.json_body
    monkeypatch.setattr(OutputSerializer, "to_representation", serializers.Serializer.to_representation)
    for path in paths:
        assert client.get(path).json_body == served[path], path
    assert served["account"]["data"]["balance"] == "25.10"
    assert served[f"orders/{ids['order']}"]["data"]["proxy_count"] == 3


LISTS = ["proxy", "orders", "orders/{order}/proxies", "account/transactions", "jobs", "jobs/{job}/items"]


def _more_rows(account, ids) -> None:
    """Three more rows in each list of LISTS."""
    order = Order.objects.get(public_id=ids["order"])
    residential = Order.objects.get(account=account, type="residential")
    job = CheckJob.objects.get(pk=ids["job"])
    now = timezone.now()
    for n in range(3):
        SubUserProxy.objects.create(account=account, order=residential, name=f"more{n}", username=f"shared0002{n}",
                                    password="secret", created_at=now + timedelta(seconds=n))
    OrderProxy.objects.bulk_create([OrderProxy(order=order, host=f"10.0.1.{n}", port=7000 + n) for n in range(3)])
    Order.objects.bulk_create([
        Order(account=account, type="datacenter", quantity=Decimal(1), period_days=30, status="expired",
              unit_price=Decimal(1), subtotal=Decimal(1), discount=Decimal(0), total=Decimal(1),
              ended_at=now, provider_checked_at=now, reminded_1d_at=now)
        for _ in range(3)
    ])
    _entries(account, 3)
    CheckJob.objects.bulk_create([CheckJob(account=account, status="queued") for _ in range(3)])
    CheckItem.objects.bulk_create([
        CheckItem(job=job, proxy_norm=f"http://192.0.2.{n}:8080", status="dead") for n in range(10, 13)
    ])


def test_a_list_takes_the_same_queries_for_many_rows_as_for_one(account, make_key, api):
    """No row of a list reads anything on its own (a column left out of a lean query would)."""
    ids = _seed(account)
    client = api(make_key(account))

    def counted() -> dict:
        found = {}
        for path in LISTS:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path.format(**ids))
            assert response.status_code == 200, (path, response.content)
            found[path] = (len(queries), len(response.json_body["data"]))
        return found

    counted()  # the key, the catalogue: read once, then from this process's memory
    before = counted()
    _more_rows(account, ids)
    counted()
    after = counted()
    assert {path: n for path, (n, _) in after.items()} == {path: n for path, (n, _) in before.items()}
    assert all(after[path][1] == before[path][1] + 3 for path in LISTS), (before, after)


def test_values_rows_render_as_their_instances(account):
    """A list endpoint reading `values(*Out.columns())` rows says what it said of the instances."""
    from billing.api import TransactionOut
    from checker.api import JobOut
    from orders.api import ProxyOut

    _seed(account)
    for out, queryset in (
        (TransactionOut, LedgerEntry.objects.filter(account=account).order_by("id")),
        (JobOut, CheckJob.objects.filter(account=account)),
        (ProxyOut, OrderProxy.objects.filter(order__account=account).order_by("id")),
    ):
        instances = list(queryset)
        assert len(instances) >= 1
        rendered = out(instances, many=True).data
        assert out(list(queryset.values(*out.columns())), many=True).data == rendered
    assert [p["country"] for p in ProxyOut(OrderProxy.objects.order_by("id"), many=True).data][:2] == [None, "US"]


def test_columns_are_only_for_serializers_reading_one_name_per_field():
    from orders.api import OrderOut

    with pytest.raises(TypeError, match="OrderOut.quantity"):
        OrderOut.columns()
    with pytest.raises(TypeError, match="loud|inner_label|extra"):
        FastOut.columns()
    assert FastInner.columns() == ("label", "amount")


def test_a_blank_as_null_field_reads_blank_text_as_null():
    from api.serializers import BlankAsNullField

    class Out(OutputSerializer):
        text = BlankAsNullField()

    assert [Out({"text": value}).data["text"] for value in ("", None, "x", 0)] == [None, None, "x", "0"]


class _Thing:
    def __init__(self, **values):
        self.__dict__.update(values)

    def shout(self) -> str:
        return self.name.upper()


class Kind(models.TextChoices):
    A = "a", "The a"
    B = "b", "The b"


class DrfInner(serializers.Serializer):
    label = serializers.CharField()
    amount = serializers.DecimalField(max_digits=6, decimal_places=3)


class FastInner(OutputSerializer, DrfInner):
    pass


class DrfOut(serializers.Serializer):
    """DRF's serializer; FastOut below has the same fields on OutputSerializer."""

    name = serializers.CharField()
    loud = serializers.CharField(source="shout")
    count = serializers.IntegerField()
    price = serializers.DecimalField(max_digits=8, decimal_places=2)
    small = serializers.DecimalField(max_digits=3, decimal_places=2, required=False)
    exact = serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=False, required=False)
    trimmed = serializers.DecimalField(max_digits=8, decimal_places=2, normalize_output=True, required=False)
    flag = serializers.BooleanField(required=False)
    ratio = serializers.FloatField(required=False)
    uid = serializers.UUIDField(required=False)
    hexed = serializers.UUIDField(format="hex", source="uid", required=False)
    at = serializers.DateTimeField(allow_null=True)
    iso = serializers.DateTimeField(format="iso-8601", required=False)
    kind = serializers.ChoiceField(choices=["a", "b"])
    labelled = serializers.ChoiceField(choices=Kind.choices, source="kind")
    maybe = serializers.CharField(allow_null=True)
    optional = serializers.CharField(required=False)
    fallback = serializers.CharField(default="dflt")
    tags = serializers.ListField(child=serializers.CharField())
    numbers = serializers.ListField(child=serializers.IntegerField(), required=False)
    inner_label = serializers.CharField(source="inner.label", required=False)
    extra = serializers.SerializerMethodField()

    def get_extra(self, obj) -> str:
        return f"extra-{obj['name'] if isinstance(obj, dict) else obj.name}"


class DrfNesting(serializers.Serializer):
    inner = DrfInner(required=False, allow_null=True)
    inners = DrfInner(many=True, required=False)


class FastOut(OutputSerializer, DrfOut):
    pass


class FastNesting(OutputSerializer):
    inner = FastInner(required=False, allow_null=True)
    inners = FastInner(many=True, required=False)


INNER = {"label": "in", "amount": Decimal("1.5")}


@pytest.mark.parametrize("at", [
    datetime.datetime(2026, 7, 1, 12, 30, 5, 999, tzinfo=UTC),
    datetime.datetime(2026, 7, 1, 12, 30, 5, tzinfo=ZoneInfo("Europe/Berlin")),
    datetime.datetime(2026, 1, 1, 0, 0),  # naive: DRF makes it aware in the current zone
    "2026-01-01 as text",
    None,
])
def test_output_serializer_matches_drf_value_by_value(at):
    values = {"name": "zoë", "count": "7", "price": Decimal("3.456"), "at": at, "iso": at, "kind": "a",
              "maybe": None, "tags": [1, "x"]}
    for instance in (_Thing(**values), dict(values)):
        if isinstance(instance, dict):
            instance["shout"] = "ZOË"
        assert FastOut(instance).data == DrfOut(instance).data
        assert len(FastOut(instance).data) >= 11
        assert FastOut([instance, instance], many=True).data == DrfOut([instance, instance], many=True).data


@pytest.mark.parametrize("values", [
    # as the database returns them: decimals at the column's places, plain strings and bools
    {"price": Decimal("12.30"), "small": Decimal("-0.00"), "exact": Decimal("1.20"), "trimmed": Decimal("1.20"),
     "flag": True, "ratio": 0.25, "uid": uuid.UUID(int=7), "kind": "b", "numbers": [1, None, 3],
     "inner": _Thing(**INNER)},
    # what DRF converts first: other places, rounding, numbers that are not Decimal, enum members,
    # truthy non-bools, a tuple, a float and a string as a decimal
    {"price": Decimal("2.345"), "small": Decimal("1"), "exact": 3, "trimmed": "4.5", "flag": "yes",
     "ratio": Decimal("0.5"), "uid": "not-a-uuid-object", "kind": Kind.A, "numbers": ("4", 5)},
    {"price": 2.675, "small": Decimal("9.999"), "flag": 0, "kind": "", "numbers": [],
     "uid": uuid.UUID(int=2**128 - 1)},
    {"price": Decimal("-0.005"), "flag": None, "kind": "c", "inner": {"label": 5}},
])
def test_output_serializer_matches_drf_for_every_planned_kind(values):
    base = {"name": "n", "count": 1, "at": None, "maybe": "m", "tags": ("t", None)}
    for instance in (_Thing(**base, **values), {**base, **values, "shout": "N"}):
        try:
            expected = DrfOut(instance).data
        except Exception as exc:  # noqa: BLE001 - then ours fails alike
            with pytest.raises(type(exc)):
                FastOut(instance).data  # noqa: B018
            continue
        assert FastOut(instance).data == expected
        assert [type(v) for v in FastOut(instance).data.values()] == [type(v) for v in expected.values()]


def test_decimal_places_that_do_not_fit_fail_as_drf_does():
    instance = _Thing(name="n", count=1, price=Decimal("1.00"), small=Decimal("12.34"), at=None, kind="a",
                      maybe=None, tags=[])
    with pytest.raises(decimal.InvalidOperation):
        DrfOut(instance).data  # noqa: B018
    with pytest.raises(decimal.InvalidOperation):
        FastOut(instance).data  # noqa: B018


@pytest.mark.parametrize("instance", [
    {"inner": INNER, "inners": [INNER, {"label": "b", "amount": Decimal("0.125")}]},
    {"inner": _Thing(**INNER), "inners": (_Thing(**INNER),)},
    {"inner": None, "inners": []},
    {},
])
def test_nested_output_serializers_match_drf(instance):
    assert FastNesting(instance).data == DrfNesting(instance).data


def test_decimal_strings_follow_the_setting(settings):
    instance = _Thing(name="a", count=1, price=Decimal("1.50"), at=None, kind="a", maybe=None, tags=[])
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "COERCE_DECIMAL_TO_STRING": False}
    fast, drf = FastOut(instance).data, DrfOut(instance).data
    assert fast == drf and fast["price"] == Decimal("1.50")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "COERCE_DECIMAL_TO_STRING": True}
    assert FastOut(instance).data["price"] == "1.50"


def test_output_serializer_follows_the_active_time_zone(settings):
    """A zone other than UTC (never activated by the API, but possible) is DRF's formatting."""
    at = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    instance = _Thing(name="a", count=1, price=1, at=at, iso=at, kind="b", maybe="m", optional="o", tags=[])
    with timezone.override(ZoneInfo("Asia/Tokyo")):
        fast, drf = FastOut(instance).data, DrfOut(instance).data
    assert fast == drf and fast["at"] == "2026-07-01T21:00:00Z"


def test_output_serializer_with_a_missing_required_value_fails_as_drf_does():
    with pytest.raises(AttributeError):
        DrfOut(_Thing(name="a")).data  # noqa: B018 - evaluating is the point
    with pytest.raises(AttributeError):
        FastOut(_Thing(name="a")).data  # noqa: B018


# --- pagination ------------------------------------------------------------------------------


def _entries(account, count: int) -> None:
    LedgerEntry.objects.bulk_create([
        LedgerEntry(account=account, type="deposit", amount=Decimal(1), balance_after=Decimal(n + 1),
                    description="d", reference=f"page-{n}")
        for n in range(count)
    ])


@pytest.mark.parametrize(("page", "expected"), [("1", 3), ("3", 1), ("4", 0), ("99", 0)])
def test_a_page_and_its_total_come_in_one_query(account, django_assert_num_queries, page, expected):
    _entries(account, 7)
    queryset = LedgerEntry.objects.filter(account=account).order_by("id")
    past_the_end = expected == 0
    with django_assert_num_queries(2 if past_the_end else 1):  # past the end: no row carries it
        items, meta = paginate(queryset, {"page": page, "limit": "3"}, default_limit=20, max_limit=100)
    assert len(items) == expected and meta == {"page": int(page), "limit": 3, "total": 7}
    assert all(not hasattr(item, "_page_total") for item in items)


def test_an_empty_list_is_one_query_too(account, django_assert_num_queries):
    with django_assert_num_queries(1):
        items, meta = paginate(LedgerEntry.objects.filter(account=account), {}, default_limit=20, max_limit=100)
    assert items == [] and meta["total"] == 0


def test_dict_rows_and_grouped_queries_count_right(account, django_assert_num_queries):
    _entries(account, 5)
    rows = LedgerEntry.objects.filter(account=account).order_by("id").values("reference")
    with django_assert_num_queries(1):
        items, meta = paginate(rows, {"limit": "2"}, default_limit=20, max_limit=100)
    assert items == [{"reference": "page-0"}, {"reference": "page-1"}] and meta["total"] == 5
    distinct = LedgerEntry.objects.filter(account=account).values("reference").distinct().order_by("reference")
    with django_assert_num_queries(2):  # a DISTINCT list is counted on its own
        items, meta = paginate(distinct, {"limit": "2", "page": "2"}, default_limit=20, max_limit=100)
    assert items == [{"reference": "page-2"}, {"reference": "page-3"}] and meta["total"] == 5


@pytest.mark.parametrize(("page", "expected", "queries"), [("1", 3, 2), ("2", 2, 1), ("3", 0, 2), ("4", 0, 2)])
def test_a_list_counted_apart_needs_no_count_when_its_page_ends_it(account, django_assert_num_queries, page,
                                                                     expected, queries):
    _entries(account, 5)
    distinct = LedgerEntry.objects.filter(account=account).values("reference").distinct().order_by("reference")
    with django_assert_num_queries(queries):
        items, meta = paginate(distinct, {"limit": "3", "page": page}, default_limit=20, max_limit=100)
    assert len(items) == expected and meta["total"] == 5
    empty = LedgerEntry.objects.filter(account=account, amount__lt=0).values("type").distinct()
    with django_assert_num_queries(1):  # nothing from the start: nothing to count
        assert paginate(empty, {}, default_limit=20, max_limit=100) == ([], {"page": 1, "limit": 20, "total": 0})


def test_datetimes_are_written_as_drfs_field_writes_them_for_any_moment_and_format():
    """The plan writes the API's time format from the datetime's fields, not with strftime;
    for every moment (years before 1000 included) and for formats it cannot write so, the
    text is the DateTimeField's own."""
    import datetime as dt

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from rest_framework import fields as drf_fields

    from api.serializers import _utc_text

    formats = ["%Y-%m-%dT%H:%M:%SZ", "%Y", "%d/%m/%Y %H:%M", "100%% at %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%fZ", "%b %d"]

    @settings(max_examples=300, deadline=None)
    @given(moment=st.datetimes(timezones=st.just(dt.UTC)), output_format=st.sampled_from(formats))
    def check(moment, output_format):
        assert _utc_text(output_format)(moment) == drf_fields.DateTimeField(format=output_format).to_representation(moment)

    check()


def test_decimals_are_written_as_drfs_field_writes_them_for_any_value():
    """The plan's decimal text (str() of a value already at the field's places, else the
    quantizing way) is the DecimalField's own for any value it may meet."""
    from decimal import Decimal, InvalidOperation

    from hypothesis import given, settings
    from hypothesis import strategies as st
    from rest_framework import fields as drf_fields

    from api.serializers import _decimal_text

    fields = [drf_fields.DecimalField(max_digits=digits, decimal_places=places)
              for digits, places in ((14, 2), (20, 9), (5, 2), (3, 0), (6, 6))]

    @settings(max_examples=500, deadline=None)
    @given(value=st.decimals(allow_nan=False, allow_infinity=False, places=None)
           | st.decimals(min_value=-10**6, max_value=10**6, places=2)
           | st.decimals(min_value=-10, max_value=10, places=9),
           index=st.integers(0, len(fields) - 1))
    def check(value, index):
        field = fields[index]
        try:
            expected = field.to_representation(value)
        except InvalidOperation:  # more digits than the field allows: DRF refuses, and so does the plan
            with pytest.raises(InvalidOperation):
                _decimal_text(field)(value)
            return
        assert _decimal_text(field)(value) == expected
        assert _decimal_text(field)(Decimal(expected)) == field.to_representation(Decimal(expected))

    check()


def test_no_read_compiles_sql_once_warm(account, make_key, api, monkeypatch):
    """Every read's queries are prepared (core.db.PreparedQuery): once a shape has been seen,
    a request compiles no SQL and asks no column for its converters again. A value the
    prepared query cannot hold as a parameter (as a model's choice once was) would build and
    compile its query on every request."""
    from django.db.models.sql.compiler import SQLCompiler

    ids = _seed(account)
    client = api(make_key(account))
    paths = [path.format(**ids) for path in [*READS, "public-proxies", "stats"]]
    if connection.vendor != "postgresql":  # SQLite gets a datetime as text: those shapes take the usual way
        paths = [path for path in paths if not path.startswith(("stats", "public-proxies"))]
    for path in paths:
        for _ in range(2):
            assert client.get(path).status_code == 200, path
    compiled = []
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model.__name__)
        return as_sql(self, *args, **kwargs)

    get_converters = SQLCompiler.get_converters

    def converting(self, expressions):
        compiled.append(f"converters of {self.query.model.__name__}")
        return get_converters(self, expressions)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    monkeypatch.setattr(SQLCompiler, "get_converters", converting)
    for path in paths:
        compiled.clear()
        assert client.get(path).status_code == 200, path
        assert compiled == [], (path, compiled)
