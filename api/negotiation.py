"""Content negotiation with a fast path for what API clients actually send.

DRF's negotiation parses the query string (for `?format=`) and the Accept header on every
request, which is a large share of an API request's cost. When the client sends no Accept,
`*/*` or `application/json` and no `format` parameter, the answer is known: the first
renderer (the envelope) with its media type, exactly what DRF would pick. Anything else
goes through DRF's negotiation unchanged (406 for what the API does not serve).
"""

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings

_OBVIOUS_ACCEPT = frozenset({"", "*/*", "application/json"})


def wants_the_envelope(meta) -> bool:
    """True when the request leaves the choice of format to the API (no Accept, `*/*` or
    `application/json`, no `format` parameter): the envelope renderer answers it."""
    return (
        meta.get("HTTP_ACCEPT", "").strip() in _OBVIOUS_ACCEPT
        and api_settings.URL_FORMAT_OVERRIDE not in meta.get("QUERY_STRING", "")
    )


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        if not format_suffix and wants_the_envelope(request._request.META):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)


class FileDownloadNegotiation(DefaultContentNegotiation):
    """For downloads, `?format=txt|csv|json` names the file's format, not a DRF renderer;
    errors still render as the JSON envelope."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
