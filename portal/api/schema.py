"""OpenAPI: the API-key security schemes and the response envelope around every payload."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema


class EnvelopeAutoSchema(AutoSchema):
    """Describes each success payload wrapped in `{result, data, error, error_type, meta}`."""

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        response = super()._get_response_for_code(serializer, status_code, media_types, direction)
        content = response.get("content") or {}
        for media in content.values():
            schema = media.get("schema")
            if schema is None or media is None:
                continue
            media["schema"] = {
                "type": "object",
                "required": ["result", "data", "error", "error_type", "meta"],
                "properties": {
                    "result": {"type": "boolean"},
                    "data": schema,
                    "error": {"type": "string"},
                    "error_type": {"type": "string"},
                    "meta": {"type": "object", "additionalProperties": True},
                },
            }
        return response


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = ["BearerAuth", "ApiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer pk_live_…"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]
