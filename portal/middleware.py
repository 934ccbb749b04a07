import logging

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.http import Http404

from api.envelope import error_json_response
from branding.selectors import brand_asset_origins

logger = logging.getLogger("portal.api")

API_PREFIX = "/api/"


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX) or path.startswith("/webhooks/")


def dashboard_only(middleware_class: type) -> type:
    """The same middleware, passed straight through on API and webhook paths.

    Sessions, signed-in users and flash messages belong to the dashboard: an API request
    authenticates by key and never reads them, and webhooks are signed server-to-server
    calls. Skipping them there saves a large share of an API request's cost. The subclass
    keeps Django's checks (admin requires these middleware by class) satisfied. CSRF stays
    in place for every path (DRF's views and the webhooks are exempt by decorator).
    """

    def __call__(self, request):
        if not self.async_mode and is_api_path(request.path_info):
            return self.get_response(request)
        return middleware_class.__call__(self, request)

    attrs = {"__call__": __call__, "__doc__": f"{middleware_class.__doc__ or ''} (skipped for the API)",
             "__module__": __name__, "__qualname__": middleware_class.__name__}
    return type(middleware_class.__name__, (middleware_class,), attrs)


SessionMiddleware = dashboard_only(_SessionMiddleware)
AuthenticationMiddleware = dashboard_only(_AuthenticationMiddleware)
MessageMiddleware = dashboard_only(_MessageMiddleware)


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class ApiRequestGuardMiddleware:
    """Keeps API clients on JSON for failures that happen outside DRF's views.

    Django raises some errors (oversized bodies, undecodable input) before or around the
    view; for API paths they become the envelope instead of an HTML page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api_path(request.path_info) and _declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            # Refused from the header alone: nothing is read, nothing authenticated.
            return error_json_response(413, "The request body is too large.", "payload_too_large")
        return self.get_response(request)

    def process_exception(self, request, exception):
        from api.exceptions import _is_redis_down, request_limit_refusal

        if _is_redis_down(exception):  # cache/broker down (e.g. allauth's login rate limit): retry later
            logger.warning("cache/broker unavailable: %s", exception.__class__.__name__)
            if is_api_path(request.path_info):
                return error_json_response(503, "The service is temporarily unavailable; retry shortly.",
                                           "unavailable")
            from django.shortcuts import render

            return render(request, "errors/500.html", status=503)
        if not is_api_path(request.path_info):
            return None
        if (refusal := request_limit_refusal(exception)) is not None:
            status, message, error_type = refusal
            return error_json_response(status, message, error_type)
        if isinstance(exception, UnicodeDecodeError):
            return error_json_response(400, "The request is not valid UTF-8.", "bad_request")
        if isinstance(exception, RecursionError):  # json.loads on deeply nested input
            return error_json_response(400, "Malformed request body: nested too deeply.", "bad_request")
        logger.exception("unhandled error on API path", exc_info=exception)
        return error_json_response(500, "Internal server error.", "server_error")


NUL_REFUSAL = "The address holds a NUL character (%00), which no text here may contain."
NUL_FIELD_MESSAGE = "Must not contain a NUL character (%00)."


class NulCharacterGuardMiddleware:
    """Refuses a path or query string holding a NUL character before any view reads it: a
    path with one names nothing (404), a query with one is a bad request (400).

    PostgreSQL refuses NUL in text, so a lookup with one raised a DataError (a 500) wherever
    a view read a parameter without a form field's own check. Form fields refuse NUL beside
    the field (Django's CharField); JSON bodies are checked by the API's parser.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:
            raise Http404("No page has a NUL character in its address.")
        if "%00" in request.META.get("QUERY_STRING", ""):
            if is_api_path(request.path_info):
                names = [key for key, values in request.GET.lists() if any("\x00" in v for v in [key, *values])]
                fields = {name.replace("\x00", "") or "query": [NUL_FIELD_MESSAGE] for name in names} or {
                    "query": [NUL_FIELD_MESSAGE]}
                first = next(iter(fields))
                return error_json_response(400, f"{first}: {NUL_FIELD_MESSAGE}", "validation_error",
                                           meta={"fields": fields})
            from django.shortcuts import render

            return render(request, "errors/400.html", {"message": NUL_REFUSAL}, status=400)
        return self.get_response(request)


class ContentSecurityPolicyMiddleware:
    """A strict CSP for the dashboard: scripts and styles from this origin only."""

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and not request.path_info.startswith("/api/v1/docs"):
            policy = self.POLICY
            if response.get("Content-Type", "").startswith("text/html") and not 300 <= response.status_code < 400:
                policy = policy.replace("img-src 'self' data:", " ".join(["img-src 'self' data:", *brand_asset_origins()]))
            response["Content-Security-Policy"] = policy
        return response
