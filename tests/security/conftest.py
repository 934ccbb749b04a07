"""Fixtures of the security suite: two funded tenants, keys, and a loopback-only network guard."""

import ipaddress
import json
import socket
from collections import Counter, defaultdict
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.signals import request_started
from django.test import Client

from accounts.models import Membership, Role
from accounts.services import user_create_with_account
from apikeys.scopes import ALL_SCOPES
from billing.services import ledger_post
from tests.conftest import PASSWORD, ApiClient, ensure_seed_data

FUNDING = Decimal("1000.00")
LOCAL_NAMES = {"localhost", "testserver", "ip6-localhost"}


def _is_loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host == "" or str(host).lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only_network(monkeypatch):
    """Generated input must never make the portal reach past this machine.

    Fuzzed bodies carry arbitrary URLs and addresses (check targets, judge URLs, upstreams):
    any connection or name lookup outside the loopback range fails the attempt at once,
    as a refused connection, instead of leaving the machine.
    """
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def _check(address):
        if isinstance(address, tuple) and address and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"security suite: no traffic beyond loopback ({address[0]})")

    def connect(self, address):
        _check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            raise socket.gaierror(socket.EAI_NONAME, f"security suite: no lookups beyond loopback ({host})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield


def fund(account, amount: Decimal = FUNDING, tag: str = "fund") -> None:
    ledger_post(
        account=account, type="deposit", amount=amount,
        reference=f"security-{tag}-{account.public_id}", description="security suite funding",
    )


def _tenant(email: str, name: str, make_key) -> SimpleNamespace:
    user, account = user_create_with_account(email=email, password=PASSWORD, name=name)
    fund(account)
    key = make_key(account, scopes=ALL_SCOPES, name="all scopes")
    return SimpleNamespace(user=user, account=account, key=key, api=ApiClient(key))


@pytest.fixture
def tenants(db, make_key, settings):
    """Two funded tenants, `a` (with a member) and `b`, each with an every-scope key."""
    # A fast hasher: the suite creates these users hundreds of times; hashing is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    ensure_seed_data()
    a = _tenant("alice@tenant-a.example", "Tenant A", make_key)
    b = _tenant("bob@tenant-b.example", "Tenant B", make_key)
    member, _ = user_create_with_account(email="mia@tenant-a.example", password=PASSWORD, name="Mia's own")
    a.member = member
    a.membership = Membership.objects.create(user=member, account=a.account, role=Role.MEMBER)
    return SimpleNamespace(a=a, b=b)


def call(key, method: str, path: str, body=None, content_type="application/json", **extra):
    """One API request with `key`; works for streamed files too (`.raw`, `.json_body` or None)."""
    client = Client()
    path = path if path.startswith("/") else f"/api/v1/{path}"
    kwargs = dict(extra)
    if key is not None:
        kwargs["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    if body is not None:
        kwargs["data"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
        kwargs["content_type"] = content_type
    response = getattr(client, method.lower())(path, **kwargs)
    response.raw = b"".join(response.streaming_content) if response.streaming else response.content
    try:
        response.json_body = json.loads(response.raw) if response.raw else None
    except ValueError:
        response.json_body = None
    return response


# --- figures for SECURITY.md: tests and in-process requests per family -------------------
FAMILY_RESULTS: dict[str, Counter] = defaultdict(Counter)
_current = {"family": None}


def _count_request(sender, **kwargs):
    if _current["family"]:
        FAMILY_RESULTS[_current["family"]]["requests"] += 1


request_started.connect(_count_request, dispatch_uid="security-suite-request-counter")


@pytest.fixture(autouse=True)
def _family(request):
    _current["family"] = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    yield
    _current["family"] = None


def pytest_runtest_logreport(report):
    if "tests/security/" not in report.nodeid:
        return
    family = report.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py").removeprefix("test_")
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        FAMILY_RESULTS[family][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not FAMILY_RESULTS:
        return
    from tests.security import test_contract_fuzz, test_money_invariants

    extra = {
        "contract_fuzz": f"fuzz cases {test_contract_fuzz.FIGURES['cases']}, "
                         f"check failures {test_contract_fuzz.FIGURES['failures']}",
        "money_invariants": "operations " + str(sum(
            v for k, v in test_money_invariants.FIGURES.items() if ":" in k)),
    }
    terminalreporter.section("security suite figures")
    for family, counts in sorted(FAMILY_RESULTS.items()):
        terminalreporter.write_line(
            f"{family:18} tests passed {counts['passed']:4}  failed {counts['failed']:3}  "
            f"skipped {counts['skipped']:3}  requests {counts['requests']:6}  {extra.get(family, '')}"
        )


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory):
    """`collectstatic` as a production deploy runs it (DEBUG off: hashed, compressed manifest).

    Returns (ok, output, STATIC_ROOT); live servers with DEBUG off need it to render pages.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = tmp_path_factory.mktemp("static")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEBUG")}
    env.update(DEBUG="0", PORTAL_ALLOW_DEMO_SECRETS="1", STATIC_ROOT=str(root))
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    return result.returncode == 0, result.stdout + result.stderr, root


def require_collected_static(collected_static):
    ok, output, root = collected_static
    assert ok, output[-3000:]
    return root
