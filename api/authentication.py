"""DRF authentication by API key (`Authorization: Bearer` or `X-API-Key`).

The keys are the issuing app's (`API_KEY_SOURCE`, see api.hooks): this module checks a
presented key's format and checksum before any query, finds it by its hash (or in this
process's snapshot, api.snapshots), and refuses it when revoked, expired or used from an
address its allowlist does not hold.
"""

import hmac
import ipaddress

from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import SAFE_METHODS

from api import snapshots
from api.hooks import key_source
from api.ratelimit import TOO_MANY_AUTH_FAILURES, failed_authentication
from core.errors import RateLimited
from core.http import client_ip


class ApiKeyPrincipal:
    """What `request.user` is for API requests: the key, acting for its account."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.account = api_key.account
        self.pk = None

    def __str__(self) -> str:
        return self.api_key.display_prefix


def presented_key(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    return request.META.get("HTTP_X_API_KEY", "").strip()


def _ip_allowed(api_key, ip: str) -> bool:
    if not api_key.ip_allowlist:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in api_key.ip_allowlist)


def find_key(raw_key: str, *, snapshot_ok: bool = False):
    """The key for `raw_key`, or None: format and checksum (no query), then one lookup
    through the unique hash index.

    `snapshot_ok`: the caller confirms a snapshot's version before trusting it (see
    api.snapshots), so a key this process has served may come from memory, without a
    query. Only well-formed keys are ever snapshotted, so that lookup comes first.
    """
    source = key_source()
    key_hash = source.digest(raw_key)
    api_key = snapshots.snapshotted_key(key_hash) if snapshot_ok else None
    if api_key is None:
        if not source.is_well_formed(raw_key):
            return None
        if snapshot_ok:
            api_key = snapshots.load_key(key_hash)
        else:
            key_row = source.row(key_hash)
            api_key = source.build(key_row) if key_row is not None else None
    if api_key is None or not hmac.compare_digest(api_key.key_hash, key_hash) or not api_key.is_active:
        return None
    return api_key


def key_of_request(request, *, snapshot_ok: bool):
    """The request's valid key, allowed from the caller's address, or None (nothing counted).

    Sets `request.account` and `request.api_key` on the Django request and records the use.
    `snapshot_ok` as for `find_key`.
    """
    api_key = find_key(presented_key(request), snapshot_ok=snapshot_ok)
    if api_key is None or not _ip_allowed(api_key, client_ip(request)):
        return None
    request.account = api_key.account
    request.api_key = api_key
    if key_source().touch(api_key):
        snapshots.note_use(api_key)
    return api_key


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        view = (request.parser_context or {}).get("view")
        # Reads (and requests a view declares change nothing, such as pricing an order) may
        # use this process's snapshot (the view confirms it); writes read the database: they
        # change the account often (every order), which would only make the snapshot stale,
        # and they read the database anyway.
        snapshot_ok = request.method in getattr(view, "read_only_methods", SAFE_METHODS) and getattr(
            view, "confirms_key_snapshots", False
        )
        api_key = key_of_request(request._request, snapshot_ok=snapshot_ok)
        if api_key is not None:
            return ApiKeyPrincipal(api_key), api_key
        over = failed_authentication(request, client_ip(request))
        if over is not None:
            raise RateLimited(over.retry_after, TOO_MANY_AUTH_FAILURES)
        raise AuthenticationFailed("API key not found or expired")

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
