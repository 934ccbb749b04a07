"""Geo directory API [geo:read]: countries, states, cities and US ZIP codes.

Every list is paginated (`page`, `limit`: default 50, maximum 200) and searchable with `q`.
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.pagination import paginate
from api.renderers import ApiResponse
from api.views import PortalAPIView

from .residential import geo

GEO_DEFAULT_LIMIT, GEO_MAX_LIMIT = 50, 200

Q_PARAM = OpenApiParameter("q", str, description="Case- and accent-insensitive search")
PAGE_PARAMS = [
    OpenApiParameter("page", int, description="Page number, from 1"),
    OpenApiParameter("limit", int, description=f"Items per page (default {GEO_DEFAULT_LIMIT}, max {GEO_MAX_LIMIT})"),
]


class GeoCountryOut(serializers.Serializer):
    code = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    name = serializers.CharField()


class GeoStateOut(serializers.Serializer):
    code = serializers.CharField(help_text="ISO 3166-2 subdivision code without the country (CA)")
    iso_code = serializers.CharField(help_text="Full ISO 3166-2 code (US-CA)")
    name = serializers.CharField()
    type = serializers.CharField(help_text="State, Province, Region, …")
    country = serializers.CharField()


class GeoCityOut(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField(allow_null=True, help_text="State code (short form); null where unknown")
    country = serializers.CharField()
    population = serializers.IntegerField()


class GeoZipOut(serializers.Serializer):
    zip = serializers.CharField()
    city = serializers.CharField()
    state = serializers.CharField()
    country = serializers.CharField()


class _GeoView(PortalAPIView):
    required_scope = "geo:read"

    def _list(self, request, items: list, serializer):
        page, meta = paginate(
            items, request.query_params, default_limit=GEO_DEFAULT_LIMIT, max_limit=GEO_MAX_LIMIT,
            count=len(items),
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
