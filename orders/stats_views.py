"""Dashboard Statistics page: a traffic chart (Chart.js, vendored), per-day and per-proxy
breakdowns, and CSV/JSON export of the same figures as GET /stats/export."""

from collections import OrderedDict
from datetime import UTC
from decimal import Decimal
from urllib.parse import urlencode

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.permissions import dashboard_view
from core import dates
from core.errors import DomainValidationError, NotFound

from .models import format_gb
from .residential import selectors
from .residential.exports import EXPORT_FORMATS, render_stats
from .residential.models import BYTES_PER_GB
from .residential.serializers import parse_stats_query


def _query(request):
    """(query, errors): the page shows the default range with the errors beside the filters."""
    try:
        return parse_stats_query(account=request.account, params=request.GET), {}
    except DomainValidationError as exc:
        return parse_stats_query(account=request.account, params={}), exc.meta["fields"]
    except NotFound:
        raise Http404("No such proxy.") from None


def _gb(value: int) -> float:
    return round(value / BYTES_PER_GB, 6)


@dashboard_view("view")
@require_GET
def stats_page(request):
    query, errors = _query(request)
    rows = selectors.stats_rows(account=request.account, query=query)
    totals = selectors.stats_totals(account=request.account, query=query)
    by_proxy = selectors.stats_by_proxy(account=request.account, query=query)

    periods: OrderedDict = OrderedDict()
    for row in rows:
        key = row["period_start"]
        agg = periods.setdefault(key, {"period_start": key, "bytes_in": 0, "bytes_out": 0, "bytes_total": 0, "requests": 0})
        for k in ("bytes_in", "bytes_out", "bytes_total", "requests"):
            agg[k] += row[k]
    fmt = "%Y-%m-%d %H:00" if query.group_by == "hour" else "%Y-%m-%d"
    chart = {
        "labels": [p.strftime(fmt) for p in periods],
        "datasets": [
            {"label": "Downloaded (GB)", "data": [_gb(p["bytes_in"]) for p in periods.values()]},
            {"label": "Uploaded (GB)", "data": [_gb(p["bytes_out"]) for p in periods.values()]},
        ],
        "unit": "GB",
    }
    params = {"from": query.start.isoformat(), "to": query.end.isoformat(), "group_by": query.group_by}
    if query.proxy:
        params["proxy_id"] = query.proxy.public_id
    return render(request, "stats/page.html", {
        "query": query,
        "errors": errors,
        "chart": chart,
        "periods": list(periods.values()),
        "by_proxy": by_proxy,
        "totals": totals,
        "totals_gb": format_gb(Decimal(totals["bytes_total"]) / BYTES_PER_GB),
        "in_gb": format_gb(Decimal(totals["bytes_in"]) / BYTES_PER_GB),
        "out_gb": format_gb(Decimal(totals["bytes_out"]) / BYTES_PER_GB),
        "proxies": selectors.subusers_list(account=request.account).order_by("name"),
        "params": params,
        "export_qs": urlencode(params),
        "period_format": "Y-m-d H:00" if query.group_by == "hour" else "Y-m-d",
        "date_min": dates.EARLIEST.isoformat(),
        "date_max": dates.latest(timezone.now().astimezone(UTC).date()).isoformat(),
    })


@dashboard_view("view")
@require_GET
def stats_export(request, fmt: str):
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown format.")
    try:
        query = parse_stats_query(account=request.account, params=request.GET)
    except DomainValidationError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    except NotFound:
        raise Http404("No such proxy.") from None
    body, content_type = render_stats(selectors.stats_rows(account=request.account, query=query), fmt)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="usage-{query.start}-{query.end}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response
