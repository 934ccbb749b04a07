"""API keys with their accounts, kept in process and checked against Redis on every request.

Authenticating from the database costs an API request one PostgreSQL round trip, and on a
small machine that is most of its cost. So each web process keeps the key's row, its
account's row and the owner's e-mail (a *snapshot*), and trusts it only while the
account's *auth version* in Redis is the one it was taken at. Every request reads that
version in the same Redis round trip that counts its rate limit (`api.ratelimit`,
called by `PortalAPIView`), so the check adds no round trip.

Whatever changes what a snapshot holds moves the version (`account_auth_changed`): saving
or deleting a key, its account or a membership, a user's e-mail (receivers in
apikeys.signals), and the ledger and premium writes that update the account by query. The version moves
before the change commits and again after it, so no process keeps a snapshot read in
between. A revoked key, a suspended account or a new balance is therefore seen by every
process on its next request. Snapshots also age out after `AUTH_SNAPSHOT_MAX_AGE_S`
seconds, for writes no signal sees (hand-written SQL, `update()` outside the services).

Off Redis (the embedded default's per-process cache) nothing is shared to check against,
so every request reads the database.
"""

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from api.hooks import key_source
from core.store import redis_client, store_key

logger = logging.getLogger(__name__)

MAX_SNAPSHOTS = 10_000  # per process; past it the map starts afresh
VERSION_TTL_S = 86_400  # a version unseen for a day is dropped; a snapshot then reloads once


@dataclass
class _Snapshot:
    row: object  # the key source's row (api.hooks.KeySource)
    version: str | None
    loaded_at: float


_snapshots: dict[str, _Snapshot] = {}
# A key never changes account: remembering which one lets the next request read the
# account's version *before* the row, the order that makes a snapshot safe to keep.
_account_of_key: dict[str, int] = {}


def enabled() -> bool:
    return settings.AUTH_SNAPSHOT_MAX_AGE_S > 0 and settings.RATELIMIT_ENABLE and redis_client() is not None


def version_key(account_id: int) -> str:
    return store_key(f"authv:{account_id}")


def _read_version(account_id: int) -> str | None:
    raw = redis_client().get(version_key(account_id))
    return raw.decode() if raw is not None else None


def snapshotted_key(key_hash: str):
    """The key from this process's young snapshot, or None (then `load_key`).

    The instance carries `snapshot_version`, which the caller must confirm against Redis
    (`PortalAPIView` does, in its rate-limit round trip) before trusting it.
    """
    snapshot = _snapshots.get(key_hash)
    if snapshot is None or time.monotonic() - snapshot.loaded_at >= settings.AUTH_SNAPSHOT_MAX_AGE_S:
        return None
    if not settings.RATELIMIT_ENABLE:  # nothing would confirm it (the check rides on the count)
        return None
    api_key = key_source().build(snapshot.row)
    api_key.snapshot_version = snapshot.version
    api_key.snapshot_hash = key_hash
    return api_key


def load_key(key_hash: str):
    """The key with this hash and its account from the database, or None; remembered as a
    snapshot when Redis can confirm it later."""
    source = key_source()
    if not enabled():
        key_row = source.row(key_hash)
        return source.build(key_row) if key_row is not None else None
    account_id = _account_of_key.get(key_hash)
    version = _read_version(account_id) if account_id is not None else None
    key_row = source.row(key_hash)  # read after the version: a later change moves it again
    if key_row is None:
        _snapshots.pop(key_hash, None)
        return None
    api_key = source.build(key_row)
    if account_id == api_key.account_id:
        if len(_snapshots) >= MAX_SNAPSHOTS:
            _snapshots.clear()
        _snapshots[key_hash] = _Snapshot(row=key_row, version=version, loaded_at=time.monotonic())
    else:  # first sight in this process: the next request reads the version first
        if len(_account_of_key) >= MAX_SNAPSHOTS:
            _account_of_key.clear()
        _account_of_key[key_hash] = api_key.account_id
    return api_key


def forget(key_hash: str) -> None:
    """Drops a snapshot found stale; the next lookup reads the database."""
    _snapshots.pop(key_hash, None)


def note_use(api_key) -> None:
    """Keeps the snapshot's `last_used_at` in step with the once-a-minute touch."""
    snapshot = _snapshots.get(getattr(api_key, "snapshot_hash", None) or api_key.key_hash)
    if snapshot is not None:
        key_source().note_touch(snapshot.row, api_key)


def _move_version(account_id: int) -> None:
    client = redis_client()
    if client is None:
        return
    try:
        client.set(version_key(account_id), uuid.uuid4().hex, ex=VERSION_TTL_S)
    except Exception as exc:  # noqa: BLE001 - Redis down: the API answers 503 until it is back
        logger.warning("could not move the auth version of account %s: %s", account_id, exc.__class__.__name__)


def account_auth_changed(account_id: int | None) -> None:
    """Invalidates every process's snapshots of this account's keys, now and at commit."""
    if account_id is None or not settings.AUTH_SNAPSHOT_MAX_AGE_S:
        return
    _move_version(account_id)
    transaction.on_commit(lambda: _move_version(account_id))
