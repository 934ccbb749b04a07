"""At most 10 active keys per account (docs/api.md#authentication), also under concurrent creation."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.utils import timezone

from accounts.models import Account
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from core.errors import Conflict, DomainValidationError


def _create(account, owner, name="k"):
    return apikey_create(account=account, name=name, scopes=["geo:read"], expiration="never", created_by=owner)


def test_eleventh_key_is_refused_by_the_service(account, owner):
    for i in range(10):
        _create(account, owner, name=f"k{i}")
    with pytest.raises(Conflict) as exc:
        _create(account, owner, name="eleven")
    assert "10 active API keys" in exc.value.message and "Revoke one" in exc.value.message
    assert ApiKey.objects.filter(account=account).count() == 10


def test_revoked_or_expired_keys_free_a_slot(account, owner):
    for i in range(10):
        _create(account, owner, name=f"k{i}")
    ApiKey.objects.filter(name="k0").update(revoked_at=timezone.now())
    _create(account, owner, name="after revoke")
    ApiKey.objects.filter(name="k1").update(expires_at=timezone.now() - timedelta(minutes=1))
    _create(account, owner, name="after expiry")
    with pytest.raises(Conflict):
        _create(account, owner, name="twelve")


def test_the_limit_is_per_account(account, owner, outsider, outsider_account):
    for i in range(10):
        _create(account, owner, name=f"k{i}")
    _create(outsider_account, outsider)
    assert ApiKey.objects.filter(account=outsider_account).count() == 1


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["geo:read", "admin:everything"]}, "scopes"),
        ({"expiration": "2y"}, "expiration"),
        ({"ip_allowlist": ["10.0.0.0/33"]}, "ip_allowlist"),
    ],
)
def test_invalid_input_creates_nothing(account, owner, kwargs, field):
    params = {"name": "ok", "scopes": ["geo:read"], "expiration": "never", **kwargs}
    with pytest.raises(DomainValidationError) as exc:
        apikey_create(account=account, created_by=owner, **params)
    assert field in exc.value.meta["fields"]
    assert not ApiKey.objects.exists()


@pytest.mark.postgres
def test_twenty_concurrent_creations_yield_exactly_ten_keys(transactional_db):
    if not django_settings.IS_POSTGRES:
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    from accounts.services import user_create_with_account

    owner, account = user_create_with_account(email="race@example.com", password="x-very-long-1")
    barrier = threading.Barrier(20)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(i):
        try:
            barrier.wait()
            fresh = Account.objects.get(pk=account.pk)
            apikey_create(account=fresh, name=f"t{i}", scopes=["geo:read"], expiration="never", created_by=None)
            result = "ok"
        except Conflict:
            result = "conflict"
        except Exception as exc:  # noqa: BLE001 - reported in the assertion below
            result = repr(exc)
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["conflict"] * 10 + ["ok"] * 10, outcomes
    assert ApiKey.objects.filter(account=account).active().count() == 10


def test_suspended_account_cannot_create_keys(account, owner):
    account.is_active = False
    account.save(update_fields=["is_active"])
    with pytest.raises(Conflict) as exc:
        _create(account, owner, name="while suspended")
    assert "suspended" in exc.value.message
    assert not ApiKey.objects.filter(account=account).exists()
