"""Shared fixtures: an owner, a member and an outsider tenant, and keys with chosen scopes."""

import functools
import importlib
import json
import subprocess

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import Membership, Role
from accounts.selectors import forget_plan_limits
from accounts.services import user_create_with_account
from apikeys.scopes import ALL_SCOPES
from apikeys.services import apikey_create
from portal.celery import app as celery_app

PASSWORD = "correct-horse-battery-9"


def dashboard_client(user, account) -> Client:
    """A dashboard session of `user`, signed in and working in `account`."""
    from accounts.middleware import SESSION_ACCOUNT_KEY

    client = Client()
    client.force_login(user)
    session = client.session
    session[SESSION_ACCOUNT_KEY] = account.public_id
    session.save()
    return client


@pytest.fixture(autouse=True)
def _isolation(settings):
    """Fresh cache (rate limits) per test, and Celery tasks run inline unless a test opts out."""
    # Pages render {% static %} without a collectstatic run (a clean checkout has no manifest).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # Hashing strength is Django's business; tests only need passwords to round-trip.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Admin feature tests sign operators in with force_login; the TOTP requirement (on with
    # DEBUG off) is pinned on its own in tests/security/test_admin_login.py.
    settings.ADMIN_REQUIRE_MFA = False
    cache.clear()
    forget_plan_limits()
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and before it is dropped, no session left on it.

    Servers and workers a test started (gunicorn, Celery) hold PostgreSQL sessions that end
    a moment after their processes; dropping the database while one lingers fails."""
    yield
    with django_db_blocker.unblock():
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


SEED_MIGRATIONS = ("orders.migrations.0002_default_catalogue", "billing.migrations.0004_default_plans")


def ensure_seed_data() -> None:
    """Re-installs the data migrations' catalogue and plans when a flush removed them.

    A `transaction=True` test (live server, threads) ends with a flush of every table, data
    migrations' rows included; the transactional tests after it would find no plans or
    proxy types. The install functions are idempotent.
    """
    from accounts.models import Plan
    from orders.models import ProxyType

    if ProxyType.objects.exists() and Plan.objects.exists():
        return
    for module in SEED_MIGRATIONS:
        importlib.import_module(module).install(_migration_apps(module), None)


@functools.cache
def _migration_apps(module: str):
    """The models as the data migration saw them (billing.0004 names `billing.Plan`, since
    moved to accounts by a state-only migration); the historical models use today's tables."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    app_label, _, name = module.split(".")
    return MigrationLoader(connection).project_state((app_label, name)).apps


@pytest.fixture(autouse=True)
def _reseed_transactional_tests(request):
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
        or (marker is not None and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        ensure_seed_data()


@pytest.fixture
def owner(db):
    user, account = user_create_with_account(email="owner@example.com", password=PASSWORD, name="Acme")
    return user


@pytest.fixture
def account(owner):
    return Membership.objects.get(user=owner).account


@pytest.fixture
def member(account):
    user, _ = user_create_with_account(email="member@example.com", password=PASSWORD, name="Member's own")
    Membership.objects.create(user=user, account=account, role=Role.MEMBER)
    return user


@pytest.fixture
def outsider(db):
    user, _ = user_create_with_account(email="outsider@example.com", password=PASSWORD, name="Other Co")
    return user


@pytest.fixture
def outsider_account(outsider):
    return Membership.objects.get(user=outsider).account


@pytest.fixture
def make_key(db):
    """make_key(account, scopes=[...], expiration="never", ip_allowlist=[]) → full key string."""

    def factory(account, scopes=ALL_SCOPES, expiration="never", ip_allowlist=(), name="test key"):
        creator = Membership.objects.filter(account=account).select_related("user").first()
        _, full_key = apikey_create(
            account=account, name=name, scopes=list(scopes), expiration=expiration,
            created_by=creator.user if creator else None, ip_allowlist=list(ip_allowlist),
        )
        return full_key

    return factory


class ApiClient:
    """A Django test client that sends an API key and JSON bodies; `.json` on responses."""

    def __init__(self, key: str | None = None, *, header: str = "bearer"):
        self.client = Client()
        self.key = key
        self.header = header

    def _headers(self, extra):
        headers = {}
        if self.key is not None:
            if self.header == "bearer":
                headers["Authorization"] = f"Bearer {self.key}"
            else:
                headers["X-API-Key"] = self.key
        headers.update(extra or {})
        return headers

    def _call(self, method, path, body=None, headers=None, **params):
        path = path if path.startswith("/") else f"/api/v1/{path}"
        kwargs = {"headers": self._headers(headers)}
        if body is not None:
            kwargs["data"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
            kwargs["content_type"] = "application/json"
        elif params:
            kwargs["data"] = params
        response = getattr(self.client, method)(path, **kwargs)
        if response.streaming:
            response.body_bytes = b"".join(response.streaming_content)
        else:
            response.body_bytes = response.content
        try:
            response.json_body = json.loads(response.body_bytes) if response.body_bytes else None
        except ValueError:
            response.json_body = None
        return response

    def get(self, path, headers=None, **params):
        return self._call("get", path, headers=headers, **params)

    def post(self, path, body=None, headers=None):
        return self._call("post", path, body=body, headers=headers)

    def patch(self, path, body=None, headers=None):
        return self._call("patch", path, body=body, headers=headers)

    def delete(self, path, headers=None):
        return self._call("delete", path, headers=headers)


@pytest.fixture
def api():
    """api(key) → ApiClient."""
    return ApiClient


def stop_processes(procs, timeout: float = 15) -> None:
    """Terminates servers a test started, killing those that do not stop within `timeout`."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
