"""One exception handler: every error the API can raise becomes the error envelope."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from api.envelope import error_envelope
from api.errors import http_error
from core import errors

logger = logging.getLogger("portal.api")  # the name operators filter on, kept from portal/api/


def _flatten(detail) -> dict[str, list[str]]:
    """DRF's nested error detail → {"field": ["message", ...]} with dotted paths."""
    fields: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                fields.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
            else:
                for index, sub in enumerate(value):
                    walk(f"{prefix}.{index}" if prefix else str(index), sub)
        else:
            fields.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return fields


def _response(status: int, message: str, error_type: str, meta: dict | None = None) -> Response:
    response = Response(error_envelope(message, error_type, meta=meta), status=status)
    response.is_envelope = True
    return response


def request_limit_refusal(exc: Exception) -> tuple[int, str, str] | None:
    """(status, message, error_type) for Django's own refusals of a request (its size and
    shape limits, a host not allowed, ...), raised while the request is read; None otherwise.
    Shared by DRF's handler and the middleware that covers API paths outside DRF."""
    if isinstance(exc, RequestDataTooBig):
        return 413, errors.PayloadTooLarge.default_message, "payload_too_large"
    if isinstance(exc, TooManyFieldsSent):
        return 400, (f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} query or form "
                     "parameters."), "bad_request"
    if isinstance(exc, TooManyFilesSent):
        return 400, f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files.", "bad_request"
    if isinstance(exc, SuspiciousOperation):
        return 400, "Bad request.", "bad_request"
    return None


def envelope_exception_handler(exc, context):
    if isinstance(exc, errors.PortalError):
        status, error_type = http_error(exc)
        response = _response(status, exc.message, error_type, exc.meta)
        if isinstance(exc, errors.RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail)
        first_field, messages = next(iter(fields.items()))
        label = "" if first_field == "non_field_errors" else f"{first_field}: "
        return _response(400, f"{label}{messages[0]}", "validation_error", {"fields": fields})
    if isinstance(exc, DjangoValidationError):
        fields = _flatten(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return _response(400, next(iter(fields.values()))[0], "validation_error", {"fields": fields})
    if isinstance(exc, drf.ParseError):
        return _response(400, f"Malformed request body: {exc.detail}", "bad_request")
    if isinstance(exc, RecursionError):  # json.loads on deeply nested input
        return _response(400, "Malformed request body: nested too deeply.", "bad_request")
    if isinstance(exc, drf.AuthenticationFailed | drf.NotAuthenticated):
        return _response(401, errors.Unauthorized.default_message, "unauthorized")
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return _response(403, "You do not have permission to do this.", "forbidden")
    if isinstance(exc, drf.NotFound | Http404):
        return _response(404, "Not found.", "not_found")
    if isinstance(exc, drf.MethodNotAllowed):
        return _response(405, f"Method {context['request'].method} is not allowed here.", "method_not_allowed")
    if isinstance(exc, drf.UnsupportedMediaType):
        return _response(415, "Send the body as JSON (Content-Type: application/json).", "unsupported_media_type")
    if isinstance(exc, drf.NotAcceptable):
        return _response(406, "This endpoint answers in JSON only.", "not_acceptable")
    if (refusal := request_limit_refusal(exc)) is not None:
        return _response(*refusal)
    if isinstance(exc, drf.Throttled):
        response = _response(429, errors.RateLimited.default_message, "rate_limited")
        response["Retry-After"] = str(max(1, int(exc.wait or 1)))
        return response
    if isinstance(exc, drf.APIException):
        return _response(exc.status_code, str(exc.detail), "bad_request" if exc.status_code < 500 else "server_error")
    if isinstance(exc, DatabaseError) and _is_unavailable(exc):
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return _response(503, errors.Unavailable.default_message, "unavailable")
    if _is_redis_down(exc):
        logger.warning("cache/broker unavailable: %s", exc.__class__.__name__)
        return _response(503, errors.Unavailable.default_message, "unavailable")
    logger.exception("unhandled API error", exc_info=exc)
    return _response(500, "Internal server error.", "server_error")


def _is_unavailable(exc: DatabaseError) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def _is_redis_down(exc: Exception) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    from kombu.exceptions import OperationalError as KombuOperationalError

    return isinstance(exc, RedisConnectionError | RedisTimeoutError | KombuOperationalError)
