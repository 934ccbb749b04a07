"""Isolation matrix: another tenant's object is 404, through the API and the dashboard.

Generated from the URL resolver at collection time: every API route and every dashboard
page that takes a path parameter is called by tenant B with a real object id of tenant A,
with every HTTP method the route answers. Each must be 404 and leave the object as it
was. A new route is in the matrix on the next run; a new kind of path parameter without
a factory in `objects.py` fails here until one is added.
"""

import pytest
from django.test import Client

from tests.security.conftest import call
from tests.security.objects import (
    BEARER_PARAMS,
    NON_OBJECT_PARAMS,
    TenantObjects,
    Unavailable,
    UnknownParameter,
    snapshot,
)
from tests.security.routes import api_routes, dashboard_routes

# Bodies that would be valid for the real owner, so a 404 cannot hide behind a 400.
PLAUSIBLE_BODIES = {
    "extend": {"period": 30},
    "cancel": {},
    "whitelist": {"whitelist": ["127.0.0.1"]},
}
DEFAULT_BODY = {"POST": {}, "PUT": {"name": "renamed"}, "PATCH": {"name": "renamed"}}


def _api_cases():
    return [
        pytest.param(route, method, id=f"{method} /{route.template}")
        for route in api_routes()
        if route.params
        for method in route.methods
    ]


def _dashboard_cases():
    return [
        pytest.param(route, method, id=f"{method} /{route.template}")
        for route in dashboard_routes()
        if route.params
        for method in ("GET", "POST")
    ]


def _ids_of_a(objects: TenantObjects, route) -> dict[str, str]:
    values = {}
    for param in route.params:
        if param in BEARER_PARAMS:
            pytest.skip(f"/{route.template}: <{param}> is a bearer secret, not a tenant object id")
        if param in NON_OBJECT_PARAMS and len(route.params) == 1:
            pytest.skip(f"/{route.template}: <{param}> names shared reference data, not a tenant object")
        try:
            values[param] = objects.id_for(param, route.template)
        except Unavailable as exc:
            pytest.skip(f"/{route.template}: {exc}")
        except UnknownParameter as exc:
            pytest.fail(str(exc))
    return values


def _body_for(route, method):
    last = route.template.rstrip("/").rsplit("/", 1)[-1]
    if last in PLAUSIBLE_BODIES:
        return PLAUSIBLE_BODIES[last]
    return DEFAULT_BODY.get(method)


@pytest.mark.parametrize(("route", "method"), _api_cases())
def test_api_object_of_another_tenant_is_not_found(route, method, tenants, django_capture_on_commit_callbacks):
    objects = TenantObjects(tenants.a, django_capture_on_commit_callbacks)
    ids = _ids_of_a(objects, route)
    before = {v: snapshot(v) for k, v in ids.items() if k not in NON_OBJECT_PARAMS}
    path = route.fill(ids)
    body = _body_for(route, method) if method in ("POST", "PUT", "PATCH") else None
    response = call(tenants.b.key, method, path, body)

    assert response.status_code == 404, (
        f"{method} {path} with tenant B's key answered {response.status_code} "
        f"{response.raw[:300]!r} for tenant A's object: tenant scoping is missing"
    )
    assert response.json_body and response.json_body["error_type"] == "not_found"
    assert response.json_body["data"] is None
    for object_id, state in before.items():
        assert snapshot(object_id) == state, f"{method} {path} by tenant B changed A's object {object_id}"

    if "GET" in route.methods:
        # The id is real: its owner reads it (so the 404 above is scoping, not a bad id).
        own = call(tenants.a.key, "GET", path)
        assert own.status_code != 404, f"GET {path} is 404 for its owner too: the probe id is not real"


@pytest.mark.parametrize(("route", "method"), _dashboard_cases())
def test_dashboard_object_of_another_account_is_not_found(route, method, tenants, django_capture_on_commit_callbacks):
    objects = TenantObjects(tenants.a, django_capture_on_commit_callbacks)
    ids = _ids_of_a(objects, route)
    before = {v: snapshot(v) for k, v in ids.items() if k not in NON_OBJECT_PARAMS}
    path = route.fill(ids)
    browser = Client()
    browser.force_login(tenants.b.user)  # owner of account B: every capability there

    response = browser.get(path) if method == "GET" else browser.post(path, {"role": "admin", "name": "x"})

    allowed = {404, 405}  # 405: the page does not answer this method at all
    assert response.status_code in allowed, (
        f"{method} {path} by a member of another account answered {response.status_code}: "
        f"expected 404 (never 403, never the page)"
    )
    for object_id, state in before.items():
        assert snapshot(object_id) == state, f"{method} {path} by another account changed {object_id}"

    if method == "GET" and response.status_code == 405:
        return
    # The id is real for a member of account A (admin rights needed for team pages).
    owner = Client()
    owner.force_login(tenants.a.user)
    own = owner.get(path)
    assert own.status_code != 404, f"GET {path} is 404 for its own account too: the probe id is not real"
    if own.status_code == 405:  # a POST-only page: the object must at least exist
        assert all(before.values()), f"{path}: the probe ids {list(before)} match no object"
