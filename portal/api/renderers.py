from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from portal.api.envelope import envelope


class ApiResponse(Response):
    """A success response whose payload the renderer wraps with `meta` in the envelope."""

    def __init__(self, data=None, *, meta: dict | None = None, status: int = 200, headers=None):
        super().__init__(data=data, status=status, headers=headers)
        self.envelope_meta = meta or {}


class EnvelopeRenderer(JSONRenderer):
    """Wraps every payload in the envelope, unless the exception handler already did."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and not getattr(response, "is_envelope", False):
            data = envelope(data, meta=getattr(response, "envelope_meta", None))
        return super().render(data, accepted_media_type, renderer_context)
