"""Webhook endpoints API (docs/api.md#webhooks). One view per operation; services do the work."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from api.pagination import paginate
from api.renderers import ApiResponse
from api.serializers import OutputSerializer
from api.views import PortalAPIView
from core.errors import BadRequest

from . import selectors, services
from .models import SUBSCRIBABLE

ENDPOINTS_DEFAULT_LIMIT, ENDPOINTS_MAX_LIMIT = 50, 100
DELIVERIES_DEFAULT_LIMIT, DELIVERIES_MAX_LIMIT = 50, 100
PAGE_PARAMETERS = [OpenApiParameter("page", int), OpenApiParameter("limit", int, description="1–100, default 50")]


class StrictCharField(serializers.CharField):
    """A string, not a number or a boolean coerced to one."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise BadRequest("The body must be a JSON object.")
    return request.data


class EndpointOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class EndpointCreatedOut(EndpointOut):
    secret = serializers.CharField(help_text="`whsec_…`: signs every delivery; shown only in this answer")


class EndpointIn(serializers.Serializer):
    url = StrictCharField(help_text="https:// (http:// where the operator allows it)")
    events = serializers.ListField(
        child=StrictCharField(), help_text=" | ".join(SUBSCRIBABLE), allow_empty=True
    )
    enabled = serializers.BooleanField(required=False, default=True)


class EndpointPatchIn(serializers.Serializer):
    url = StrictCharField(required=False)
    events = serializers.ListField(child=StrictCharField(), required=False, allow_empty=True)
    enabled = serializers.BooleanField(required=False)


class DeliveryOut(OutputSerializer):
    id = serializers.CharField(source="public_id")
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    attempt = serializers.IntegerField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class TestEventOut(OutputSerializer):
    event_id = serializers.CharField()


class EndpointListView(PortalAPIView):
    required_scope = {"GET": "webhooks:read", "POST": "webhooks:write"}

    @extend_schema(responses=EndpointOut(many=True), summary="The account's webhook endpoints",
                   parameters=PAGE_PARAMETERS)
    def get(self, request):
        items, meta = paginate(
            selectors.endpoints_list(account=self.account), request.query_params,
            default_limit=ENDPOINTS_DEFAULT_LIMIT, max_limit=ENDPOINTS_MAX_LIMIT,
        )
        return ApiResponse(EndpointOut(items, many=True).data, meta=meta)

    @extend_schema(request=EndpointIn, responses={201: EndpointCreatedOut},
                   summary="Add a webhook endpoint (its secret is shown only here)")
    def post(self, request):
        body = EndpointIn(data=_body(request))
        body.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(account=self.account, **body.validated_data)
        return ApiResponse(EndpointCreatedOut(endpoint).data, status=201)


class EndpointDetailView(PortalAPIView):
    required_scope = {"GET": "webhooks:read", "PATCH": "webhooks:write", "DELETE": "webhooks:write"}

    @extend_schema(responses=EndpointOut, summary="One webhook endpoint")
    def get(self, request, endpoint_id: str):
        return ApiResponse(EndpointOut(services.endpoint_get(account=self.account, public_id=endpoint_id)).data)

    @extend_schema(request=EndpointPatchIn, responses=EndpointOut, summary="Change a webhook endpoint's URL, events or state")
    def patch(self, request, endpoint_id: str):
        body = EndpointPatchIn(data=_body(request))
        body.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(account=self.account, public_id=endpoint_id, **body.validated_data)
        return ApiResponse(EndpointOut(endpoint).data)

    @extend_schema(responses={204: None}, summary="Delete a webhook endpoint")
    def delete(self, request, endpoint_id: str):
        services.endpoint_delete(account=self.account, public_id=endpoint_id)
        return ApiResponse(status=204)


class EndpointTestView(PortalAPIView):
    required_scope = "webhooks:write"

    @extend_schema(request=None, responses={202: TestEventOut}, summary="Send a `ping` event to this endpoint")
    def post(self, request, endpoint_id: str):
        services.endpoint_get(account=self.account, public_id=endpoint_id)  # an unknown id: 404 first
        has_body = request.META.get("CONTENT_LENGTH") not in (None, "", "0") or request.META.get("CONTENT_TYPE")
        if has_body and not isinstance(request.data, dict):  # no body needed; one given must be JSON
            raise BadRequest("The body, if any, must be a JSON object.")
        event = services.endpoint_ping(account=self.account, public_id=endpoint_id)
        return ApiResponse({"event_id": event.public_id}, status=202)


class EndpointDeliveriesView(PortalAPIView):
    required_scope = "webhooks:read"

    @extend_schema(responses=DeliveryOut(many=True), summary="Delivery attempts to this endpoint, newest first",
                   parameters=PAGE_PARAMETERS)
    def get(self, request, endpoint_id: str):
        endpoint = services.endpoint_get(account=self.account, public_id=endpoint_id)
        items, meta = paginate(
            selectors.deliveries_list(account=self.account, endpoint=endpoint), request.query_params,
            default_limit=DELIVERIES_DEFAULT_LIMIT, max_limit=DELIVERIES_MAX_LIMIT,
        )
        return ApiResponse(DeliveryOut(items, many=True).data, meta=meta)
