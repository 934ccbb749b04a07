"""Hostile input: every field a tenant can reach answers 2xx, 3xx or 4xx within a second.

Extreme numbers (as text and as JSON numbers), 10-100 KB strings, control characters,
lone surrogates, calendar ends and odd JSON types go, one field at a time and the other
fields valid, into:

- every dashboard route (URL conf, `dashboard:` namespace), signed in as the owner of a
  funded, premium account with real orders, sub-users, jobs, keys, deposit addresses and
  invitations: the query keys its view reads (recorded from a probe request), the fields of
  the GET forms aiming at it, and the fields of the POST forms aiming at it that any page
  renders (or, when no page renders one, the form keys its view reads on a probe POST);
- every account page under /accounts/ (allauth) the same way: as the owner, or as a visitor
  for the pages that send a signed-in user away (login, signup);
- every operation of the OpenAPI schema, with a key holding every scope: each query
  parameter (the schema's and those the view reads) and each request-body property (the
  schema's and those the view looks up in the parsed body).

A 5xx, an exception, a request over LIMIT_SECONDS (re-measured once, the machine may be
busy) or, on the API, an answer outside the JSON envelope is a failure; failures of a route
are collected and reported together. Figures: HOSTILE_EXAMPLES (default 3) generated values
per field on top of the fixed list every field gets, from a fixed seed per field (HOSTILE_SEED
changes them all).
The per-route counts are printed in the "hostile input" section at the end of the run.
"""

import json
import os
import time
import traceback
import zlib
from collections import Counter, defaultdict
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django import urls
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction
from django.http import HttpResponse
from django.template.base import Template
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, example, given, seed, settings
from hypothesis import strategies as st

from accounts.services import invitation_create
from billing.services import premium_purchase
from orders.models import InventoryProxy
from tests.security import hostile
from tests.security.conftest import fund
from tests.security.objects import (
    BEARER_PARAMS,
    TenantObjects,
    Unavailable,
    UnknownParameter,
    random_id_for,
)
from tests.security.routes import dashboard_routes, iter_routes

EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "3"))
SEED = os.environ.get("HOSTILE_SEED")
VERBOSE = bool(os.environ.get("HOSTILE_VERBOSE"))  # one line per request (with pytest -s)
RETRY_BELOW = 3 * hostile.LIMIT_SECONDS  # a slower answer is not re-measured: it is a failure
NOT_FUZZED = {"csrfmiddlewaretoken", hostile.PROBE}
ROOT = Path(__file__).parents[2]
ENVELOPE = {"result", "data", "error", "error_type", "meta"}

# Values the other fields take while one is fuzzed, when the page or schema gives none: a
# datacenter order (the type whose quantity and period are parsed as whole numbers).
KNOWN_GOOD = {"type": "datacenter", "quantity": "1", "period": "30", "country": "US", "state": "US-CA"}
# Fields a form needs filled to be accepted, beyond what the page pre-fills.
FORM_BASELINES = {
    "dashboard:checker": {"proxies_text": "127.0.0.1:9"},
    "dashboard:team": {"email": "invitee-hostile@tenant-a.example"},
    "dashboard:webhooks": {"url": "http://127.0.0.1:9/hook"},
}
# Valid request bodies per operation; "{order_id}" etc. are filled with real objects.
API_BODIES = {
    ("POST", "/api/v1/check"): [{"proxies_text": "127.0.0.1:9\n127.0.0.1:10"}],
    ("POST", "/api/v1/deposits/addresses"): [{"currency": "USDT", "network": "TRC20"}],
    ("POST", "/api/v1/orders"): [{"type": "datacenter", "quantity": "1", "period": 30, "country": "US"},
                                 {"type": "residential", "quantity": "1.5"}],
    ("POST", "/api/v1/orders/calc"): [{"type": "datacenter", "quantity": "1", "period": 30, "country": "US"},
                                      {"type": "residential", "quantity": "1.5"}],
    ("POST", "/api/v1/orders/{order_id}/extend"): [{"period": 30}],
    ("POST", "/api/v1/proxy"): [{"order_id": "{residential_order}", "name": "hostile", "protocol": "http",
                                 "country": "US", "state": "CA", "city": "Los Angeles", "zip": "90001",
                                 "rotation": "sticky", "sticky_ttl_minutes": 10,
                                 "traffic_limit_gb": "1.5", "whitelist": ["127.0.0.1"]}],
    ("PATCH", "/api/v1/proxy/{proxy_id}"): [{"name": "hostile"}],
    ("POST", "/api/v1/account/authorized-ips"): [{"ip": "9.9.9.9"}],
    ("PATCH", "/api/v1/account"): [{"low_balance_threshold": "10.00"}],
    ("PATCH", "/api/v1/orders/{order_id}"): [{"auto_renew": True}],
    # The order's one proxy (the lowest stock row of make_datacenter_order).
    ("POST", "/api/v1/orders/{order_id}/replace"): [{"proxies": ["10.9.1.1:9001"]}],
    ("POST", "/api/v1/webhooks/endpoints"): [{"url": "http://127.0.0.1:9/hook", "events": ["order.activated"]}],
    ("PATCH", "/api/v1/webhooks/endpoints/{endpoint_id}"): [{"url": "http://127.0.0.1:9/hook",
                                                             "events": ["job.completed"], "enabled": True}],
}

FIGURES: dict[str, Counter] = defaultdict(Counter)
BASELINES: dict[str, str] = {}  # route → status of its valid (baseline) request, for the summary


# --- the tenant ------------------------------------------------------------------------------
class HostileObjects(TenantObjects):
    """Tenant objects; an order path parameter is an active datacenter order (extendable,
    with proxies to download), an invitation token a real one."""

    def make_datacenter_order(self) -> str:
        InventoryProxy.objects.bulk_create(
            InventoryProxy(type="datacenter", country="US", host=f"10.9.1.{i}", port=9000 + i,
                           username=f"u{i}", password=f"p{i}", protocol="http")
            for i in range(1, 9)
        )
        return self._order({"type": "datacenter", "quantity": "1", "period": 30, "country": "US"})["id"]

    def make_order(self) -> str:
        return self.make_datacenter_order()

    def make_invitation_token(self) -> str:
        return invitation_create(account=self.t.account, email="newbie@tenant-a.example", role="member",
                                 invited_by=self.t.user, ip=None)


def _plain_render(self, context):
    return self.nodelist.render(context)


@pytest.fixture
def site(tenants, settings, monkeypatch, django_capture_on_commit_callbacks):
    """Tenant A, premium, with one of every kind of object, well funded, rate limits off (the
    budget is not under test), and a dashboard client signed in as its owner."""
    settings.RATELIMIT_ENABLE = False
    settings.ACCOUNT_RATE_LIMITS = False
    # Webhook URLs on this machine only (a loopback port nothing listens on).
    settings.WEBHOOKS_ALLOW_PRIVATE = settings.WEBHOOKS_ALLOW_HTTP = True
    # Django's test environment copies every template context for the test client (here,
    # each <option> of a 250-country list): half the time of a page. Rendering is unchanged.
    monkeypatch.setattr(Template, "_render", _plain_render)
    a = tenants.a
    fund(a.account, Decimal("100000.00"), tag="hostile")
    premium_purchase(account=a.account)
    objects = HostileObjects(a, django_capture_on_commit_callbacks)
    for kind in ("apikey", "membership", "deposit_address", "invitation", "invitation_token", "proxy",
                 "job", "order"):
        objects.cache[kind] = getattr(objects, f"make_{kind}")()
    client = Client()
    client.force_login(a.user)
    return SimpleNamespace(tenant=a, objects=objects, client=client)


@pytest.fixture(scope="module", autouse=True)
def _summary(request):
    """Prints the per-route figures at the end of the run (a plugin registered once)."""
    manager = request.config.pluginmanager
    if not manager.has_plugin("hostile-input-summary"):
        manager.register(_Summary(), "hostile-input-summary")
    yield


class _Summary:
    def pytest_terminal_summary(self, terminalreporter):
        if not FIGURES:
            return
        terminalreporter.section("hostile input")
        total = Counter()
        for label, c in sorted(FIGURES.items()):
            total.update(c)
            terminalreporter.write_line(
                f"{label:54} fields {c['fields']:3}  sent {c['sent']:5}  2xx {c['2xx']:5}  3xx {c['3xx']:4}  "
                f"4xx {c['4xx']:5}  failed {c['failed']:3}  baseline {BASELINES.get(label, '-')}"
            )
        terminalreporter.write_line(
            f"{'total':54} fields {total['fields']:3}  sent {total['sent']:5}  2xx {total['2xx']:5}  "
            f"3xx {total['3xx']:4}  4xx {total['4xx']:5}  failed {total['failed']:3}"
        )


# --- sending one request and judging it ---------------------------------------------------
def _where(exc: BaseException) -> str:
    """The innermost frame of the project's own code in the exception's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/.venv/" not in f.filename
              and "/site-packages/" not in f.filename and "/tests/" not in f.filename]
    if not frames:
        return ""
    last = frames[-1]
    try:
        where = Path(last.filename).relative_to(ROOT)
    except ValueError:
        where = last.filename
    return f" at {where}:{last.lineno} {last.name}()"


class Judge:
    """Sends requests of one route, counts them, and collects the failures."""

    def __init__(self, label: str, api: bool):
        self.label = label
        self.api = api
        self.failures: list[tuple] = []  # (field, value, problem)
        self.figures = FIGURES[label]

    def _send_once(self, send):
        """(response, problem, seconds): the request in a savepoint, under the deadline."""
        outcome = {}

        def run():
            try:
                with transaction.atomic():
                    response = send()
                    # A streamed answer does its work while it is read: read it on the clock.
                    response.body = (b"".join(response.streaming_content) if response.streaming
                                     else response.content)
                    outcome["response"] = response
            except (Exception, hostile.Overran) as exc:  # noqa: BLE001 - every error is a finding
                outcome["error"] = exc

        with hostile.logged_errors() as logged:
            _, overran, seconds = hostile.timed(run)
        error = overran or outcome.get("error")
        response = outcome.get("response")
        if error is None and response is not None and response.status_code >= 500 and logged:
            exc = logged[-1]
            return None, f"{response.status_code}: {type(exc).__name__}: {str(exc)[:120]}{_where(exc)}", seconds
        if isinstance(error, hostile.Overran):
            return None, f"no answer after {seconds:.1f} s (interrupted)", seconds
        if isinstance(error, DatabaseError):
            return None, f"database error {type(error).__name__}: {str(error)[:120]}{_where(error)}", seconds
        if error is not None:
            return None, f"500: {type(error).__name__}: {str(error)[:120]}{_where(error)}", seconds
        return response, None, seconds

    def request(self, field: str, value, send):
        response, problem, seconds = self._send_once(send)
        if problem is None and seconds > hostile.LIMIT_SECONDS and seconds < RETRY_BELOW:
            response, problem, seconds = self._send_once(send)  # the machine may just be busy
        self.figures["sent"] += 1
        if problem is None:
            problem = self._check(response, seconds)
        if VERBOSE:
            status = response.status_code if response is not None else "-"
            print(f"[hostile] {self.label} {field}={hostile.short(value)} -> {status} {seconds:.3f}s {problem or ''}")
        if problem is None:
            self.figures[f"{response.status_code // 100}xx"] += 1
            return response
        self.figures["failed"] += 1
        self.failures.append((field, value, problem))
        return None

    def _check(self, response, seconds: float) -> str | None:
        status = response.status_code
        if status >= 500 or status < 200 or (self.api and 300 <= status < 400):
            return f"status {status}"
        if seconds > hostile.LIMIT_SECONDS:
            return f"status {status} after {seconds:.2f} s (limit {hostile.LIMIT_SECONDS:g} s)"
        if self.api:
            content_type = response.get("Content-Type", "")
            if status >= 300 or content_type.startswith("application/json"):
                try:
                    body = json.loads(response.body)
                except ValueError:
                    return f"status {status}: not JSON ({content_type})"
                if not isinstance(body, dict) or not ENVELOPE <= set(body):
                    return f"status {status}: not the envelope: {str(body)[:120]}"
        return None

    def fuzz(self, field: str, canon: list, strategy, send_value):
        """Every value of `canon`, then EXAMPLES generated ones, into `field`.

        After a request that runs over the limit, the field's remaining values are skipped:
        one finding per field is enough, and each may cost many seconds.
        """
        self.figures["fields"] += 1
        stuck = []

        def one(value):
            if stuck:
                return
            before = len(self.failures)
            self.request(field, value, lambda: send_value(value))
            if len(self.failures) > before and " after " in self.failures[-1][2]:
                stuck.append(value)

        for value in reversed(canon):
            one = example(value=value)(one)
        run = given(value=strategy)(one)
        run = settings(
            max_examples=max(EXAMPLES, 1), deadline=None, database=None,
            phases=[Phase.explicit] + ([Phase.generate] if EXAMPLES > 0 else []),
            suppress_health_check=list(HealthCheck), print_blob=False,
        )(run)
        # A seed of its own per field (other values for each), fixed so a run is reproducible.
        run = seed(zlib.crc32(f"{self.label} {field} {SEED or ''}".encode()))(run)
        run()

    def report(self) -> list[str]:
        """One line per field and kind of failure (the first value, and how many more)."""
        groups: dict[tuple, list] = {}
        for field, value, problem in self.failures:
            kind = problem.split(":", 1)[0] if problem.startswith("status") else problem.split(" at ")[-1]
            groups.setdefault((field, kind), []).append((value, problem))
        lines = []
        for (field, _), items in groups.items():
            value, problem = items[0]
            more = f" (and {len(items) - 1} more value(s))" if len(items) > 1 else ""
            lines.append(f"{self.label} {field}={hostile.short(value)}: {problem}{more}")
        return lines

    def assert_clean(self):
        lines = self.report()
        assert not lines, (
            f"{len(self.failures)} hostile input(s) not answered with 2xx/3xx/4xx within "
            f"{hostile.LIMIT_SECONDS:g} s:\n" + "\n".join(lines)
        )


# --- dashboard -------------------------------------------------------------------------------
def _page_routes() -> list:
    """The dashboard's routes and the account pages (allauth: e-mail, password, 2FA, and for
    visitors login, signup, password reset)."""
    accounts = [r for r in iter_routes() if r.template.startswith("accounts/") and not r.is_regex]
    return dashboard_routes() + accounts


def _page_params():
    return [pytest.param(r, id=f"/{r.template}") for r in _page_routes()]


FORMAT_PARAMS = {"fmt": ("csv", "txt", "json"), "format": ("csv", "txt", "json")}


def _fill(route, objects, client=None) -> str:
    """The route's path with real objects; a file format the route serves (tried in turn)."""
    values = {}
    for param in route.params:
        if param == "token" and "invitation_token" in objects.cache:
            values[param] = objects.cache["invitation_token"]
            continue
        try:
            values[param] = random_id_for(param) if param in BEARER_PARAMS else objects.id_for(param, route.template)
        except (Unavailable, UnknownParameter):
            values[param] = random_id_for(param)
    formats = [p for p in route.params if p in FORMAT_PARAMS]
    if client is not None and formats:
        for candidate in FORMAT_PARAMS[formats[0]]:
            values[formats[0]] = candidate
            if client.get(route.fill(values)).status_code != 404:
                break
    return route.fill(values)


def _route_name(action: str | None, page_path: str) -> tuple[str | None, str]:
    """(URL name, path) of a form's action; a missing action posts to the page itself."""
    path = urlsplit(action).path if action else page_path
    try:
        match = resolve(path or page_path)
    except Resolver404:
        return None, path
    return match.view_name, path


def _probe_get(client, path: str, judge=None):
    """(response, the query keys the view read); through `judge` when given (timed, judged)."""
    def send():
        return client.get(f"{path}?{hostile.PROBE}=get")

    with hostile.recording_reads() as seen:
        response = judge.request("probe", "", send) if judge is not None else send()
    return response, seen["get"]


def _html(response) -> str:
    if response.streaming or "html" not in response.get("Content-Type", ""):
        return ""
    return response.content.decode(errors="replace")


# Where each route's forms are rendered, for the owner and for a visitor:
# {who: {route name: [(page route, query)]}}. The pages are the same from one test to the next
# (only the ids differ), so they are crawled once.
_FORM_PAGES: dict[str, dict] = {}


def _crawl(site, client, who: str) -> dict:
    """Every page, plain and with each query key its view reads set to 1 (a confirmation
    step or a dialog), parsed for forms."""
    if who in _FORM_PAGES:
        return _FORM_PAGES[who]
    found = _FORM_PAGES[who] = {}
    for page in _page_routes():
        path = _fill(page, site.objects, client)
        response, read = _probe_get(client, path)
        if response.status_code != 200:
            continue
        queries = [""] + ([hostile.urlencode_pairs((k, "1") for k in sorted(read))] if read else [])
        for query in queries:
            html = _html(client.get(f"{path}?{query}") if query else response)
            for form in hostile.parse_forms(html):
                name, _ = _route_name(form.action, path)
                if name is None:
                    continue
                where = found.setdefault(name, [])
                if (page, query) not in where:
                    where.append((page, query))
    return found


def _forms_for(site, client, who: str, route) -> list:
    """[(form, action path)] of the forms aiming at `route` on the pages that render them."""
    found = []
    for page, query in _crawl(site, client, who).get(route.name, []):
        path = _fill(page, site.objects)
        html = _html(client.get(f"{path}?{query}" if query else path))
        for form in hostile.parse_forms(html):
            name, action = _route_name(form.action, path)
            if name == route.name:
                found.append((form, action))
    return found


def _filler(item) -> list:
    if item.kind == "email" or "email" in item.name:
        return ["hostile@tenant-a.example"]
    if item.kind in ("number", "range"):
        return ["1"]
    if item.kind == "date":
        return ["2026-01-01"]
    if item.kind == "url":
        return ["http://127.0.0.1:9/"]
    if item.name in KNOWN_GOOD:
        return [KNOWN_GOOD[item.name]]
    return ["hostile"]


def _form_baseline(route_name: str, forms) -> tuple[dict, set]:
    """The first form's values (filled where empty) and every field name of the forms."""
    baseline, names, files = {}, set(), set()
    for number, (form, _) in enumerate(forms):
        for item in form.fields.values():
            if item.name in NOT_FUZZED:
                continue
            names.add(item.name)
            if item.kind == "file":
                files.add(item.name)
            if number or item.kind in ("file",) or item.name in baseline:
                continue
            if item.kind in ("checkbox", "radio"):  # a group may need one ticked ("scopes")
                values = item.values or item.options[:1]
            elif item.kind == "button":
                values = item.options[:1]
            elif any(item.values) or not item.required:
                values = item.values or [""]
            else:
                values = _filler(item)
            if values:
                baseline[item.name] = values
    for name, value in FORM_BASELINES.get(route_name, {}).items():
        baseline[name] = [value]
    return baseline, names, files


def _post_sender(client, path: str, multipart: bool, files: set):
    def send(data: dict):
        if multipart:
            payload = {}
            for name, values in data.items():
                if name in files:
                    payload[name] = SimpleUploadedFile("list.txt", hostile.form_bytes(values[0]))
                else:
                    payload[name] = [hostile.form_bytes(v) for v in values]
            return client.post(path, payload)
        return client.post(path, hostile.urlencode_pairs(data.items()),
                           content_type="application/x-www-form-urlencoded")

    return send


@pytest.mark.parametrize("route", _page_params())
def test_page_survives_hostile_input(route, site):
    """Dashboard routes as the account's owner; an account page that sends the owner away
    (login, signup, password reset) as a visitor."""
    client, who = site.client, "owner"
    path = _fill(route, site.objects, client)
    if not route.name.startswith("dashboard:") and client.get(path).status_code in (301, 302):
        client, who = Client(), "visitor"
    judge = Judge(f"/{route.template}" + (" (visitor)" if who == "visitor" else ""), api=False)
    forms = _forms_for(site, client, who, route)

    # GET: the keys the view reads, and the fields of GET forms aiming here.
    response, read = _probe_get(client, path, judge)
    # The other keys are left out (a link or bookmark sends only some), except those a view
    # needs to get as far as the fuzzed one (an order type before its period).
    get_forms = [(f, a) for f, a in forms if f.method == "get"]
    _, get_names, _ = _form_baseline(route.name, get_forms)
    get_names |= read
    get_baseline = {name: [KNOWN_GOOD[name]] for name in get_names if name in KNOWN_GOOD}
    if response is not None and response.status_code != 405:
        for name in sorted(get_names - NOT_FUZZED):
            def send_query(value, name=name):
                query = {**get_baseline, name: [value]}
                return client.get(f"{path}?{hostile.urlencode_pairs(query.items())}")

            judge.fuzz(f"GET {name}", hostile.TEXT_CANON, hostile.text_values(), send_query)

    # POST: the fields of the first form aiming here (the others' names too), or the keys the
    # view reads from a probe POST when no page renders a form for it.
    post_forms = [(f, a) for f, a in forms if f.method == "post"]
    if post_forms:
        baseline, names, files = _form_baseline(route.name, post_forms)
        action = post_forms[0][1]
        send = _post_sender(client, action, post_forms[0][0].multipart, files)
        with hostile.recording_reads() as seen:
            first = judge.request("baseline", baseline, lambda: send({**baseline, hostile.PROBE: ["post"]}))
        names |= seen["post"]
        assert first is None or first.status_code < 400, (
            f"the valid submission {baseline} of the form aiming at /{route.template} is refused "
            f"({first.status_code}): fill FORM_BASELINES so hostile values reach each field"
        )
    else:
        action, files, baseline = path, set(), {}
        send = _post_sender(client, action, False, files)
        with hostile.recording_reads() as seen:
            first = judge.request("probe", {}, lambda: send({hostile.PROBE: ["post"]}))
        names = seen["post"] if first is not None and first.status_code != 405 else set()
    if first is not None:
        BASELINES[judge.label] = f"POST {first.status_code}" + ("" if post_forms else " (probe)")
    for name in sorted(names - NOT_FUZZED):
        def send_form(value, name=name):
            return send({**baseline, name: [value]})

        judge.fuzz(f"POST {name}", hostile.TEXT_CANON, hostile.text_values(), send_form)

    judge.assert_clean()


# --- API -------------------------------------------------------------------------------------
@cache
def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _api_operations():
    try:
        schema = _schema()
    except Exception as exc:  # noqa: BLE001 - a failing test, not a collection error
        return [pytest.param("SCHEMA", "GENERATION", exc, id="schema-generation")]
    return [
        pytest.param(method.upper(), path, None, id=f"{method.upper()} {path}")
        for path, item in schema.get("paths", {}).items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _json_text(body: dict) -> str:
    """The body as JSON; JsonToken values go in as raw tokens (numbers JSON cannot hold)."""
    tokens = {}

    def swap(value):
        if isinstance(value, hostile.JsonToken):
            marker = f"@@token{len(tokens)}@@"
            tokens[json.dumps(marker)] = str(value)
            return marker
        return value

    text = json.dumps({k: swap(v) for k, v in body.items()})
    for marker, token in tokens.items():
        text = text.replace(marker, token)
    return text


def _fill_body(body: dict, ids: dict) -> dict:
    return {k: (ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") and v[1:-1] in ids else v)
            for k, v in body.items()}


@pytest.mark.parametrize(("method", "path", "error"), _api_operations())
def test_api_operation_survives_hostile_input(method, path, error, site):
    if error is not None:
        pytest.fail(f"the OpenAPI schema cannot be generated: {error!r}")
    schema = _schema()
    operation = schema["paths"][path][method.lower()]
    judge = Judge(f"{method} {path}", api=True)
    objects = site.objects
    template = path.removeprefix("/").replace("{", "<").replace("}", ">")
    parameters = operation.get("parameters", [])
    ids = {}
    for p in parameters:
        if p["in"] == "path":
            name = p["name"]
            ids[name] = objects.id_for(name, template)
    ids["residential_order"] = objects.make_residential_order()
    url = path
    for name, value in ids.items():
        url = url.replace("{" + name + "}", value)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {site.tenant.key}")

    # Query: the schema's parameters and the keys the view reads; the others at a valid value.
    with hostile.recording_reads() as seen:
        probe = judge.request("probe", "", lambda: client.generic(method, f"{url}?{hostile.PROBE}=get"))
    query_specs = {p["name"]: p.get("schema", {}) for p in parameters if p["in"] == "query"}
    names = set(query_specs) | (seen["get"] if probe is not None and probe.status_code != 405 else set())
    baseline = {}
    for name in names:
        spec = query_specs.get(name, {})
        if spec.get("enum"):
            baseline[name] = [spec["enum"][0]]
        elif name in KNOWN_GOOD:
            baseline[name] = [KNOWN_GOOD[name]]
    bodies = [_fill_body(b, ids) for b in API_BODIES.get((method, path), [{}])]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")

    def send(query: dict, body: dict | None):
        target = f"{url}?{hostile.urlencode_pairs(query.items())}" if query else url
        if content is None:
            return client.generic(method, target)
        return client.generic(method, target, _json_text(body), content_type="application/json")

    with hostile.recording_body_keys() as body_keys:
        first = judge.request("baseline", bodies[0], lambda: send(baseline, bodies[0]))
    if first is not None:
        BASELINES[judge.label] = str(first.status_code)
        if content is not None:
            assert first.status_code < 300, (
                f"the baseline body {bodies[0]} of {method} {path} is refused ({first.status_code} "
                f"{first.content[:300]!r}): fix API_BODIES so hostile values reach each field"
            )
    for name in sorted(names - NOT_FUZZED):
        def send_query(value, name=name):
            return send({**baseline, name: [value]}, bodies[0])

        judge.fuzz(f"query {name}", hostile.TEXT_CANON, hostile.text_values(), send_query)

    if content is not None:
        # The schema's properties, and any other key the view looked up in the body.
        properties = set(_resolve(schema, content["schema"]).get("properties", {})) | {
            k for k in body_keys if isinstance(k, str)}
        for number, body in enumerate(bodies):
            for name in sorted(properties):
                def send_body(value, name=name, body=body):
                    return send(baseline, {**body, name: value})

                label = f"body {name}" + (f" (body {number + 1})" if len(bodies) > 1 else "")
                judge.fuzz(label, hostile.TEXT_CANON + hostile.JSON_CANON, hostile.json_values(), send_body)

    judge.assert_clean()


# --- the clock itself --------------------------------------------------------------------
def test_deadline_interrupts_python_work_and_measures_c_calls():
    """The interval timer stops Python-level work on time. A long C call (int() of a Decimal
    with a huge exponent) cannot be stopped in-process: the timer's exception comes only after
    it, so the time measured is the whole call and the request fails the limit all the same."""

    def loop():
        while True:
            time.sleep(0.01)

    _, overran, seconds = hostile.timed(loop, hard=0.3)
    assert isinstance(overran, hostile.Overran) and seconds < 1.5

    started = time.perf_counter()
    int(Decimal("1e150000"))
    call = time.perf_counter() - started
    _, overran, seconds = hostile.timed(lambda: int(Decimal("1e150000")), hard=0.01)
    assert isinstance(overran, hostile.Overran), "the timer fires once the C call returns"
    assert seconds >= 0.5 * call, (seconds, call)


def test_outer_bound_ends_a_run_stuck_in_one_c_call(tmp_path):
    """The last resort against a hang in C: faulthandler exits the process, stacks dumped."""
    import subprocess
    import sys

    script = tmp_path / "stuck.py"
    root = hostile.__file__.rsplit("/tests/", 1)[0]
    script.write_text(
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from decimal import Decimal\n"
        "from tests.security.hostile import deadline\n"
        "with deadline(hard=0.2, outer=1):\n"
        "    int(Decimal('1e3000000'))\n"
    )
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings"})
    assert time.perf_counter() - started < 20
    assert result.returncode != 0
    assert "Timeout" in result.stderr and "stuck.py" in result.stderr, result.stderr[-2000:]


# --- the fuzzer finds what it is meant to find ----------------------------------------------
def _planted_view(request):
    """A view with the bugs this module hunts: an unchecked Decimal(), slow on long input."""
    raw = request.GET.get("n", "0")
    if len(raw) > 50_000:
        time.sleep(1.05)
        return HttpResponse("slow")
    value = Decimal(raw)  # InvalidOperation (a 500) on anything that is not a number
    if not value.is_finite() or abs(value.adjusted()) > 100:
        return HttpResponse("too big", status=400)
    return HttpResponse(str(int(value)))


urlpatterns = [urls.path("planted", _planted_view)]


def test_the_fuzzer_reports_a_planted_500_and_a_slow_answer(settings, db):
    settings.ROOT_URLCONF = __name__
    client = Client()
    response, read = _probe_get(client, "/planted")
    assert response.status_code == 200 and read == {"n"}, "the recorder finds the key the view reads"

    judge = Judge("planted", api=False)
    judge.fuzz("GET n", hostile.TEXT_CANON, st.just("1"), lambda v: client.get(
        f"/planted?{hostile.urlencode_pairs([('n', v)])}"))
    report = "\n".join(judge.report())
    assert "n='0x10': 500: InvalidOperation" in report, report
    assert "status 200 after 1." in report and "(100000 chars)" in report, report
    assert judge.figures["4xx"] >= 2 and judge.figures["2xx"] >= 3, judge.figures  # 1e1000000, NaN
    with pytest.raises(AssertionError, match="hostile input"):
        judge.assert_clean()
    del FIGURES["planted"]  # not a route of the portal: left out of the figures
