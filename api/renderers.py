import json

import orjson
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.envelope import envelope


class ApiResponse(Response):
    """A success response whose payload the renderer wraps with `meta` in the envelope."""

    def __init__(self, data=None, *, meta: dict | None = None, status: int = 200, headers=None):
        super().__init__(data=data, status=status, headers=headers)
        self.envelope_meta = meta or {}
        self.charset = EnvelopeRenderer.charset  # known: spares Django parsing it from Content-Type


class EnvelopeRenderer(JSONRenderer):
    """Wraps every payload in the envelope, unless the exception handler already did."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        renderer_context = renderer_context or {}
        response = renderer_context.get("response")
        if response is not None and response.status_code == 204:  # No Content: no envelope either
            return b""
        if response is not None and not getattr(response, "is_envelope", False):
            data = envelope(data, meta=getattr(response, "envelope_meta", None))
        if data is not None and accepted_media_type in (None, self.media_type) and "indent" not in renderer_context:
            return self.render_plain(data)
        return super().render(data, accepted_media_type, renderer_context)

    @classmethod
    def render_plain(cls, data) -> bytes:
        """What JSONRenderer.render produces for a request that asked for no indent: compact
        UTF-8 JSON with U+2028/U+2029 escaped. Written by orjson (a tenth of the json module's
        time on a page of rows); whatever orjson declines (a lone surrogate, an integer past 64
        bits, a key that is not text) is written by the json module, as DRF writes it.
        Anything but plain JSON types (a datetime, a Decimal, lazy text) is DRF's encoder's
        to write, as before."""
        try:
            body = orjson.dumps(data, default=_drf_default(cls), option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            return cls._render_with_json(data)
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body

    @classmethod
    def _render_with_json(cls, data) -> bytes:
        text = json.dumps(
            data, cls=cls.encoder_class, ensure_ascii=cls.ensure_ascii, allow_nan=not cls.strict,
            separators=SHORT_SEPARATORS if cls.compact else LONG_SEPARATORS,
        )
        try:
            return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
        except UnicodeEncodeError:
            # A lone surrogate (from a stored value or an echoed input) is not UTF-8:
            # JSON's \uXXXX escapes carry it without breaking the answer.
            return json.dumps(
                data, cls=cls.encoder_class, ensure_ascii=True, allow_nan=not cls.strict,
                separators=SHORT_SEPARATORS if cls.compact else LONG_SEPARATORS,
            ).encode()


# Datetimes and dataclasses go to DRF's encoder (its text for a datetime, its refusal of a
# dataclass), not orjson's own way of writing them.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_DEFAULTS: dict[type, object] = {}


def _drf_default(renderer: type):
    default = _DEFAULTS.get(renderer.encoder_class)
    if default is None:
        default = _DEFAULTS[renderer.encoder_class] = renderer.encoder_class().default
    return default
