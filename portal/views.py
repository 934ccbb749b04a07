import logging

from django.conf import settings
from django.db import connection
from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.response import Response

from accounts.permissions import dashboard_view, has_capability
from api.envelope import error_json_response
from branding.selectors import brand_current
from portal.console import console_figures
from portal.middleware import is_api_path
from portal.overview import overview_summary

logger = logging.getLogger("portal")


@require_GET
def healthz(request):
    """Database and broker reachability, for load balancers and operators."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        from portal.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503)


@dashboard_view("view")
def overview(request):
    role_can = {cap: has_capability(request.membership, cap) for cap in ("operate", "manage_keys")}
    summary = overview_summary(account=request.account, user=request.user, role_can=role_can)
    return render(request, "portal/overview.html", {"summary": summary})


def console(request):
    """The operator console; portal/urls.py wraps it in the admin's guard (staff, and TOTP where
    the admin asks for it), so others are sent to sign in or refused as the admin refuses them."""
    return render(request, "console/index.html", {"figures": console_figures()})


@csrf_exempt  # API clients send no CSRF cookie: an unknown path must stay a JSON 404, not a CSRF 403 page
def api_not_found(request, *args, **kwargs):
    return error_json_response(404, "Not found.", "not_found")


def handler404(request, exception=None):
    if is_api_path(request.path_info):
        return api_not_found(request)
    return render(request, "errors/404.html", status=404)


def handler500(request):
    if is_api_path(request.path_info):
        return error_json_response(500, "Internal server error.", "server_error")
    # No request context: context processors may query the database that just failed. The
    # brand comes from the cache when it can, else from the settings.
    try:
        brand_name = brand_current().name
    except Exception:  # noqa: BLE001 - the page must render whatever failed
        brand_name = settings.BRAND_NAME
    return HttpResponseServerError(render_to_string("errors/500.html", {"brand_name": brand_name}))


def handler403(request, exception=None):
    if is_api_path(request.path_info):
        return error_json_response(403, "You do not have permission to do this.", "forbidden")
    return render(request, "errors/403.html", status=403)


def handler400(request, exception=None):
    if is_api_path(request.path_info):
        return error_json_response(400, "Bad request.", "bad_request")
    return render(request, "errors/400.html", status=400)


class CachedSchemaView(SpectacularAPIView):
    """The schema, built once per process and language.

    It is served without a key and building it takes a tenth of a second of CPU, so
    repeated anonymous requests could otherwise keep a web process busy. The schema depends
    only on the code, which a process never changes while it runs.
    """

    _built: dict = {}

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (version, translation.get_language())
        data = self._built.get(key)
        if data is None:
            generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
            data = self._built[key] = generator.get_schema(request=request, public=self.serve_public)
        data = {**data, "info": {**data["info"], "title": f"{brand_current().name} API"}}
        return Response(
            data=data,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )


class BrandedSwaggerView(SpectacularSwaggerView):
    """The Swagger UI, titled with the operator's brand."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        self.title = f"{brand_current().name} API"
        return super().get(request, *args, **kwargs)
