"""The base API view every endpoint extends.

It resolves the tenant from the key, refuses suspended accounts, checks the endpoint's
scope, counts the request against its rate category, and adds the `X-RateLimit-*`
headers. Subclasses declare `required_scope` and `rate_category` (a string, or a dict by
HTTP method) and use `self.account` for every query, so tenant scoping cannot be forgotten.
"""

from rest_framework.permissions import SAFE_METHODS
from rest_framework.views import APIView

from api import snapshots
from api.parsers import BoundedJSONParser
from api.ratelimit import VersionMismatch, consume_key_quota, peek_key_quota
from core.errors import AccountInactive, InsufficientScope, PayloadTooLarge


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
    # The methods that change nothing here: their key may come from the snapshot.
    read_only_methods = frozenset(SAFE_METHODS)
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
