"""Scope matrix: every API operation refuses a key lacking its scope, and only that one.

Generated from the URL resolver: each route's view class declares `required_scope` (a
string, or a dict by HTTP method). For every operation, a key holding every scope but
the required one gets 403 `insufficient_scope` with `meta.required` naming it; a key
holding only that scope gets past the scope check. The declared scopes and rate
categories are also held to docs/api.md (Scopes, Endpoints), so a mis-declared endpoint fails here.
"""

import re

import pytest

from api.views import PortalAPIView
from apikeys.scopes import ALL_SCOPES
from tests.security.conftest import call
from tests.security.objects import random_id_for
from tests.security.routes import PARAM, api_routes, for_method

# docs/api.md#endpoints: "METHOD path" (parameters as {}) → scope; None = any valid key.
DOCUMENTED_SCOPES = {
    "GET account": "balance:read",
    "GET account/transactions": "balance:read",
    "GET plans": "balance:read",
    "GET deposits/addresses": "balance:read",
    "POST deposits/addresses": "deposits:write",
    "GET reference/countries": None,
    "GET reference/proxy-types": None,
    "GET reference/periods": None,
    "GET reference/{}": None,
    "POST orders/calc": "orders:read",
    "POST orders": "orders:write",
    "GET orders": "orders:read",
    "GET orders/{}": "orders:read",
    "GET orders/{}/proxies": "orders:read",
    "GET orders/{}/download": "orders:read",
    "POST orders/{}/extend": "orders:write",
    "GET proxy": "proxies:read",
    "POST proxy": "proxies:write",
    "GET proxy/{}": "proxies:read",
    "PATCH proxy/{}": "proxies:write",
    "PUT proxy/{}": "proxies:write",
    "DELETE proxy/{}": "proxies:write",
    "GET stats": "stats:read",
    "GET stats/export": "stats:read",
    "GET geo/countries": "geo:read",
    "GET geo/states": "geo:read",
    "GET geo/cities": "geo:read",
    "GET geo/zip": "geo:read",
    "GET public-proxies": "checker:read",
    "GET public-proxies/export": "checker:read",
    "GET premium/proxies": "checker:read",
    "POST check": "checker:write",
    "GET jobs": "checker:read",
    "GET jobs/{}": "checker:read",
    "GET jobs/{}/items": "checker:read",
    "GET jobs/{}/export": "checker:read",
}
# Families for routes docs/api.md does not list one by one (e.g. proxy/{}/whitelist).
DOCUMENTED_PREFIX_SCOPES = {
    "proxy": ("proxies:read", "proxies:write"),
    "geo": ("geo:read", None),
    "stats": ("stats:read", None),
    "orders": ("orders:read", "orders:write"),
    "jobs": ("checker:read", "checker:write"),
    "deposits": ("balance:read", "deposits:write"),
}


def normalized(route) -> str:
    return PARAM.sub("{}", route.template.removeprefix("api/v1/")).rstrip("/")


def spec_scope(route, method: str):
    key = f"{method} {normalized(route)}"
    if key in DOCUMENTED_SCOPES:
        return True, DOCUMENTED_SCOPES[key]
    family = normalized(route).split("/", 1)[0]
    if family in DOCUMENTED_PREFIX_SCOPES:
        read, write = DOCUMENTED_PREFIX_SCOPES[family]
        return True, read if method == "GET" else (write or read)
    return False, None


def documented_category(route, method: str) -> str:
    path = normalized(route)
    if re.search(r"/(export|download)$", path):
        return "export"
    if method == "POST" and path == "orders":
        return "order_create"
    if method == "POST" and path == "check":
        return "check"
    return "general"


def _cases():
    return [
        pytest.param(route, method, id=f"{method} /{route.template}")
        for route in api_routes()
        for method in route.methods
    ]


def _call(key, method, path):
    return call(key, method, path, {} if method in ("POST", "PUT", "PATCH") else None)


@pytest.mark.parametrize(("route", "method"), _cases())
def test_operation_declares_the_spec_scope_and_rate_category(route, method):
    view = route.view_class
    assert view is not None and issubclass(view, PortalAPIView), (
        f"/{route.template}: every API view must extend api.views.PortalAPIView "
        f"(tenant from the key, scope check, rate limits), got {view!r}"
    )
    scope = for_method(view.required_scope, method)
    known, expected = spec_scope(route, method)
    if known:
        assert scope == expected, f"{method} /{route.template}: scope {scope!r}, docs/api.md says {expected!r}"
    else:
        assert scope in ALL_SCOPES, f"{method} /{route.template}: declares no scope (only /reference may)"
    category = for_method(view.rate_category, method) or "general"
    assert category == documented_category(route, method), (
        f"{method} /{route.template}: rate category {category!r}, docs/api.md says {documented_category(route, method)!r}"
    )


@pytest.mark.parametrize(("route", "method"), _cases())
def test_key_without_the_required_scope_is_refused(route, method, tenants, make_key):
    scope = for_method(route.view_class.required_scope, method)
    path = route.fill({p: random_id_for(p) for p in route.params})
    if scope is None:
        # Any valid key: even a key holding a single unrelated scope is let in.
        response = _call(make_key(tenants.a.account, scopes=["geo:read"]), method, path)
        assert response.status_code not in (401, 403), response.raw[:300]
        return

    others = [s for s in ALL_SCOPES if s != scope]
    response = _call(make_key(tenants.a.account, scopes=others), method, path)
    assert response.status_code == 403, f"{method} {path} without {scope}: {response.status_code}"
    body = response.json_body
    assert body["error_type"] == "insufficient_scope"
    assert body["meta"]["required"] == scope
    assert body["result"] is False and body["data"] is None

    # Scopes are independent, and the required one alone is enough to get past the check.
    alone = _call(make_key(tenants.a.account, scopes=[scope]), method, path)
    refused = alone.status_code == 403 and (alone.json_body or {}).get("error_type") == "insufficient_scope"
    assert not refused, (
        f"{method} {path} refuses a key holding exactly {scope}: {alone.raw[:300]!r}"
    )
