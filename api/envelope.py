"""The response envelope (`result`, `data`, `error`, `error_type`, `meta`), built in one place."""

from typing import Any

from django.http import JsonResponse


def envelope(data: Any = None, *, meta: dict | None = None) -> dict:
    return {"result": True, "data": data, "error": "", "error_type": "", "meta": meta or {}}


def error_envelope(message: str, error_type: str, *, meta: dict | None = None) -> dict:
    return {
        "result": False,
        "data": None,
        "error": message,
        "error_type": error_type,
        "meta": meta or {},
    }


def error_json_response(
    status: int, message: str, error_type: str, *, meta: dict | None = None
) -> JsonResponse:
    """For code outside DRF (middleware, URL fallbacks, handler404/500)."""
    return JsonResponse(error_envelope(message, error_type, meta=meta), status=status)
