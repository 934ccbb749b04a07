"""Reads of the residential wing: a sub-user and the account's list, the connection details
customers use, the plan's limit on sub-users, and the traffic statistics.

Traffic is metered in bytes and shown in decimal gigabytes (1 GB = 10^9 bytes; bytes_total =
bytes_in + bytes_out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db.models import BigIntegerField, F, Func, Sum
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import plan_for_tier
from core.db import PreparedQuery, UtcIsoText, fetch_rows
from core.errors import NotFound

from . import geo
from .models import Rotation, SubUserProtocol, SubUserProxy, UsageDaily, UsageHourly

DEFAULT_MAX_SUBUSERS = 20


# --- sub-users ----------------------------------------------------------------------------------


def max_subusers(account: Account) -> int:
    plan = plan_for_tier(tier=account.tier)
    return plan.max_subusers if plan is not None else DEFAULT_MAX_SUBUSERS


def _subusers(*, account_id: int):
    return SubUserProxy.objects.for_account(account_id).select_related("order")


def _subuser(*, account_id: int, public_id: str, lock: bool):
    qs = _subusers(account_id=account_id)
    if lock:
        qs = qs.select_for_update(of=("self",))
    return qs.filter(public_id=public_id)[:1]


_SUBUSER = PreparedQuery(_subuser)  # built and compiled once per shape (core.db.PreparedQuery)


def subuser_get(*, account: Account, public_id: str, lock: bool = False) -> SubUserProxy:
    proxy = next(iter(_SUBUSER(account_id=account.pk, public_id=str(public_id or ""), lock=lock)), None)
    if proxy is None:
        raise NotFound("Proxy not found.")
    return proxy


# What a list of sub-users reads of each: its own columns, and of its order the public id,
# not the thirty others: every timestamp read is parsed, row by row, whether shown or not.
# (Deferring any of the proxy's own columns costs more than it saves: Django then matches
# every field against the list loaded, for every row.)
_LISTED = (*(f.name for f in SubUserProxy._meta.concrete_fields), "order__public_id")
_SUBUSERS = PreparedQuery(
    lambda *, account_id: _subusers(account_id=account_id).only(*_LISTED).order_by("-created_at", "-id")
)


def subusers_list(*, account: Account):
    return _SUBUSERS(account_id=account.pk)


_SUBUSER_SHOWN = PreparedQuery(
    lambda *, account_id, public_id: _subusers(account_id=account_id).only(*_LISTED).filter(public_id=public_id)
)


def subuser_shown(*, account: Account, public_id: str):
    """The account's sub-user `public_id` as a query of at most one row, to render it (none
    for another tenant's or an unknown one)."""
    return _SUBUSER_SHOWN(account_id=account.pk, public_id=str(public_id or ""))


# --- connection details ------------------------------------------------------------------------


def configured_gateway() -> tuple[str, int]:
    """The portal's own residential gateway (RESIDENTIAL_GATEWAY_HOST and _PORT)."""
    return settings.RESIDENTIAL_GATEWAY_HOST, settings.RESIDENTIAL_GATEWAY_PORT


def gateway(proxy: SubUserProxy, *, configured: tuple[str, int] | None = None) -> tuple[str, int]:
    """Host and port customers connect to: the upstream seller's for a sub-user living there,
    else the portal's gateway (`configured`: that gateway as the caller already read it, for
    a page of rows)."""
    if proxy.upstream_id:
        return proxy.upstream_host, proxy.upstream_port or 0
    return configured or configured_gateway()


def _slug(value: str) -> str:
    return "_".join(geo.normalize(value).split())


def connection_username(proxy: SubUserProxy) -> str:
    """`<user>-country-us-state-ca-city-los_angeles-zip-90210-session-<id>` (parts only when set;
    the session only for sticky rotation). A sub-user living at an upstream seller connects with
    the username the upstream gave it."""
    if proxy.upstream_id:
        return proxy.upstream_username
    parts = [proxy.username]
    if proxy.country:
        parts += ["country", proxy.country.lower()]
    if proxy.state:
        parts += ["state", proxy.state.lower()]
    if proxy.city:
        parts += ["city", _slug(proxy.city)]
    if proxy.zip:
        parts += ["zip", proxy.zip]
    if proxy.rotation == Rotation.STICKY and proxy.session_id:
        parts += ["session", proxy.session_id]
    return "-".join(parts)


class Connection(NamedTuple):
    """How customers connect through a sub-user: the gateway, the username carrying the
    targeting, and the ready-made connection strings. (A named tuple: made for every row of
    a page, where a frozen dataclass costs several times as much to build.)"""

    host: str
    port: int
    username: str
    strings: dict[str, str]


def connection(proxy: SubUserProxy, *, configured_gateway: tuple[str, int] | None = None) -> Connection:
    """The gateway and the username worked out once for everything that shows them."""
    host, port = gateway(proxy, configured=configured_gateway)
    user, password = connection_username(proxy), proxy.password
    scheme = "socks5" if proxy.protocol == SubUserProtocol.SOCKS5 else "http"
    return Connection(host=host, port=port, username=user, strings={
        "host_port_user_pass": f"{host}:{port}:{user}:{password}",
        "user_pass_at_host_port": f"{user}:{password}@{host}:{port}",
        "url": f"{scheme}://{user}:{password}@{host}:{port}",
    })


# --- statistics -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatsQuery:
    start: date
    end: date  # inclusive
    proxy: SubUserProxy | None
    group_by: str  # day | hour


def stats_query(*, account: Account, start: date, end: date, group_by: str, proxy_id: str = "") -> StatsQuery:
    """The account's statistics from `start` to `end`, of one proxy when `proxy_id` names one of
    its own, deleted or not (NotFound otherwise). The parameters are parsed by
    `serializers.parse_stats_query`."""
    proxy = None
    if proxy_id:
        proxy = SubUserProxy.objects.filter(account=account, public_id=proxy_id).first()
        if proxy is None:
            raise NotFound("Proxy not found.")
    return StatsQuery(start=start, end=end, proxy=proxy, group_by=group_by)


def _range(*, account: Account, query: StatsQuery) -> dict:
    """The values that select a statistics query's rollup rows."""
    return {
        "account_id": account.pk,
        "begin": datetime.combine(query.start, datetime.min.time(), tzinfo=UTC),
        "finish": datetime.combine(query.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
        "hourly": query.group_by == "hour",
        "proxy_id": query.proxy.pk if query.proxy is not None else None,
    }


def _rollups_of(*, account_id: int, begin: datetime, finish: datetime, hourly: bool, proxy_id: int | None):
    model = UsageHourly if hourly else UsageDaily
    qs = model.objects.filter(account=account_id, period_start__gte=begin, period_start__lt=finish)
    if proxy_id is not None:
        qs = qs.filter(proxy=proxy_id)
    return qs


def _rollups(*, account: Account, query: StatsQuery):
    """The hourly or daily rollup rows of the range (statistics never read raw records)."""
    return _rollups_of(**_range(account=account, query=query))


def _sum(field: str) -> Func:
    """SUM of a column as a plain function, not an aggregate, so `values()` adds no GROUP BY:
    the query is the one row an `aggregate()` would read, yet a queryset that can be prepared."""
    return Func(F(field), function="SUM", output_field=BigIntegerField())


# Built and compiled once per shape (core.db.PreparedQuery): GET /stats reads a page and the totals.
# Daily figures over a month at most (the default) are also prepared on the server: such
# ranges hold alike shares of the daily rollups, so one plan serves them all. Anything else
# is planned for its own range each time: a year's rollups on the plan of a month's were
# three times slower, and 30 days of hourly rollups a third slower on a prepared plan.
PREPARED_RANGE_DAYS = 31


def _stats_page(*, times_as_text, **range_):
    return _rollups_of(**range_).order_by("period_start", "proxy__public_id").values_list(
        UtcIsoText("period_start") if times_as_text else F("period_start"),
        "proxy__public_id", "proxy__name", "bytes_in", "bytes_out", "requests",
    )


def _stats_sums(**range_):
    return _rollups_of(**range_).order_by().values(
        sum_in=_sum("bytes_in"), sum_out=_sum("bytes_out"), sum_requests=_sum("requests"),
    )


# Each pair: (for daily figures over a month at most, for anything else).
_STATS_ROWS = (PreparedQuery(_stats_page), PreparedQuery(_stats_page, prepare_on_server=False))
_STATS_TOTALS = (PreparedQuery(_stats_sums), PreparedQuery(_stats_sums, prepare_on_server=False))


def _by_range(queries: tuple, query: StatsQuery) -> PreparedQuery:
    daily_month = query.group_by == "day" and (query.end - query.start).days < PREPARED_RANGE_DAYS
    return queries[0] if daily_month else queries[1]


def _stats_row(row: tuple) -> dict:
    period, public_id, name, bytes_in, bytes_out, requests = row
    if isinstance(period, datetime):
        period = (period.replace(tzinfo=UTC) if timezone.is_naive(period) else period).astimezone(UTC)
    return {
        "period_start": period, "proxy_id": public_id, "name": name,
        "bytes_in": bytes_in, "bytes_out": bytes_out, "bytes_total": bytes_in + bytes_out, "requests": requests,
    }


class StatsRows:
    """The rows of a statistics query, read lazily: a page of them (`rows[a:b]`, as
    `api.pagination.paginate` takes it) costs one LIMIT query (and a COUNT unless the page
    ends the list), however long the range; iterating reads them all (the page's chart, the
    export)."""

    def __init__(self, queryset, counted):
        self._qs = queryset
        self._counted = counted  # () -> the rollups to count

    def count(self) -> int:
        return self._counted().count()

    def __getitem__(self, window: slice) -> list[dict]:
        return [_stats_row(r) for r in fetch_rows(self._qs, window=window)]

    def __iter__(self):
        return (_stats_row(r) for r in self._qs.iterator(chunk_size=5000))


def stats_rows(*, account: Account, query: StatsQuery, times_as_text: bool = False) -> StatsRows:
    """One row per period and proxy: {period_start, proxy_id, name, bytes_in, bytes_out, bytes_total, requests}.

    `times_as_text`: `period_start` as the API's time text (`YYYY-MM-DDTHH:MM:SSZ`), written by
    the database, for the API and the exports; else a UTC datetime."""
    range_ = _range(account=account, query=query)
    rows = _by_range(_STATS_ROWS, query)(times_as_text=times_as_text, **range_)
    return StatsRows(rows, lambda: _rollups_of(**range_))


def stats_totals(*, account: Account, query: StatsQuery) -> dict:
    [sums] = _by_range(_STATS_TOTALS, query)(**_range(account=account, query=query))
    bytes_in, bytes_out = sums["sum_in"] or 0, sums["sum_out"] or 0
    return {
        "bytes_in": bytes_in, "bytes_out": bytes_out, "bytes_total": bytes_in + bytes_out,
        "requests": sums["sum_requests"] or 0,
    }


def stats_by_proxy(*, account: Account, query: StatsQuery) -> list[dict]:
    rows = (
        _rollups(account=account, query=query)
        .values("proxy__public_id", "proxy__name")
        .annotate(bytes_in=Sum("bytes_in"), bytes_out=Sum("bytes_out"), requests=Sum("requests"))
        .order_by("proxy__name", "proxy__public_id")
    )
    return [
        {
            "proxy_id": r["proxy__public_id"], "name": r["proxy__name"],
            "bytes_in": r["bytes_in"] or 0, "bytes_out": r["bytes_out"] or 0,
            "bytes_total": (r["bytes_in"] or 0) + (r["bytes_out"] or 0), "requests": r["requests"] or 0,
        }
        for r in rows
    ]


def stats_periods(*, account: Account, query: StatsQuery) -> list[dict]:
    """Every day (or hour) of the query's range, oldest first, with the account's traffic summed
    over its proxies: {period_start, bytes_in, bytes_out, bytes_total, requests}. Periods without
    traffic are there with zeros, so a chart of them shows the gaps as gaps."""
    step = timedelta(hours=1) if query.group_by == "hour" else timedelta(days=1)
    start = datetime.combine(query.start, datetime.min.time(), tzinfo=UTC)
    finish = datetime.combine(query.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    periods: dict[datetime, dict] = {}
    moment = start
    while moment < finish:
        periods[moment] = {"period_start": moment, "bytes_in": 0, "bytes_out": 0, "bytes_total": 0, "requests": 0}
        moment += step
    for row in stats_rows(account=account, query=query):
        period = periods.get(row["period_start"])
        if period is None:  # outside the range: cannot happen, but never invent a period
            continue
        for key in ("bytes_in", "bytes_out", "bytes_total", "requests"):
            period[key] += row[key]
    return list(periods.values())


def traffic_by_day(*, account: Account, days: int, today: date | None = None) -> list[dict]:
    """The last `days` days up to `today` (UTC) with their traffic, zeros included."""
    today = today or timezone.now().astimezone(UTC).date()
    query = StatsQuery(start=today - timedelta(days=days - 1), end=today, proxy=None, group_by="day")
    return stats_periods(account=account, query=query)


def subusers_ever_created(*, account: Account) -> bool:
    """Whether the account ever made a sub-user proxy, deleted ones included."""
    return SubUserProxy.objects.filter(account=account).exists()
