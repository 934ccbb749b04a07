"""Content negotiation with a fast path for what API clients actually send.

DRF's negotiation parses the query string (for `?format=`) and the Accept header on every
request, which is a large share of an API request's cost. When the client sends no Accept,
`*/*` or `application/json` and no `format` parameter, the answer is known: the first
renderer (the envelope) with its media type, exactly what DRF would pick. Anything else
goes through DRF's negotiation unchanged (406 for what the API does not serve).
"""

from rest_framework.negotiation import DefaultContentNegotiation

_OBVIOUS_ACCEPT = frozenset({"", "*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        meta = request._request.META
        if (
            not format_suffix
            and meta.get("HTTP_ACCEPT", "").strip() in _OBVIOUS_ACCEPT
            and self.settings.URL_FORMAT_OVERRIDE not in meta.get("QUERY_STRING", "")
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
