"""Each scope grants exactly its endpoints (docs/api.md#scopes).

The matrix is built from the URL conf at collection time: every route whose view is a
PortalAPIView subclass, each HTTP method it implements, and the scope it declares. Endpoints
added later by any app are covered without touching this file.
"""

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from api.views import PortalAPIView
from apikeys.scopes import ALL_SCOPES

METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _concrete_path(route: str) -> str:
    route = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"missing-\1", route)  # converters → placeholder values
    return "/" + route.lstrip("^").rstrip("$")


def _scope_for(view_class, method: str):
    required = view_class.required_scope
    return required.get(method.upper()) if isinstance(required, dict) else required


def api_endpoints():
    endpoints = []
    for route, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, PortalAPIView)):
            continue
        for method in METHODS:
            if hasattr(view_class, method):
                endpoints.append((method, _concrete_path(route), _scope_for(view_class, method)))
    return sorted(set(endpoints))


ENDPOINTS = api_endpoints()
SCOPED = [e for e in ENDPOINTS if e[2]]
UNSCOPED = [e for e in ENDPOINTS if not e[2]]


class _Response:
    def __init__(self, response):
        self.status_code = response.status_code
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        try:
            self.json_body = json.loads(raw) if raw else None
        except ValueError:  # a download: not the envelope, and not a scope error either
            self.json_body = None
        self.content = raw


def _call(api_client, method, path):
    """One request with the key of `api_client`; streamed downloads are read to the end."""
    headers = api_client._headers(None)
    client = api_client.client
    if method in ("get", "delete"):
        return _Response(getattr(client, method)(path, headers=headers))
    return _Response(getattr(client, method)(path, data="{}", content_type="application/json", headers=headers))


def _ids(endpoints):
    return [f"{m.upper()} {p} [{s or 'any key'}]" for m, p, s in endpoints]


def test_the_matrix_finds_the_api():
    assert ("get", "/api/v1/account", "balance:read") in ENDPOINTS


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_every_declared_scope_is_a_known_scope(endpoint):
    scope = endpoint[2]
    assert scope is None or scope in ALL_SCOPES


@pytest.mark.parametrize("endpoint", SCOPED, ids=_ids(SCOPED))
def test_key_with_every_other_scope_is_refused(endpoint, account, make_key, api):
    method, path, scope = endpoint
    key = make_key(account, scopes=[s for s in ALL_SCOPES if s != scope])
    response = _call(api(key), method, path)
    assert response.status_code == 403, response.content
    body = response.json_body
    assert body["result"] is False and body["data"] is None
    assert body["error_type"] == "insufficient_scope"
    assert body["meta"]["required"] == scope


@pytest.mark.parametrize("endpoint", SCOPED, ids=_ids(SCOPED))
def test_key_with_only_that_scope_passes_the_scope_check(endpoint, account, make_key, api):
    method, path, scope = endpoint
    response = _call(api(make_key(account, scopes=[scope])), method, path)
    assert response.status_code not in (401, 500), response.content
    assert (response.json_body or {}).get("error_type") != "insufficient_scope", response.content


@pytest.mark.parametrize("endpoint", UNSCOPED or [pytest.param(None, marks=pytest.mark.skip("none yet"))])
def test_unscoped_endpoints_need_only_a_valid_key(endpoint, account, make_key, api):
    method, path, _ = endpoint
    response = _call(api(make_key(account, scopes=["geo:read"])), method, path)
    assert response.status_code not in (401, 403, 500), response.content
    assert _call(api(None), method, path).status_code == 401


READ_WITH_WRITE = [
    e for e in SCOPED if e[2].endswith(":read") and e[2].replace(":read", ":write") in ALL_SCOPES
]


@pytest.mark.parametrize("endpoint", READ_WITH_WRITE, ids=_ids(READ_WITH_WRITE))
def test_write_scope_does_not_grant_read(endpoint, account, make_key, api):
    method, path, scope = endpoint
    write = scope.replace(":read", ":write")
    response = _call(api(make_key(account, scopes=[write])), method, path)
    assert response.status_code == 403
    assert response.json_body["error_type"] == "insufficient_scope"
    assert response.json_body["meta"]["required"] == scope


@pytest.mark.parametrize("endpoint", SCOPED, ids=_ids(SCOPED))
def test_every_endpoint_refuses_a_missing_key(endpoint, db, api):
    method, path, _ = endpoint
    response = _call(api(None), method, path)
    assert response.status_code == 401
    assert json.loads(response.content)["error"] == "API key not found or expired"
