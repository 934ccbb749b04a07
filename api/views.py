"""The base API view every endpoint extends.

It resolves the tenant from the key, refuses suspended accounts, checks the endpoint's
scope, counts the request against its rate category, and adds the `X-RateLimit-*`
headers. Subclasses declare `required_scope` and `rate_category` (a string, or a dict by
HTTP method) and use `self.account` for every query, so tenant scoping cannot be forgotten.
A GET answered from the key's account alone may also define `direct_payload(account)`: its
common case is then answered without DRF's machinery, with the same checks (see
`_answer_directly`).
"""

from django.http import HttpResponse
from rest_framework.views import APIView

from api import snapshots
from api.authentication import key_of_request
from api.envelope import envelope
from api.negotiation import wants_the_envelope
from api.parsers import BoundedJSONParser
from api.ratelimit import VersionMismatch, consume_key_quota, peek_key_quota
from api.renderers import EnvelopeRenderer
from core.errors import AccountInactive, InsufficientScope, PayloadTooLarge, RateLimited


def _body_length(request) -> int:
    """The declared Content-Length (0 when absent or not a number)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    return declared


_SHARED: dict = {}


class PortalAPIView(APIView):
    required_scope: str | dict[str, str] | None = None  # None: any valid key
    rate_category: str | dict[str, str] = "general"
    # A tighter body limit than DATA_UPLOAD_MAX_MEMORY_SIZE for this endpoint (bytes), or None.
    max_body_bytes: int | None = None
    # The key may come from this process's snapshot: `initial` confirms its version in the
    # rate-limit round trip and re-reads the key from the database when it moved.
    confirms_key_snapshots = True
    # A GET whose payload comes from the key's account alone may define
    # `direct_payload(self, account)`; see `_answer_directly`.
    direct_payload = None
    # JSON bodies only, with number literals of bounded length (api.parsers).
    parser_classes = [BoundedJSONParser]

    # DRF builds these per request; none holds per-request state, so each view class (and
    # as_view() override) shares one set: a measurable share of a small request's cost.
    def get_authenticators(self):
        return self._shared("authentication_classes")

    def get_permissions(self):
        return self._shared("permission_classes")

    def get_parsers(self):
        return self._shared("parser_classes")

    def get_renderers(self):
        return self._shared("renderer_classes")

    def get_throttles(self):
        return self._shared("throttle_classes")

    @property
    def default_response_headers(self):
        key = (type(self), "headers", tuple(self.renderer_classes))
        headers = _SHARED.get(key)
        if headers is None:
            headers = _SHARED[key] = super().default_response_headers
        return dict(headers)

    def _shared(self, attribute: str) -> list:
        classes = tuple(getattr(self, attribute))
        instances = _SHARED.get(classes)
        if instances is None:
            instances = _SHARED[classes] = [cls() for cls in classes]
        return instances

    def _for_method(self, value, method: str):
        if isinstance(value, dict):
            return value.get(method)
        return value

    @property
    def account(self):
        return self.request.auth.account

    @property
    def api_key(self):
        return self.request.auth

    def dispatch(self, request, *args, **kwargs):
        if self.direct_payload is not None and request.method == "GET" and not args and not kwargs:
            response = self._answer_directly(request)
            if response is not None:
                return response
        return super().dispatch(request, *args, **kwargs)

    def _answer_directly(self, request) -> HttpResponse | None:
        """The common case of a `direct_payload` GET, answered without DRF's request and
        response machinery: under load that took `GET /account` from 0.68 to 0.75 of a bare
        Django view's rate (bench/RESULTS.md).

        The common case: a key this process holds a snapshot of, no format asked for,
        nothing refused. The checks, the count (with the snapshot's confirmation, in the same
        round trip), the bytes and the headers are DRF's path's. Anything else returns None
        having counted nothing, and DRF's path answers it; a 429 counted here is raised
        there, not counted twice.
        """
        if (not self.confirms_key_snapshots or self.max_body_bytes is not None
                or not wants_the_envelope(request.META)):
            return None
        api_key = key_of_request(request, snapshot_ok=True, snapshot_only=True)
        if api_key is None or self._refusal(api_key, "GET") is not None:
            return None
        try:
            usage = consume_key_quota(request, **self._quota(api_key, "GET", confirm=True))
        except VersionMismatch:  # the key or its account changed: DRF's path reads it afresh
            snapshots.forget(api_key.snapshot_hash)
            return None
        except RateLimited as exc:
            request.counted_rate_limited = exc
            return None
        renderer = EnvelopeRenderer
        response = HttpResponse(
            renderer.render_plain(envelope(self.direct_payload(api_key.account))),
            content_type=f"{renderer.media_type}; charset={renderer.charset}", charset=renderer.charset,
        )
        for header, value in (*self.default_response_headers.items(), *usage.headers().items()):
            response[header] = value
        return response

    def initial(self, request, *args, **kwargs):
        if self.max_body_bytes is not None and _body_length(request) > self.max_body_bytes:
            raise PayloadTooLarge(f"The request body is over this endpoint's limit of {self.max_body_bytes} bytes.")
        super().initial(request, *args, **kwargs)
        try:
            self._admit(request, confirm=True)
        except VersionMismatch:  # the key or its account changed since this process read it
            snapshots.forget(request.auth.snapshot_hash)
            request._authenticate()  # from the database now; may be a 401
            self._admit(request, confirm=False)

    def _admit(self, request, *, confirm: bool) -> None:
        """Suspension and scope refusals (not counted), else one request counted."""
        counted = request._request.__dict__.pop("counted_rate_limited", None)
        if counted is not None:  # `_answer_directly` counted this request already
            raise counted
        api_key = request.auth
        method = request.method.upper()
        quota = self._quota(api_key, method, confirm=confirm)
        refusal = self._refusal(api_key, method)
        if refusal is not None:  # not counted, but it carries the X-RateLimit-* headers too
            peek_key_quota(request, **quota)
            raise refusal
        consume_key_quota(request, **quota)

    def _quota(self, api_key, method: str, *, confirm: bool) -> dict:
        """The key's counter for this method; with `confirm`, the snapshot's version to check."""
        category = self._for_method(self.rate_category, method) or "general"
        quota = {"api_key_id": api_key.pk, "tier": api_key.account.tier, "category": category}
        if confirm and hasattr(api_key, "snapshot_version"):
            quota["verify"] = (snapshots.version_key(api_key.account_id), api_key.snapshot_version)
        return quota

    def _refusal(self, api_key, method: str):
        """The refusal this key gets for this method (suspended account, missing scope), or None."""
        scope = self._for_method(self.required_scope, method)
        if not api_key.account.is_active:
            return AccountInactive()
        if scope and scope not in api_key.scopes:
            return InsufficientScope(scope)
        return None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        usage = getattr(request, "rate_usage", None) or getattr(request._request, "rate_usage", None)
        if usage is not None:
            for header, value in usage.headers().items():
                response[header] = value
        return response
