"""Traffic statistics API [stats:read]: GET /stats and GET /stats/export.

`from`/`to` are dates (YYYY-MM-DD, UTC, inclusive; default the last 30 days; between 2000-01-01
and 366 days after today, see core.dates). Bytes are exact integers; bytes_total = bytes_in +
bytes_out.
"""

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.pagination import paginate
from api.renderers import ApiResponse
from api.views import PortalAPIView
from core.errors import DomainValidationError
from core.files import csv_text

from .api import IgnoreFormatParam
from .residential import selectors

STATS_DEFAULT_LIMIT, STATS_MAX_LIMIT = 1000, 10000
EXPORT_FORMATS = ("csv", "json")
EXPORT_COLUMNS = ["period_start", "proxy_id", "name", "bytes_in", "bytes_out", "bytes_total", "requests"]

RANGE_PARAMS = [
    OpenApiParameter("from", str, description="YYYY-MM-DD (UTC), inclusive, from 2000-01-01 to 366 days after "
                     "today, at most 366 days before `to`; default 29 days before `to`"),
    OpenApiParameter("to", str, description="YYYY-MM-DD (UTC), inclusive, up to 366 days after today; default today"),
    OpenApiParameter("proxy_id", str, description="Only this sub-user proxy (prx_…)"),
]


class StatsRowOut(serializers.Serializer):
    period_start = serializers.DateTimeField()
    proxy_id = serializers.CharField()
    name = serializers.CharField(help_text="The proxy's name")
    bytes_in = serializers.IntegerField()
    bytes_out = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    requests = serializers.IntegerField()


class StatsView(PortalAPIView):
    required_scope = "stats:read"

    @extend_schema(
        responses=StatsRowOut(many=True),
        summary="Traffic by period and proxy; meta.totals over the whole range",
        parameters=[
            *RANGE_PARAMS,
            OpenApiParameter("group_by", str, enum=["day", "hour"], description="default day"),
            OpenApiParameter("page", int),
            OpenApiParameter("limit", int, description=f"default {STATS_DEFAULT_LIMIT}, max {STATS_MAX_LIMIT}"),
        ],
    )
    def get(self, request):
        query = selectors.stats_query(account=self.account, params=request.query_params)
        rows = selectors.stats_rows(account=self.account, query=query)
        items, meta = paginate(
            rows, request.query_params, default_limit=STATS_DEFAULT_LIMIT, max_limit=STATS_MAX_LIMIT,
            count=len(rows),
        )
        meta.update({
            "from": query.start.isoformat(),
            "to": query.end.isoformat(),
            "group_by": query.group_by,
            "proxy_id": query.proxy.public_id if query.proxy else None,
            "totals": selectors.stats_totals(account=self.account, query=query),
        })
        return ApiResponse(StatsRowOut(items, many=True).data, meta=meta)


def render_stats(rows: list[dict], fmt: str) -> tuple[str, str]:
    out_rows = [
        {**{c: r[c] for c in EXPORT_COLUMNS}, "period_start": r["period_start"].strftime("%Y-%m-%dT%H:%M:%SZ")}
        for r in rows
    ]
    if fmt == "csv":
        return csv_text(EXPORT_COLUMNS, ([r[c] for c in EXPORT_COLUMNS] for r in out_rows)), "text/csv; charset=utf-8"
    return json.dumps(out_rows, indent=1) + "\n", "application/json"


class StatsExportView(PortalAPIView):
    required_scope = "stats:read"
    rate_category = "export"
    content_negotiation_class = IgnoreFormatParam

    @extend_schema(
        summary="Download usage by day (or hour) and proxy (not enveloped)",
        parameters=[
            OpenApiParameter("format", str, enum=list(EXPORT_FORMATS), description="default csv"),
            OpenApiParameter("group_by", str, enum=["day", "hour"], description="default day"),
            *RANGE_PARAMS,
        ],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT},
    )
    def get(self, request):
        fmt = (request.query_params.get("format") or "csv").lower()
        if fmt not in EXPORT_FORMATS:
            raise DomainValidationError({"format": [f"Must be one of: {', '.join(EXPORT_FORMATS)}."]})
        query = selectors.stats_query(account=self.account, params=request.query_params)
        body, content_type = render_stats(selectors.stats_rows(account=self.account, query=query), fmt)
        response = HttpResponse(body, content_type=content_type)
        name = f"usage-{query.start.isoformat()}-{query.end.isoformat()}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response
