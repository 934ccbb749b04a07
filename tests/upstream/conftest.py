"""Fixtures of the reseller-chain tests: real portal processes on 127.0.0.1, A the upstream
seller and B the reseller buying from it (tests/upstream/harness.py starts them).

- `portal_a` (once per module): A migrated, seeded and running with its worker;
  `portal_a.seed` says what is in it (see `UpstreamSeed`).
- `start_portal_b(**env)` (a function, per module): B migrated, seeded with an operator and a
  funded customer, running with its worker, its `UPSTREAM_API_URL` at A and its
  `UPSTREAM_API_KEY` the reseller's key on A; `env` adds settings (`ORDER_PROVIDER=…`).
  Starting B again stops the previous one (they share B's database).
- `make_portal(name, **env)`: a `PortalProcess` neither prepared nor started, for tests that
  need another arrangement. Every portal made is stopped at the end of the session.

Where the portals keep their data (every variable optional; each database is wiped):

    UPSTREAM_TEST_DB_A, UPSTREAM_TEST_DB_B        postgres:// URLs
    UPSTREAM_TEST_REDIS_A, UPSTREAM_TEST_REDIS_B  redis:// URLs, each with its own db number

Without them: SQLite files, the file-system broker and the in-process cache, in pytest's
temporary folders, as in `python3 dev.py test`.
"""

import os
from dataclasses import dataclass, field

import pytest

from tests.upstream.harness import PortalProcess, migrated_sqlite_template

PASSWORD = "two-portals-Secret-9"
# What a reseller's key needs upstream: its balance, orders, sub-users and their traffic.
RESELLER_SCOPES = ["balance:read", "orders:read", "orders:write", "proxies:read", "proxies:write",
                   "stats:read", "geo:read"]
RESELLER_BALANCE = "1000.00"
POOR_BALANCE = "1.00"
# The premium plan on A exists for the throttled customer alone: a real 429 comes quickly.
THROTTLED_GENERAL_LIMIT = 3
# Several keys, each counted apart: on the in-process cache each key's minute ends at its own
# second, so a test can pick the key whose window ends soonest and wait less for a real 429.
THROTTLED_KEYS = 4
STOCK = {("isp", "US"): 40, ("datacenter", "US"): 40, ("datacenter", "DE"): 20}


@dataclass
class UpstreamSeed:
    """What `portal_a` holds: each customer as {email, account_id, key}."""

    operator_email: str
    reseller: dict  # B's account on A, funded with RESELLER_BALANCE, key with RESELLER_SCOPES
    poor: dict  # the same scopes, POOR_BALANCE: orders get 402 there
    throttled: dict  # premium, THROTTLED_GENERAL_LIMIT general requests a minute; its "keys" (THROTTLED_KEYS)
    stock: dict = field(default_factory=lambda: dict(STOCK))


@dataclass
class ResellerSeed:
    """What `start_portal_b` puts in B: its operator, and a customer {email, account_id, key} with a balance."""

    operator_email: str
    customer: dict


def _backing(name: str) -> tuple[str | None, str | None]:
    database_url = os.environ.get(f"UPSTREAM_TEST_DB_{name}") or None
    redis_url = os.environ.get(f"UPSTREAM_TEST_REDIS_{name}") or None
    if redis_url and redis_url.rstrip("/") == (os.environ.get("REDIS_URL") or "").rstrip("/"):
        # The other tests clear their cache after each test: on Redis that flushes the whole db.
        raise pytest.UsageError(f"UPSTREAM_TEST_REDIS_{name} must be another Redis db than REDIS_URL's")
    return database_url, redis_url


@pytest.fixture(scope="session")
def make_portal(tmp_path_factory):
    made: list[PortalProcess] = []
    template: dict = {}

    def make(name: str, **env) -> PortalProcess:
        database_url, redis_url = _backing(name)
        if database_url is None and "path" not in template:
            template["path"] = migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))
        portal = PortalProcess(
            name, tmp_path_factory.mktemp(f"portal-{name}"), database_url=database_url, redis_url=redis_url,
            env=env, sqlite_template=None if database_url else template["path"],
        )
        made.append(portal)
        return portal

    yield make
    for portal in made:
        portal.stop()


def seed_upstream(portal: PortalProcess) -> UpstreamSeed:
    steps = [
        ["operator", {"email": "operator-a@example.com", "password": PASSWORD}],
        ["plan_limits", {"tier": "premium", "limit_general": THROTTLED_GENERAL_LIMIT}],
        ["customer", {"email": "reseller-b@example.com", "password": PASSWORD, "name": "Portal B (reseller)",
                      "balance": RESELLER_BALANCE, "scopes": RESELLER_SCOPES}],
        ["customer", {"email": "poor-reseller@example.com", "password": PASSWORD, "name": "Short of funds",
                      "balance": POOR_BALANCE, "scopes": RESELLER_SCOPES}],
        ["customer", {"email": "throttled@example.com", "password": PASSWORD, "name": "Throttled",
                      "premium": True, "scopes": ["balance:read"]}],
        *[["api_key", {"email": "throttled@example.com", "scopes": ["balance:read"], "name": f"throttled {n}"}]
          for n in range(2, THROTTLED_KEYS + 1)],
        *[["stock", {"type": t, "country": c, "count": n}] for (t, c), n in STOCK.items()],
    ]
    answers = portal.call("batch", steps=steps)
    throttled = {**answers[4], "keys": [answers[4]["key"]] + [a["key"] for a in answers[5:4 + THROTTLED_KEYS]]}
    return UpstreamSeed(operator_email=answers[0]["email"], reseller=answers[2], poor=answers[3], throttled=throttled)


@pytest.fixture(scope="module")
def portal_a(make_portal) -> PortalProcess:
    portal = make_portal("A")
    portal.prepare()
    portal.seed = seed_upstream(portal)
    portal.start()
    yield portal
    portal.stop()


@pytest.fixture(scope="module")
def start_portal_b(make_portal, portal_a):
    current: list[PortalProcess] = []

    def start(*, key: str | None = None, worker: bool = True, beat: bool = False, **env) -> PortalProcess:
        for portal in current:
            portal.stop()
        current.clear()
        portal = make_portal("B", UPSTREAM_API_URL=portal_a.api_url,
                             UPSTREAM_API_KEY=key or portal_a.seed.reseller["key"], **env)
        portal.prepare()
        operator, customer = portal.call("batch", steps=[
            ["operator", {"email": "operator-b@example.com", "password": PASSWORD}],
            ["customer", {"email": "buyer@example.com", "password": PASSWORD, "name": "Buyer at B",
                          "balance": "500.00", "scopes": ["balance:read", "orders:read", "orders:write",
                                                          "proxies:read", "proxies:write", "stats:read", "geo:read"]}],
        ])
        portal.seed = ResellerSeed(operator_email=operator["email"], customer=customer)
        current.append(portal)
        portal.start(worker=worker, beat=beat)
        return portal

    yield start
    for portal in current:
        portal.stop()
