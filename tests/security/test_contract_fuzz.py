"""Contract fuzzing: schemathesis against the live OpenAPI schema, in-process over WSGI.

One test per operation of the schema served at /api/v1/schema/ (listed at collection time
from the same generator, so a new endpoint is fuzzed on the next run). Each operation gets
schema-valid and schema-invalid requests from a key holding every scope on a funded
account, plus valid requests aimed at real objects of that account. Every response must
be documented: no 5xx, a documented status, content type, headers and body schema.

Figures: FUZZ_EXAMPLES (default 15) examples per mode per operation; set FUZZ_EXAMPLES
higher for a deeper local run. Derandomized, so CI is reproducible; FUZZ_SEED varies it.
"""

import os
import threading
from collections import Counter

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.wsgi import application
from tests.security.objects import TenantObjects, Unavailable, UnknownParameter

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SEED = os.environ.get("FUZZ_SEED")
SCHEMA_URL = "/api/v1/schema/?format=json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Totals for SECURITY.md, printed at the end of the run (see the module's fixture below).
FIGURES: Counter = Counter()
_lock = threading.Lock()


def _operations() -> list:
    from drf_spectacular.generators import SchemaGenerator

    try:
        schema = SchemaGenerator().get_schema(request=None, public=True)
    except Exception as exc:  # noqa: BLE001 - report it as a failing test, not a collection error
        return [pytest.param("SCHEMA", "GENERATION", exc, id="schema-generation")]
    return [
        pytest.param(method.upper(), path, None, id=f"{method.upper()} {path}")
        for path, item in schema.get("paths", {}).items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _keep_test_connection_open():
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)


@pytest.fixture
def in_process_requests():
    """Like Django's test client: requests must not close the test's database connection
    (on PostgreSQL, closing it inside the test's transaction breaks every later query)."""
    _keep_test_connection_open()
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(scope="module", autouse=True)
def _report_figures():
    yield
    if FIGURES:
        print(
            f"\n[contract fuzz] operations={FIGURES['operations']} cases={FIGURES['cases']} "
            f"failures={FIGURES['failures']} statuses={dict(sorted(FIGURES.items()))}"
        )


def _settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _run(strategy, headers, examples: int, label: str):
    @given(case=strategy)
    @_settings(examples)
    def fuzz(case):
        _keep_test_connection_open()  # Django's test Client re-connects it after each request
        response = case.call(headers=headers)
        with _lock:
            FIGURES["cases"] += 1
            FIGURES[f"status_{response.status_code}"] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except Exception:
            FIGURES["failures"] += 1
            raise

    fuzz()


@pytest.mark.parametrize(("method", "path", "error"), _operations())
def test_operation_conforms_to_its_schema(method, path, error, tenants, settings, in_process_requests,
                                          django_capture_on_commit_callbacks):
    if error is not None:
        pytest.fail(f"the OpenAPI schema cannot be generated: {error!r}")
    settings.RATELIMIT_ENABLE = False  # fuzz the behaviour, not the per-minute budget
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {tenants.a.key}"}
    FIGURES["operations"] += 1

    _run(operation.as_strategy(schemathesis.GenerationMode.POSITIVE), headers, EXAMPLES, "positive")
    _run(operation.as_strategy(schemathesis.GenerationMode.NEGATIVE), headers, EXAMPLES, "negative")

    # Valid requests against real objects of this account (detail, export, extend, …).
    params = [p["name"] for p in operation.definition.raw.get("parameters", []) if p.get("in") == "path"]
    if params:
        objects = TenantObjects(tenants.a, django_capture_on_commit_callbacks)
        template = path.removeprefix("/").replace("{", "<").replace("}", ">")
        try:
            real = {p: objects.id_for(p, template) for p in params}
        except (Unavailable, UnknownParameter):
            return
        strategy = operation.as_strategy(schemathesis.GenerationMode.POSITIVE, path_parameters=real)
        _run(strategy, headers, max(5, EXAMPLES // 2), "real-ids")
