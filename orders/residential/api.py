"""The residential wing's API (docs/api.md#sub-user-proxies-statistics-and-geo): one view per
operation, each with its own serializers.

- Sub-user proxies [proxies:read|write]: GET|POST /proxy, GET|PATCH|PUT|DELETE /proxy/{id} (PUT
  is PATCH's twin: the same body and meaning). Another tenant's proxy (or order) is 404. Traffic figures are decimal GB strings (1 GB = 10^9 bytes).
- Geo directory [geo:read]: countries, states, cities and US ZIP codes. Every list is paginated
  (`page`, `limit`: default 50, maximum 200) and searchable with `q`.
- Traffic statistics [stats:read]: GET /stats and GET /stats/export. `from`/`to` are dates
  (YYYY-MM-DD, UTC, inclusive; default the last 30 days; between 2000-01-01 and 366 days after
  today, see core.dates). Bytes are exact integers; bytes_total = bytes_in + bytes_out.
"""

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.negotiation import FileDownloadNegotiation
from api.pagination import paginate
from api.rendered_rows import paginate_rendered, render_row
from api.renderers import ApiResponse
from api.serializers import BlankAsNullField, OutputSerializer
from api.views import PortalAPIView
from core.errors import BadRequest, DomainValidationError
from core.files import download_format, download_response
from core.text import validate_plain_text
from orders.models import TRAFFIC_MAX_DIGITS, TRAFFIC_PLACES, format_gb

from . import geo, selectors, services
from .exports import EXPORT_FORMATS, stats_file
from .models import Rotation, SubUserProtocol, SubUserStatus
from .serializers import parse_stats_query

# --- sub-user proxies -------------------------------------------------------------------------

PROXY_DEFAULT_LIMIT, PROXY_MAX_LIMIT = 50, 200


class SubUserOut(OutputSerializer):
    # What it shows is the proxy's own columns, its order's public id (never changed) and
    # the gateway from the settings: a row's version renders the same every time.
    rendered_per_row_version = True

    id = serializers.CharField(source="public_id")
    name = serializers.CharField()
    order_id = serializers.CharField(source="order.public_id")
    protocol = serializers.CharField()
    host = serializers.SerializerMethodField()
    port = serializers.SerializerMethodField()
    username = serializers.SerializerMethodField(help_text="Connection username carrying the targeting")
    password = serializers.CharField()
    country = BlankAsNullField()
    state = BlankAsNullField()
    city = BlankAsNullField()
    zip = BlankAsNullField()
    rotation = serializers.CharField()
    sticky_ttl_minutes = serializers.IntegerField()
    traffic_limit_gb = serializers.SerializerMethodField()
    traffic_used_gb = serializers.SerializerMethodField()
    whitelist = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    disabled_reason = BlankAsNullField()
    created_at = serializers.DateTimeField()
    base_username = serializers.CharField(source="username", help_text="The sub-user's login without targeting")
    connection = serializers.SerializerMethodField(help_text="Ready-made connection strings")

    def _connection(self, obj) -> selectors.Connection:
        """The row's connection details, worked out once for the four fields showing them (and
        the portal's gateway read once for a page of rows)."""
        last = self.__dict__.get("_last_connection")
        if last is None or last[0] is not obj:
            configured = self.__dict__.get("_gateway")
            if configured is None:
                configured = self.__dict__["_gateway"] = selectors.configured_gateway()
            last = self.__dict__["_last_connection"] = (obj, selectors.connection(obj, configured_gateway=configured))
        return last[1]

    def get_host(self, obj) -> str:
        return self._connection(obj).host

    def get_port(self, obj) -> int:
        return self._connection(obj).port

    def get_username(self, obj) -> str:
        return self._connection(obj).username

    def get_traffic_limit_gb(self, obj) -> str | None:
        return format_gb(obj.traffic_limit_gb)

    def get_traffic_used_gb(self, obj) -> str:
        return format_gb(obj.traffic_used_gb)

    def get_connection(self, obj) -> dict:
        return self._connection(obj).strings


def _gb_field(**kwargs):
    return serializers.DecimalField(
        max_digits=TRAFFIC_MAX_DIGITS, decimal_places=TRAFFIC_PLACES, min_value=Decimal("0.000001"),
        allow_null=True, required=False, **kwargs,
    )


class _GeoFields(serializers.Serializer):
    country = serializers.CharField(max_length=2, required=False, allow_blank=True, allow_null=True)
    state = serializers.CharField(max_length=10, required=False, allow_blank=True, allow_null=True)
    city = serializers.CharField(max_length=120, required=False, allow_blank=True, allow_null=True)
    zip = serializers.CharField(max_length=10, required=False, allow_blank=True, allow_null=True)


class SubUserCreateIn(_GeoFields):
    name = serializers.CharField(max_length=100, validators=[validate_plain_text])
    order_id = serializers.CharField(max_length=40)
    protocol = serializers.ChoiceField(choices=SubUserProtocol.values, default=SubUserProtocol.HTTP)
    rotation = serializers.ChoiceField(choices=Rotation.values, default=Rotation.ROTATING)
    sticky_ttl_minutes = serializers.IntegerField(min_value=1, max_value=1440, default=10)
    traffic_limit_gb = _gb_field(help_text="GB (10^9 bytes); null: no limit of its own")
    whitelist = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)


class SubUserUpdateIn(_GeoFields):
    name = serializers.CharField(max_length=100, required=False, validators=[validate_plain_text])
    order_id = serializers.CharField(max_length=40, required=False)
    protocol = serializers.ChoiceField(choices=SubUserProtocol.values, required=False)
    rotation = serializers.ChoiceField(choices=Rotation.values, required=False)
    sticky_ttl_minutes = serializers.IntegerField(min_value=1, max_value=1440, required=False)
    traffic_limit_gb = _gb_field(help_text="GB; null removes the proxy's own limit")
    whitelist = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    status = serializers.ChoiceField(choices=SubUserStatus.values, required=False)


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise BadRequest("The body must be a JSON object.")
    return request.data


def _out(proxy):
    return SubUserOut(proxy).data


class SubUserListView(PortalAPIView):
    required_scope = {"GET": "proxies:read", "POST": "proxies:write"}

    @extend_schema(
        responses=SubUserOut(many=True), summary="List sub-user proxies",
        parameters=[
            OpenApiParameter("page", int),
            OpenApiParameter("limit", int, description=f"default {PROXY_DEFAULT_LIMIT}, max {PROXY_MAX_LIMIT}"),
            OpenApiParameter("status", str, description="active | disabled"),
        ],
    )
    def get(self, request):
        qs = selectors.subusers_list(account=self.account)
        status = request.query_params.get("status")
        if status:
            if status not in SubUserStatus.values:
                raise DomainValidationError({"status": "status must be active or disabled."})
            qs = qs.filter(status=status)
        rows, meta = paginate_rendered(
            qs, request.query_params, SubUserOut, default_limit=PROXY_DEFAULT_LIMIT, max_limit=PROXY_MAX_LIMIT
        )
        return ApiResponse(rows, meta=meta)

    @extend_schema(request=SubUserCreateIn, responses={201: SubUserOut}, summary="Create a sub-user proxy")
    def post(self, request):
        body = SubUserCreateIn(data=_body(request))
        body.is_valid(raise_exception=True)
        d = body.validated_data
        proxy = services.subuser_create(
            account=self.account, order_id=d["order_id"], name=d["name"], protocol=d["protocol"],
            country=d.get("country") or "", state=d.get("state") or "", city=d.get("city") or "",
            zip=d.get("zip") or "", rotation=d["rotation"], sticky_ttl_minutes=d["sticky_ttl_minutes"],
            traffic_limit_gb=d.get("traffic_limit_gb"), whitelist=d.get("whitelist") or [],
        )
        return ApiResponse(_out(proxy), status=201)


class SubUserDetailView(PortalAPIView):
    required_scope = {"GET": "proxies:read", "PATCH": "proxies:write", "PUT": "proxies:write", "DELETE": "proxies:write"}

    @extend_schema(responses=SubUserOut, summary="One sub-user proxy")
    def get(self, request, proxy_id: str):
        return ApiResponse(render_row(
            selectors.subuser_shown(account=self.account, public_id=proxy_id), SubUserOut,
            missing=lambda: _out(selectors.subuser_get(account=self.account, public_id=proxy_id)),
        ))

    @extend_schema(request=SubUserUpdateIn, responses=SubUserOut, summary="Update a sub-user proxy")
    def patch(self, request, proxy_id: str):
        return self._update(request, proxy_id)

    @extend_schema(
        request=SubUserUpdateIn(partial=True), responses=SubUserOut, summary="Update a sub-user proxy (PATCH's twin)",
        description="The same body and meaning as PATCH: only the fields given change. For clients "
                    "written for sub-user APIs that update with PUT.",
    )
    def put(self, request, proxy_id: str):
        return self._update(request, proxy_id)

    def _update(self, request, proxy_id: str):
        selectors.subuser_get(account=self.account, public_id=proxy_id)  # 404 before validation
        raw = _body(request)
        body = SubUserUpdateIn(data=raw, partial=True)
        body.is_valid(raise_exception=True)
        d = body.validated_data
        changes = services.SubUserInput(
            name=d.get("name"), order_id=d.get("order_id"), protocol=d.get("protocol"),
            country=None if "country" not in d else (d["country"] or ""),
            state=None if "state" not in d else (d["state"] or ""),
            city=None if "city" not in d else (d["city"] or ""),
            zip=None if "zip" not in d else (d["zip"] or ""),
            rotation=d.get("rotation"), sticky_ttl_minutes=d.get("sticky_ttl_minutes"),
            whitelist=d.get("whitelist"), status=d.get("status"),
        )
        if "traffic_limit_gb" in raw:
            # null removes the own limit (the service reads 0 as "none")
            changes.traffic_limit_gb = d.get("traffic_limit_gb") if d.get("traffic_limit_gb") is not None else Decimal(0)
        proxy = services.subuser_update(account=self.account, public_id=proxy_id, changes=changes)
        return ApiResponse(_out(proxy))

    @extend_schema(responses={200: None}, summary="Delete a sub-user proxy (released at the provider)")
    def delete(self, request, proxy_id: str):
        services.subuser_delete(account=self.account, public_id=proxy_id)
        return ApiResponse({"id": proxy_id, "deleted": True})


# --- geo directory ----------------------------------------------------------------------------

GEO_DEFAULT_LIMIT, GEO_MAX_LIMIT = 50, 200

Q_PARAM = OpenApiParameter("q", str, description="Case- and accent-insensitive search")
PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description=f"Items per page (default {GEO_DEFAULT_LIMIT}, max {GEO_MAX_LIMIT})"),
]


class GeoCountryOut(OutputSerializer):
    code = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    name = serializers.CharField()


class GeoStateOut(OutputSerializer):
    code = serializers.CharField(help_text="ISO 3166-2 subdivision code without the country (CA)")
    iso_code = serializers.CharField(help_text="Full ISO 3166-2 code (US-CA)")
    name = serializers.CharField()
    type = serializers.CharField(help_text="State, Province, Region, …")
    country = serializers.CharField()


class GeoCityOut(OutputSerializer):
    name = serializers.CharField()
    state = serializers.CharField(allow_null=True, help_text="State code (short form); null where unknown")
    country = serializers.CharField()
    population = serializers.IntegerField()


class GeoZipOut(OutputSerializer):
    zip = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    country = serializers.CharField()


class _GeoView(PortalAPIView):
    required_scope = "geo:read"

    def _list(self, request, items: list, serializer):
        page, meta = paginate(
            items, request.query_params, default_limit=GEO_DEFAULT_LIMIT, max_limit=GEO_MAX_LIMIT,
        )
        return ApiResponse(serializer(page, many=True).data, meta=meta)


class GeoCountriesView(_GeoView):
    @extend_schema(responses=GeoCountryOut(many=True), summary="Countries", parameters=[Q_PARAM, *PAGE_PARAMS])
    def get(self, request):
        items = geo.search_countries(q=request.query_params.get("q", ""))
        return self._list(request, items, GeoCountryOut)


class GeoStatesView(_GeoView):
    @extend_schema(
        responses=GeoStateOut(many=True), summary="States (ISO 3166-2 subdivisions) of a country",
        parameters=[OpenApiParameter("country", str, required=True), Q_PARAM, *PAGE_PARAMS],
    )
    def get(self, request):
        qp = request.query_params
        items = geo.search_states(country=qp.get("country"), q=qp.get("q", ""))
        return self._list(request, items, GeoStateOut)


class GeoCitiesView(_GeoView):
    @extend_schema(
        responses=GeoCityOut(many=True), summary="Cities (population ≥ 15,000), largest first",
        parameters=[
            OpenApiParameter("country", str),
            OpenApiParameter("state", str, description="CA or US-CA"),
            Q_PARAM, *PAGE_PARAMS,
        ],
    )
    def get(self, request):
        qp = request.query_params
        items = geo.search_cities(country=qp.get("country"), state=qp.get("state"), q=qp.get("q", ""))
        return self._list(request, items, GeoCityOut)


class GeoZipView(_GeoView):
    @extend_schema(
        responses=GeoZipOut(many=True), summary="ZIP codes (US)",
        parameters=[
            OpenApiParameter("country", str, description="US (the default; the only country with ZIP data)"),
            OpenApiParameter("state", str),
            OpenApiParameter("q", str, description="ZIP prefix (digits) or city name prefix"),
            *PAGE_PARAMS,
        ],
    )
    def get(self, request):
        qp = request.query_params
        items = geo.search_zips(country=qp.get("country") or "US", state=qp.get("state"), q=qp.get("q", ""))
        return self._list(request, items, GeoZipOut)


# --- traffic statistics -----------------------------------------------------------------------

STATS_DEFAULT_LIMIT, STATS_MAX_LIMIT = 1000, 10000

RANGE_PARAMS = [
    OpenApiParameter("from", str, description="YYYY-MM-DD (UTC), inclusive, from 2000-01-01 to 366 days after "
                     "today, at most 366 days before `to`; default 29 days before `to`"),
    OpenApiParameter("to", str, description="YYYY-MM-DD (UTC), inclusive, up to 366 days after today; default today"),
    OpenApiParameter("proxy_id", str, description="Only this sub-user proxy (prx_…)"),
]


class StatsRowOut(OutputSerializer):
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
        query = parse_stats_query(account=self.account, params=request.query_params)
        rows = selectors.stats_rows(account=self.account, query=query, times_as_text=True)
        items, meta = paginate(
            rows, request.query_params, default_limit=STATS_DEFAULT_LIMIT, max_limit=STATS_MAX_LIMIT,
        )
        meta.update({
            "from": query.start.isoformat(),
            "to": query.end.isoformat(),
            "group_by": query.group_by,
            "proxy_id": query.proxy.public_id if query.proxy else None,
            "totals": selectors.stats_totals(account=self.account, query=query),
        })
        # The rows as StatsRowOut writes them (the schema; times formatted by the database),
        # without a serializer per row field: a page is up to 10,000 rows of plain figures.
        return ApiResponse(items, meta=meta)


class StatsExportView(PortalAPIView):
    required_scope = "stats:read"
    rate_category = "export"
    content_negotiation_class = FileDownloadNegotiation

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
        fmt = download_format(request.query_params.get("format"), allowed=EXPORT_FORMATS, default="csv")
        query = parse_stats_query(account=self.account, params=request.query_params)
        body = stats_file(selectors.stats_rows(account=self.account, query=query, times_as_text=True), fmt)
        return download_response(body, fmt=fmt, filename=f"usage-{query.start.isoformat()}-{query.end.isoformat()}")
