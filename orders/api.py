"""Reference data and orders API (docs/api.md#endpoints). One view per operation; services do the work."""

import functools

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.idempotency import idempotent
from api.negotiation import FileDownloadNegotiation
from api.pagination import paginate, paginate_within
from api.rendered_rows import paginate_rendered, render_row
from api.renderers import ApiResponse
from api.serializers import BlankAsNullField, OutputSerializer
from api.views import PortalAPIView
from core.errors import BadRequest, DomainValidationError, NotFound
from core.files import DOWNLOAD_FORMATS, download_format, download_response
from core.http import client_ip
from core.money import CURRENCY

from . import pricing, selectors, services
from .exports import AUTH_MODES, download_auth, proxy_list_file
from .models import Order, format_gb

ORDERS_DEFAULT_LIMIT, ORDERS_MAX_LIMIT = 20, 100
PROXIES_DEFAULT_LIMIT, PROXIES_MAX_LIMIT = 100, 1000
REFERENCE_DEFAULT_LIMIT, REFERENCE_MAX_LIMIT = 250, 250
AUTHORIZED_IPS_DEFAULT_LIMIT, AUTHORIZED_IPS_MAX_LIMIT = 20, 100


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise BadRequest("The body must be a JSON object.")
    return request.data


# --- reference data -------------------------------------------------------------------------


class ProxyTypeOut(OutputSerializer):
    type = serializers.CharField(source="code")
    name = serializers.CharField()
    unit = serializers.CharField(help_text="GB | IP")
    period_required = serializers.BooleanField()
    min_quantity = serializers.SerializerMethodField()
    max_quantity = serializers.SerializerMethodField()

    def get_min_quantity(self, obj) -> float:
        return pricing.quantity_number(obj.min_quantity)

    def get_max_quantity(self, obj) -> float:
        return pricing.quantity_number(obj.max_quantity)


class PeriodOut(OutputSerializer):
    days = serializers.IntegerField()
    label = serializers.CharField()


class CountryOut(OutputSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    types = serializers.SerializerMethodField(help_text="The proxy types orderable in this country")

    def get_types(self, obj) -> list[str]:
        return obj["types"]


class _ReferenceView(PortalAPIView):
    required_scope = None

    def _list(self, request, queryset, serializer):
        items, meta = paginate(
            queryset, request.query_params, default_limit=REFERENCE_DEFAULT_LIMIT, max_limit=REFERENCE_MAX_LIMIT
        )
        return ApiResponse(serializer(items, many=True).data, meta=meta)


class ReferenceCountriesView(_ReferenceView):
    @extend_schema(
        responses=CountryOut(many=True), summary="Orderable countries and their proxy types",
        parameters=[OpenApiParameter("type", str, description="Only countries orderable for this type")],
    )
    def get(self, request):
        type_code = request.query_params.get("type") or None
        if type_code and type_code not in {t.code for t in selectors.reference_proxy_types()}:
            raise DomainValidationError({"type": [f"Unknown proxy type '{type_code}'."]})
        return self._list(request, selectors.reference_countries(type=type_code), CountryOut)


class ReferenceProxyTypesView(_ReferenceView):
    @extend_schema(responses=ProxyTypeOut(many=True), summary="Orderable proxy types")
    def get(self, request):
        return self._list(request, selectors.reference_proxy_types(), ProxyTypeOut)


class ReferencePeriodsView(_ReferenceView):
    @extend_schema(responses=PeriodOut(many=True), summary="Orderable periods in days")
    def get(self, request):
        return self._list(request, selectors.reference_periods(), PeriodOut)


class ReferenceKindView(_ReferenceView):
    """`GET /reference/{type}`: the three lists above by name; any other name is 404."""

    KINDS = {
        "countries": ReferenceCountriesView,
        "proxy-types": ReferenceProxyTypesView,
        "periods": ReferencePeriodsView,
    }

    @extend_schema(
        summary="A reference list by name: countries, proxy-types or periods (other names: 404)",
        responses={200: OpenApiTypes.ANY, 404: None},
    )
    def get(self, request, kind: str):
        view = self.KINDS.get(kind)
        if view is None:
            raise NotFound(f"No reference data called '{kind}'. Use countries, proxy-types or periods.")
        return view.get(self, request)


# --- orders ------------------------------------------------------------------------------------


class OrderIn(serializers.Serializer):
    type = serializers.CharField(help_text="residential | datacenter | isp | mobile | ipv6")
    quantity = serializers.CharField(help_text="GB (decimal) for residential, whole IPs otherwise")
    period = serializers.IntegerField(
        required=False, allow_null=True, help_text="Days, from /reference/periods (not for residential)"
    )
    country = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="ISO 3166-1 alpha-2"
    )


class QuoteOut(OutputSerializer):
    type = serializers.CharField()
    quantity = serializers.SerializerMethodField()
    period = serializers.IntegerField(allow_null=True)
    country = serializers.SerializerMethodField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()

    def get_quantity(self, obj) -> float:
        return pricing.quantity_number(obj.quantity)

    def get_country(self, obj) -> str | None:
        return obj.country or None


class OrderOut(OutputSerializer):
    # The order's own columns, and its proxies counted by the list's query.
    rendered_per_row_version = ("proxy_count",)

    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    quantity = serializers.SerializerMethodField()
    period = serializers.IntegerField(source="period_days", allow_null=True)
    country = serializers.SerializerMethodField()
    status = serializers.CharField(help_text="pending | active | expired | cancelled | failed")
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    subtotal = serializers.DecimalField(max_digits=14, decimal_places=2)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    proxy_count = serializers.SerializerMethodField()
    traffic_gb = serializers.SerializerMethodField()
    traffic_used_gb = serializers.SerializerMethodField()
    failure_reason = serializers.CharField()
    auto_renew = serializers.BooleanField(help_text="Renewed for its last period a day before it expires")

    def get_quantity(self, obj) -> float:
        return pricing.quantity_number(obj.quantity)

    def get_country(self, obj) -> str | None:
        return obj.country or None

    def get_currency(self, obj) -> str:
        return CURRENCY

    def get_proxy_count(self, obj) -> int:
        count = getattr(obj, "proxy_count", None)
        return count if count is not None else obj.proxies.filter(released_at__isnull=True).count()

    def get_traffic_gb(self, obj) -> str | None:
        return format_gb(obj.traffic_gb)

    def get_traffic_used_gb(self, obj) -> str | None:
        return format_gb(obj.traffic_used_gb) if obj.traffic_gb is not None else None


class ProxyOut(OutputSerializer):
    rendered_per_row_version = True  # the proxy's own columns

    host = serializers.CharField()
    port = serializers.IntegerField()
    username = serializers.CharField()
    password = serializers.CharField()
    protocol = serializers.CharField()
    country = BlankAsNullField()


def _order_in(request) -> dict:
    body = OrderIn(data=_body(request))
    body.is_valid(raise_exception=True)
    data = body.validated_data
    return {
        "type": data["type"], "quantity": data["quantity"],
        "period": data.get("period"), "country": data.get("country") or None,
    }


class OrderCalcView(PortalAPIView):
    required_scope = "orders:read"
    read_only_methods = frozenset({"POST"})  # a price, nothing placed

    @extend_schema(request=OrderIn, responses=QuoteOut, summary="Price an order without placing it")
    def post(self, request):
        quote = pricing.quote(**_order_in(request))
        return ApiResponse(QuoteOut(quote).data)


class OrderListView(PortalAPIView):
    required_scope = {"GET": "orders:read", "POST": "orders:write"}
    rate_category = {"GET": "general", "POST": "order_create"}

    @extend_schema(
        responses=OrderOut(many=True), summary="The account's orders, newest first",
        parameters=[
            OpenApiParameter("type", str, description="residential | datacenter | isp | mobile | ipv6"),
            OpenApiParameter("status", str, description="pending | active | expired | cancelled | failed"),
            OpenApiParameter("page", int), OpenApiParameter("limit", int, description="1–100, default 20"),
        ],
    )
    def get(self, request):
        qs = selectors.orders_list(
            account=self.account,
            type=request.query_params.get("type") or None,
            status=request.query_params.get("status") or None,
        )
        rows, meta = paginate_rendered(
            qs, request.query_params, OrderOut, default_limit=ORDERS_DEFAULT_LIMIT, max_limit=ORDERS_MAX_LIMIT
        )
        return ApiResponse(rows, meta=meta)

    @extend_schema(
        request=OrderIn, responses={201: OrderOut}, summary="Place an order (charges the balance)",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    @idempotent
    def post(self, request):
        order = services.order_place(account=self.account, created_by=self.api_key.created_by, **_order_in(request))
        # The order as placed: provisioning runs in the background once the placement
        # commits, so nothing is delivered yet (GET /orders/{id} shows its progress).
        order.proxy_count = 0
        return ApiResponse(OrderOut(order).data, status=201)


class _OrderView(PortalAPIView):
    def get_order(self, order_id: str) -> Order:
        return selectors.order_get(account=self.account, public_id=order_id)


class OrderPatchIn(serializers.Serializer):
    auto_renew = serializers.BooleanField(help_text="true: renew a day before expiry for the last period")

    def to_internal_value(self, data):
        # A JSON boolean only: DRF would also take "yes", 1 or "on".
        value = data.get("auto_renew") if isinstance(data, dict) else None
        if "auto_renew" in data and not isinstance(value, bool):
            raise serializers.ValidationError({"auto_renew": ["Must be true or false."]})
        return super().to_internal_value(data)


class OrderDetailView(_OrderView):
    required_scope = {"GET": "orders:read", "PATCH": "orders:write"}

    @extend_schema(responses=OrderOut, summary="One order")
    def get(self, request, order_id: str):
        return ApiResponse(render_row(
            selectors.order_shown(account=self.account, public_id=order_id), OrderOut,
            missing=lambda: OrderOut(self.get_order(order_id)).data,
        ))

    @extend_schema(request=OrderPatchIn, responses=OrderOut, summary="Turn an order's auto-renew on or off")
    def patch(self, request, order_id: str):
        self.get_order(order_id)  # another tenant's order is 404 whatever the body
        body = OrderPatchIn(data=_body(request))
        body.is_valid(raise_exception=True)
        order = services.order_auto_renew_set(
            account=self.account, order_id=order_id, auto_renew=body.validated_data["auto_renew"],
            actor=self.api_key.created_by, **_actor(self),
        )
        return ApiResponse(OrderOut(order).data)


class OrderProxiesView(_OrderView):
    required_scope = "orders:read"

    @extend_schema(responses=ProxyOut(many=True), summary="The proxies delivered to an order")
    def get(self, request, order_id: str):
        rows, meta = paginate_within(
            lambda: selectors.account_order_proxies(account=self.account, public_id=order_id).values(*ProxyOut.columns()),
            request.query_params, require_parent=lambda: self.get_order(order_id),
            default_limit=PROXIES_DEFAULT_LIMIT, max_limit=PROXIES_MAX_LIMIT,
            page=functools.partial(paginate_rendered, serializer_class=ProxyOut),
        )
        return ApiResponse(rows, meta=meta)


AUTH_DESCRIPTION = (
    "credentials (default): host:port:username:password; ip: host:port only, for proxies "
    "opened by the account's authorized IPs"
)


class OrderDownloadView(_OrderView):
    required_scope = "orders:read"
    rate_category = "export"
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(
        summary="Download an order's proxy list (not enveloped)",
        parameters=[
            OpenApiParameter("format", str, enum=list(DOWNLOAD_FORMATS), description="default txt"),
            OpenApiParameter("auth", str, enum=list(AUTH_MODES), description=AUTH_DESCRIPTION),
        ],
        responses={(200, "text/plain"): OpenApiTypes.STR, (200, "text/csv"): OpenApiTypes.STR,
                   (200, "application/json"): OpenApiTypes.OBJECT},
    )
    def get(self, request, order_id: str):
        fmt = download_format(request.query_params.get("format"))
        auth = download_auth(request.query_params.get("auth"))
        order = self.get_order(order_id)
        proxies = selectors.order_proxies(account=self.account, order=order)
        return download_response("".join(proxy_list_file(proxies, fmt, auth)), fmt=fmt, filename=order.public_id)


class ExtendIn(serializers.Serializer):
    period = serializers.IntegerField(help_text="Days, from /reference/periods")


class OrderExtendView(_OrderView):
    required_scope = "orders:write"

    @extend_schema(
        request=ExtendIn, responses=OrderOut, summary="Extend an active order (charges the balance)",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    @idempotent
    def post(self, request, order_id: str):
        self.get_order(order_id)  # another tenant's order is 404 whatever the body
        body = ExtendIn(data=_body(request))
        body.is_valid(raise_exception=True)
        services.order_extend(
            account=self.account, order_id=order_id, period=body.validated_data["period"],
            created_by=self.api_key.created_by,
        )
        return ApiResponse(OrderOut(self.get_order(order_id)).data)


def _actor(view) -> dict:
    """Who acts through an API key, for the audit log."""
    prefix = getattr(view.api_key, "display_prefix", "") or ""
    return {"actor_label": f"API key {prefix}".strip(), "client_ip": client_ip(view.request)}


# --- authorized IPs ------------------------------------------------------------------------------


class AuthorizedIPOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    ip = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class AuthorizedIPIn(serializers.Serializer):
    ip = serializers.CharField(help_text="A public IPv4 or IPv6 address", max_length=100)


class AuthorizedIPListView(PortalAPIView):
    required_scope = {"GET": "proxies:read", "POST": "proxies:write"}

    @extend_schema(
        responses=AuthorizedIPOut(many=True), summary="Addresses the account's IP-based proxies accept without credentials",
        parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int, description="1–100, default 20")],
    )
    def get(self, request):
        items, meta = paginate(
            selectors.authorized_ips(account=self.account), request.query_params,
            default_limit=AUTHORIZED_IPS_DEFAULT_LIMIT, max_limit=AUTHORIZED_IPS_MAX_LIMIT,
        )
        return ApiResponse(AuthorizedIPOut(items, many=True).data, meta=meta)

    @extend_schema(
        request=AuthorizedIPIn, responses={201: AuthorizedIPOut},
        summary="Authorize a public address (at most 10, no duplicates)",
    )
    def post(self, request):
        body = AuthorizedIPIn(data=_body(request))
        body.is_valid(raise_exception=True)
        row = services.authorized_ip_add(
            account=self.account, ip=body.validated_data["ip"], created_by=self.api_key.created_by, **_actor(self),
        )
        return ApiResponse(AuthorizedIPOut(row).data, status=201)


class AuthorizedIPDetailView(PortalAPIView):
    required_scope = "proxies:write"

    @extend_schema(responses={204: None}, summary="Remove an authorized IP")
    def delete(self, request, ip_id: str):
        services.authorized_ip_remove(
            account=self.account, authorized_ip_id=ip_id, actor=self.api_key.created_by, **_actor(self),
        )
        return HttpResponse(status=204)  # no body, as 204 requires


# --- replacement ---------------------------------------------------------------------------------


class ReplaceIn(serializers.Serializer):
    proxies = serializers.ListField(
        child=serializers.CharField(max_length=300), allow_empty=False, max_length=services.REPLACE_LIST_MAX,
        help_text='The order\'s proxies to replace, as "host:port"',
    )


class ReplacedOut(OutputSerializer):
    old = serializers.CharField(help_text="host:port")
    new = ProxyOut()


class ReplaceOut(OutputSerializer):
    replaced = ReplacedOut(many=True)


class OrderReplaceView(_OrderView):
    required_scope = "orders:write"

    @extend_schema(
        request=ReplaceIn, responses=ReplaceOut,
        summary="Replace proxies of an active IP order (free; 10 % of its proxies, at least 1, per 24 h)",
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    @idempotent
    def post(self, request, order_id: str):
        self.get_order(order_id)  # another tenant's order is 404 whatever the body
        body = ReplaceIn(data=_body(request))
        body.is_valid(raise_exception=True)
        pairs = services.order_proxies_replace(
            account=self.account, order_id=order_id, proxies=body.validated_data["proxies"],
            created_by=self.api_key.created_by, **_actor(self),
        )
        replaced = [{"old": f"{old.host}:{old.port}", "new": new} for old, new in pairs]
        return ApiResponse(ReplaceOut({"replaced": replaced}).data)


# --- list links ----------------------------------------------------------------------------------


class ListLinkOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField(help_text="Shown in this answer only: the server keeps a hash of its token")
    created_at = serializers.DateTimeField()


class OrderListLinksView(_OrderView):
    required_scope = "orders:write"

    @extend_schema(
        request=None, responses={201: ListLinkOut},
        summary="A secret URL serving the order's proxy list without an API key",
    )
    def post(self, request, order_id: str):
        self.get_order(order_id)
        if _body(request):  # no body, or an empty object; anything else is a mistake worth a 400
            raise BadRequest("This endpoint takes no body (or an empty JSON object).")
        link, url = services.order_list_link_create(
            account=self.account, order_id=order_id, created_by=self.api_key.created_by, **_actor(self),
        )
        link.url = url
        return ApiResponse(ListLinkOut(link).data, status=201)


class OrderListLinkDetailView(_OrderView):
    required_scope = "orders:write"

    @extend_schema(responses={204: None}, summary="Revoke a list link (its URL answers 404 at once)")
    def delete(self, request, order_id: str, link_id: str):
        self.get_order(order_id)
        services.order_list_link_revoke(
            account=self.account, order_id=order_id, link_id=link_id, actor=self.api_key.created_by, **_actor(self),
        )
        return HttpResponse(status=204)  # no body, as 204 requires
