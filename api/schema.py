"""OpenAPI: the API-key security schemes, the envelope around every payload, the errors.

What the generated schema promises, and the contract fuzzing in `tests/security/` holds
the running API to (every documented response, nothing else):

- every JSON success payload sits in `{result: true, data, error: "", error_type: "", meta}`;
- every operation documents the error statuses the platform itself can answer with
  (authentication, scope, validation, not found, rate limits, unavailability…), each as the
  error envelope with the `error_type` values the API answers that status with; unsafe methods
  also document 402, 409, 413, 415 and 502;
- operations in the `export` rate category are file downloads: `text/plain`, `text/csv`
  or `application/json`, not wrapped in the envelope;
- the key goes in `Authorization: Bearer …` *or* in `X-API-Key` (either one suffices).
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

JSON_MEDIA = "application/json"
DOWNLOAD_MEDIA = ("text/plain", "text/csv", "application/json")

# status → (description, allowed error_type values): the one list the schema documents.
ERROR_STATUSES: dict[str, tuple[str, list[str]]] = {
    "400": ("Bad body or query", ["validation_error", "bad_request"]),
    "401": ("API key missing, unknown, malformed, expired or revoked", ["unauthorized"]),
    "402": ("Balance lower than the price; nothing charged", ["insufficient_funds"]),
    "403": (
        "Key lacks the scope, premium required, or account suspended",
        ["insufficient_scope", "premium_required", "account_inactive", "forbidden"],
    ),
    "404": ("Unknown id, or another tenant's", ["not_found"]),
    "405": ("Method not allowed", ["method_not_allowed"]),
    "406": ("Only JSON is served here", ["not_acceptable"]),
    "409": ("Conflicting state, stock or Idempotency-Key reuse", ["conflict"]),
    "413": ("Body over the endpoint's limit", ["payload_too_large"]),
    "415": ("Body is not JSON", ["unsupported_media_type"]),
    "429": ("Rate limited; see Retry-After", ["rate_limited"]),
    "500": ("Server error (never a stack trace)", ["server_error"]),
    "502": ("The proxy provider failed; any charge refunded", ["upstream_error"]),
    "503": ("Temporarily unavailable (database, cache or broker)", ["unavailable"]),
}
COMMON_ERRORS = ("400", "401", "403", "404", "405", "406", "429", "500", "503")
UNSAFE_ERRORS = ("402", "409", "413", "415", "502")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests allowed in the window"},
    "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Requests left in the window"},
    "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Unix time the window ends"},
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "required": True, "description": "Seconds to wait"}
}

PAGE_META = {
    "type": "object",
    "additionalProperties": True,
    "properties": {
        "page": {"type": "integer", "minimum": 1},
        "limit": {"type": "integer", "minimum": 1},
        "total": {"type": "integer", "minimum": 0},
    },
}


def success_envelope(data_schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["result", "data", "error", "error_type", "meta"],
        "properties": {
            "result": {"type": "boolean", "enum": [True]},
            "data": data_schema,
            "error": {"type": "string", "enum": [""]},
            "error_type": {"type": "string", "enum": [""]},
            "meta": PAGE_META,
        },
    }


def error_envelope_schema(error_types: list[str]) -> dict:
    return {
        "type": "object",
        "required": ["result", "data", "error", "error_type", "meta"],
        "properties": {
            "result": {"type": "boolean", "enum": [False]},
            "data": {"nullable": True, "enum": [None]},
            "error": {"type": "string", "minLength": 1},
            "error_type": {"type": "string", "enum": error_types},
            "meta": {"type": "object", "additionalProperties": True},
        },
    }


def _for_method(value, method: str):
    if isinstance(value, dict):
        return value.get(method)
    return value


class EnvelopeAutoSchema(AutoSchema):
    """Wraps success payloads in the envelope and documents every error response."""

    def _is_download(self) -> bool:
        return _for_method(getattr(self.view, "rate_category", None), self.method) == "export"

    def _error_response(self, status: str) -> dict:
        """A reference to the shared error response for `status` (components/responses).

        Registered as a response component, not a schema: drf-spectacular's enum
        post-processing only rewrites schema components, and would merge the per-status
        `error_type` enums and the constant `result`/`data` values into colliding names.
        """
        description, error_types = ERROR_STATUSES[status]
        response = {
            "description": description,
            "content": {JSON_MEDIA: {"schema": error_envelope_schema(error_types)}},
        }
        if status == "429":
            response["headers"] = dict(RETRY_AFTER)
        component = ResolvedComponent(
            name=f"Error{status}",
            type=ResolvedComponent.RESPONSE,
            object=f"portal-error-envelope-{status}",
            schema=response,
        )
        self.registry.register_on_missing(component)
        return component.ref

    def _wrap_success(self, status: str, response: dict) -> dict:
        content = response.get("content") or {}
        if self._is_download():
            declared = {m: v for m, v in content.items() if m != JSON_MEDIA}
            content = {m: {"schema": {"type": "string"}} for m in DOWNLOAD_MEDIA if m != JSON_MEDIA}
            content.update(declared)
            content[JSON_MEDIA] = {"schema": {}}  # the file itself, free-form JSON
            response["content"] = content
            return response
        if status == "204":
            return response
        if not content:
            # The view declares no serializer: the payload is undocumented but enveloped.
            content = {JSON_MEDIA: {"schema": {}}}
        for media_type, media in content.items():
            if media is None or media_type.split(";")[0].strip() != JSON_MEDIA:
                continue
            media["schema"] = success_envelope(media.get("schema") or {})
        response["content"] = content
        headers = dict(RATE_LIMIT_HEADERS)
        headers.update(response.get("headers") or {})
        response["headers"] = headers
        return response

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        result = {}
        for status, response in responses.items():
            status = str(status)
            if status.startswith("2"):
                result[status] = self._wrap_success(status, dict(response))
            elif status in ERROR_STATUSES:
                result[status] = self._error_response(status)
            else:
                result[status] = response
        wanted = COMMON_ERRORS + (UNSAFE_ERRORS if self.method in UNSAFE_METHODS else ())
        for status in wanted:
            result.setdefault(status, self._error_response(status))
        return dict(sorted(result.items()))


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        # Alternatives (OR), not both at once: a list of requirement objects.
        return [{"BearerAuth": []}, {"ApiKeyHeader": []}]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer pk_live_…"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]
