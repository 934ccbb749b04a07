"""The portal's URLs plus a few throw-away API views that exercise the platform's error paths.

Used with `@pytest.mark.urls("tests.portal.urls")`; the views are real `PortalAPIView`s.
"""

from django.http import Http404
from django.urls import include, path
from rest_framework import serializers

from api.renderers import ApiResponse
from api.views import PortalAPIView
from core import errors
from portal.urls import handler400, handler403, handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as portal_urlpatterns


class EchoIn(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    count = serializers.IntegerField(min_value=1, max_value=10)


class EchoView(PortalAPIView):
    """GET needs any key; POST needs orders:write and a JSON body `{name, count}`."""

    required_scope = {"POST": "orders:write"}

    def get(self, request):
        return ApiResponse({"ok": True})

    def post(self, request):
        body = EchoIn(data=request.data)
        body.is_valid(raise_exception=True)
        return ApiResponse(body.validated_data, status=201)


class SmallBodyView(PortalAPIView):
    max_body_bytes = 1024

    def post(self, request):
        return ApiResponse({"size": len(request.body)}, status=201)


class ExportView(PortalAPIView):
    rate_category = "export"

    def get(self, request):
        return ApiResponse({"exported": True})


DOMAIN_ERRORS = {
    "insufficient_funds": errors.InsufficientFunds(),
    "premium_required": errors.PremiumRequired(),
    "conflict": errors.Conflict(),
    "out_of_stock": errors.OutOfStock(),
    "upstream_error": errors.UpstreamError(),
    "unavailable": errors.Unavailable(),
    "payload_too_large": errors.PayloadTooLarge(),
    "bad_request": errors.BadRequest("No valid proxy in proxies_text."),
    "not_found": errors.NotFound(),
    "django_404": Http404("secret internal detail"),
    "crash": RuntimeError("secret internal detail"),
}


class RaiseView(PortalAPIView):
    def get(self, request, what):
        raise DOMAIN_ERRORS[what]


def plain_django_crash(request):
    raise RuntimeError("secret internal detail outside DRF")


urlpatterns = [
    path(
        "api/v1/",
        include([
            path("test/echo", EchoView.as_view()),
            path("test/small", SmallBodyView.as_view()),
            path("test/export", ExportView.as_view()),
            path("test/raise/<str:what>", RaiseView.as_view()),
            path("test/plain-crash", plain_django_crash),
        ]),
    ),
    *portal_urlpatterns,
]
