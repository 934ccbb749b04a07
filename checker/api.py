"""Proxy checker API (docs/api.md#proxy-checker): check jobs, their results, the public and premium pools."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from json.encoder import encode_basestring_ascii

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.idempotency import idempotent
from api.negotiation import FileDownloadNegotiation
from api.pagination import page_params, paginate_within
from api.rendered_rows import paginate_rendered, render_row
from api.renderers import ApiResponse
from api.serializers import BlankAsNullField, OutputSerializer
from api.views import PortalAPIView
from checker import selectors
from checker.models import PROTOCOLS, Pool
from checker.services.jobs import job_create
from core.db import UtcIsoText, fetch_rows
from core.errors import PayloadTooLarge, PremiumRequired
from core.files import DOWNLOAD_FORMATS, csv_chunks, download_format, download_response, rows_file

CHECK_BODY_LIMIT = 2 * 1024 * 1024  # bytes; a body over 2 MB is a 413
JOBS_DEFAULT_LIMIT, JOBS_MAX_LIMIT = 20, 100
ITEMS_DEFAULT_LIMIT, ITEMS_MAX_LIMIT = 50, 200
POOL_DEFAULT_LIMIT, POOL_MAX_LIMIT = 50, 200
EXPORT_FORMATS = DOWNLOAD_FORMATS
EXPORT_CHUNK = 2000
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _time(value) -> str | None:
    return value.strftime(TIME_FORMAT) if value else None


def _blank_none(value):
    return value if value not in ("", None) else None


# ----------------------------------------------------------------------------- serializers
class StrictCharField(serializers.CharField):
    """A string, not a number or a boolean coerced to one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CheckIn(serializers.Serializer):
    proxies_text = StrictCharField(
        allow_blank=True, trim_whitespace=False,
        help_text="One proxy a line: ip:port, ip:port:user:pass, user:pass@ip:port, or scheme://…",
    )
    include_anonymity = serializers.BooleanField(required=False, default=False)
    target_url = StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=2048)
    expect_text = StrictCharField(
        required=False, allow_blank=True, allow_null=True, max_length=512, trim_whitespace=False
    )


class CheckCreatedOut(OutputSerializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    total = serializers.IntegerField()
    invalid = serializers.IntegerField()


class JobOut(OutputSerializer):
    rendered_per_row_version = True  # the job's own columns (its counters included)

    job_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["queued", "running", "completed", "failed", "cancelled"])
    total = serializers.IntegerField()
    done = serializers.IntegerField()
    live = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


ITEM_FIELDS = ["proxy_norm", "status", "protocol", "connect_ms", "ttfb_ms", "exit_ip", "country", "anonymity", "error"]


def item_dict(row: dict) -> dict:
    """A CheckItem's `values(*ITEM_FIELDS)` row as the API item: blank text is null."""
    return {name: _blank_none(row[name]) for name in ITEM_FIELDS}


class ItemOut(OutputSerializer):
    # Blank text is null, as `item_dict` writes an exported item.
    rendered_per_row_version = True  # the item's own columns

    proxy_norm = serializers.CharField()
    status = serializers.ChoiceField(choices=["live", "dead"])
    protocol = BlankAsNullField()
    connect_ms = serializers.IntegerField(allow_null=True)
    ttfb_ms = serializers.IntegerField(allow_null=True)
    exit_ip = BlankAsNullField()
    country = BlankAsNullField()
    anonymity = BlankAsNullField()
    error = BlankAsNullField()


POOL_FIELDS = ["proxy_norm", "protocol", "country", "anonymity", "latency_ms", "uptime_score", "checked_at"]
POOL_COLUMNS = ["proxy_norm", "protocol", "country", "anonymity", "latency_ms", "uptime_score", "checked_text"]


def pool_rows(queryset):
    """A pool list's rows as tuples in POOL_COLUMNS order, the check time as the API's text
    written by the database: parsing a timestamp per row only to format it again cost more than
    the rest of the row."""
    return queryset.annotate(checked_text=UtcIsoText("last_checked_at")).values_list(*POOL_COLUMNS)


def pool_dict(row) -> dict:
    """A `pool_rows` tuple as the API item."""
    norm, protocol, country, anonymity, latency, uptime, checked = row
    return {
        "proxy_norm": norm,
        "protocol": _blank_none(protocol),
        "country": _blank_none(country),
        "anonymity": _blank_none(anonymity),
        "latency_ms": latency,
        "uptime_score": round(uptime, 4),
        "checked_at": checked,
    }


class PoolProxyOut(OutputSerializer):
    proxy_norm = serializers.CharField()
    protocol = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True)
    anonymity = serializers.CharField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    uptime_score = serializers.FloatField()
    checked_at = serializers.DateTimeField()


PAGE_PARAMS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="≥ 1"),
    OpenApiParameter("limit", OpenApiTypes.INT),
]
POOL_FILTER_PARAMS = [
    OpenApiParameter("protocol", OpenApiTypes.STR, enum=list(PROTOCOLS)),
    OpenApiParameter("country", OpenApiTypes.STR, description="ISO 3166-1 alpha-2 code"),
    OpenApiParameter("anonymity", OpenApiTypes.STR, enum=["transparent", "anonymous", "elite"]),
    OpenApiParameter("fresh_minutes", OpenApiTypes.INT, description="Checked within N minutes (default 1440)"),
    OpenApiParameter("max_latency_ms", OpenApiTypes.INT, description="Maximum connect latency"),
    OpenApiParameter("min_uptime", OpenApiTypes.FLOAT, description="Minimum uptime score, 0–1"),
]
FORMAT_PARAM = OpenApiParameter("format", OpenApiTypes.STR, enum=list(EXPORT_FORMATS), description="Default txt")


# ----------------------------------------------------------------------------- jobs
class CheckCreateView(PortalAPIView):
    required_scope = "checker:write"
    rate_category = "check"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The endpoint's own limit, checked before the body is parsed (DRF reads the stream
        # itself, bypassing Django's DATA_UPLOAD_MAX_MEMORY_SIZE check).
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > CHECK_BODY_LIMIT:
            raise PayloadTooLarge(f"The request body is over the {CHECK_BODY_LIMIT // (1024 * 1024)} MB limit.")
        if len(request._request.body) > CHECK_BODY_LIMIT:  # no or lying Content-Length
            raise PayloadTooLarge(f"The request body is over the {CHECK_BODY_LIMIT // (1024 * 1024)} MB limit.")

    @extend_schema(request=CheckIn, responses={202: CheckCreatedOut}, summary="Submit proxies for checking")
    @idempotent
    def post(self, request):
        body = CheckIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        job = job_create(
            account=self.account,
            proxies_text=data["proxies_text"],
            include_anonymity=data.get("include_anonymity", False),
            target_url=data.get("target_url"),
            expect_text=data.get("expect_text"),
        )
        # `job` is the instance as created (queued), whatever an eager worker did since.
        return ApiResponse(CheckCreatedOut(job).data, status=202)


class JobListView(PortalAPIView):
    required_scope = "checker:read"

    @extend_schema(parameters=PAGE_PARAMS, responses=JobOut(many=True), summary="The account's check jobs, newest first")
    def get(self, request):
        rows, meta = paginate_rendered(
            selectors.jobs(account=self.account).values(*JobOut.columns()), request.query_params, JobOut,
            default_limit=JOBS_DEFAULT_LIMIT, max_limit=JOBS_MAX_LIMIT,
        )
        return ApiResponse(rows, meta=meta)


class JobDetailView(PortalAPIView):
    required_scope = "checker:read"

    @extend_schema(responses=JobOut, summary="A check job's status and progress")
    def get(self, request, job_id: str):
        return ApiResponse(render_row(
            selectors.job_shown(account=self.account, job_id=job_id), JobOut,
            missing=lambda: JobOut(selectors.job_get(account=self.account, job_id=job_id)).data,
        ))


class JobItemsView(PortalAPIView):
    required_scope = "checker:read"

    @extend_schema(
        parameters=[*PAGE_PARAMS, OpenApiParameter("status", OpenApiTypes.STR, enum=["live", "dead"])],
        responses=ItemOut(many=True), summary="Per-proxy results of a job",
    )
    def get(self, request, job_id: str):
        query = request.query_params
        rows, meta = paginate_within(
            lambda: selectors.account_job_items(
                account=self.account, job_id=job_id, status=selectors.parse_item_status(query.get("status")),
            ).values(*ITEM_FIELDS),
            query, require_parent=lambda: selectors.job_get(account=self.account, job_id=job_id),
            default_limit=ITEMS_DEFAULT_LIMIT, max_limit=ITEMS_MAX_LIMIT,
            page=functools.partial(paginate_rendered, serializer_class=ItemOut),
        )
        return ApiResponse(rows, meta=meta)


def job_export_response(*, account, job, fmt: str, status: str | None) -> StreamingHttpResponse:
    """txt lists the live proxies (or those of `status`), csv and json every result."""
    if fmt == "txt" and status is None:
        status = "live"
    rows = (
        selectors.job_items(account=account, job=job, status=status)
        .values(*ITEM_FIELDS).iterator(chunk_size=EXPORT_CHUNK)
    )
    pieces = rows_file(
        rows, fmt=fmt, columns=ITEM_FIELDS, to_dict=item_dict, to_line=lambda r: r["proxy_norm"], batch=EXPORT_CHUNK,
    )
    return download_response(pieces, fmt=fmt, filename=f"check-{job.job_id}")


class JobExportView(PortalAPIView):
    required_scope = "checker:read"
    rate_category = "export"
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(
        parameters=[FORMAT_PARAM, OpenApiParameter("status", OpenApiTypes.STR, enum=["live", "dead"])],
        responses={200: OpenApiTypes.STR}, summary="A job's results as a file (txt: live proxies)",
    )
    def get(self, request, job_id: str):
        job = selectors.job_get(account=self.account, job_id=job_id)
        fmt = download_format(request.query_params.get("format"), allowed=EXPORT_FORMATS)
        status = selectors.parse_item_status(request.query_params.get("status"))
        return job_export_response(account=self.account, job=job, fmt=fmt, status=status)


# ----------------------------------------------------------------------------- pools
def pool_page(request, pool: str) -> ApiResponse:
    filters = selectors.parse_pool_filters(request.query_params)
    params = page_params(request.query_params, default_limit=POOL_DEFAULT_LIMIT, max_limit=POOL_MAX_LIMIT)
    qs = selectors.pool_proxies(pool=pool, filters=filters)
    total, refreshed_at = selectors.pool_summary(pool=pool, filters=filters, queryset=qs)
    rows = fetch_rows(qs, derive=pool_rows, window=slice(params.offset, params.offset + params.limit))
    meta = {"page": params.page, "limit": params.limit, "total": total, "refreshed_at": _time(refreshed_at)}
    return ApiResponse([pool_dict(r) for r in rows], meta=meta)


def pool_export(request, pool: str) -> StreamingHttpResponse:
    fmt = download_format(request.query_params.get("format"), allowed=EXPORT_FORMATS)
    filters = selectors.parse_pool_filters(request.query_params)
    return pool_export_response(pool=pool, filters=filters, fmt=fmt)


def pool_export_response(*, pool: str, filters: selectors.PoolFilters, fmt: str) -> StreamingHttpResponse:
    """A pool's verified proxies as a streamed txt, csv or json file (API and dashboard)."""
    qs = selectors.pool_proxies(pool=pool, filters=filters)
    if fmt == "txt":  # one column, no per-row conversion of the other six
        rows = qs.values_list("proxy_norm", flat=True).iterator(chunk_size=EXPORT_CHUNK)
        return download_response(rows_file(rows, fmt=fmt, columns=POOL_FIELDS, to_line=str), fmt=fmt,
                                 filename=f"{pool}-proxies")
    # Rows go out nearly as read (pool_rows: the database formats the check time).
    rows = pool_rows(qs).iterator(chunk_size=EXPORT_CHUNK)
    pieces = _pool_csv(rows) if fmt == "csv" else _pool_json(rows)
    return download_response(pieces, fmt=fmt, filename=f"{pool}-proxies")


def _pool_csv(rows) -> Iterator[str]:
    """The pool's rows as csv: empty strings and NULLs are both empty cells, as in pool_dict."""
    return csv_chunks(POOL_FIELDS, rows, batch=EXPORT_CHUNK)


def _json_text(value: str | None) -> str:
    return encode_basestring_ascii(value) if value else "null"


def _pool_json(rows) -> Iterator[str]:
    """The pool's rows as a JSON array of pool_dict items, byte for byte what json.dumps gives."""
    yield "["
    separator = ""
    for norm, protocol, country, anonymity, latency, uptime, checked in rows:
        yield (
            f'{separator}{{"proxy_norm":{encode_basestring_ascii(norm)},"protocol":{_json_text(protocol)},'
            f'"country":{_json_text(country)},"anonymity":{_json_text(anonymity)},'
            f'"latency_ms":{"null" if latency is None else int(latency)},"uptime_score":{float(round(uptime, 4))!r},'
            f'"checked_at":{_json_text(checked)}}}'
        )
        separator = ","
    yield "]\n"


class PublicProxyListView(PortalAPIView):
    required_scope = "checker:read"

    @extend_schema(
        parameters=[*POOL_FILTER_PARAMS, *PAGE_PARAMS], responses=PoolProxyOut(many=True),
        summary="Verified public proxies (latest check succeeded)",
    )
    def get(self, request):
        return pool_page(request, Pool.PUBLIC)


class PublicProxyExportView(PortalAPIView):
    required_scope = "checker:read"
    rate_category = "export"
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(parameters=[FORMAT_PARAM, *POOL_FILTER_PARAMS], responses={200: OpenApiTypes.STR},
                   summary="Verified public proxies as a file (streamed)")
    def get(self, request):
        return pool_export(request, Pool.PUBLIC)


class PremiumProxyListView(PortalAPIView):
    required_scope = "checker:read"

    @extend_schema(
        parameters=[*POOL_FILTER_PARAMS, *PAGE_PARAMS], responses=PoolProxyOut(many=True),
        summary="The premium pool (premium accounts)",
    )
    def get(self, request):
        if not self.account.is_premium:
            raise PremiumRequired("The premium proxy pool needs an active premium plan.")
        return pool_page(request, Pool.PREMIUM)


class PremiumProxyExportView(PortalAPIView):
    required_scope = "checker:read"
    rate_category = "export"
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(parameters=[FORMAT_PARAM, *POOL_FILTER_PARAMS], responses={200: OpenApiTypes.STR},
                   summary="The premium pool as a file (streamed)")
    def get(self, request):
        if not self.account.is_premium:
            raise PremiumRequired("The premium proxy pool needs an active premium plan.")
        return pool_export(request, Pool.PREMIUM)

