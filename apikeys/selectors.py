"""Reads for the API Keys page."""

from dataclasses import dataclass
from datetime import datetime

from accounts.models import Account
from apikeys.models import ApiKey


@dataclass(frozen=True)
class SortColumn:
    key: str  # the value of ?sort=
    label: str  # the column header, as in the seed


# The table's columns in order; every one sorts. At most API_KEYS_PER_ACCOUNT active keys exist,
# so sorting happens in Python, where "never" (no expiry) and "never used" order sensibly.
COLUMNS = (
    SortColumn("name", "Name"),
    SortColumn("key", "Key"),
    SortColumn("permissions", "Permissions"),
    SortColumn("last_used", "Last used"),
    SortColumn("expires", "Expires"),
    SortColumn("created", "Created"),
)
SORT_KEYS = {c.key for c in COLUMNS}
DEFAULT_SORT = "-created"
_EARLIEST = datetime.min
_LATEST = datetime.max


def _naive(value: datetime | None, missing: datetime) -> datetime:
    return value.replace(tzinfo=None) if value is not None else missing


_SORT_VALUE = {
    "name": lambda k: (k.name.casefold(), k.created_at),
    "key": lambda k: k.display_prefix,
    "permissions": lambda k: " ".join(k.scopes),
    "last_used": lambda k: _naive(k.last_used_at, _EARLIEST),  # never used: oldest
    "expires": lambda k: _naive(k.expires_at, _LATEST),  # no expiration: last
    "created": lambda k: _naive(k.created_at, _EARLIEST),
}


def normalise_sort(sort: str | None) -> str:
    sort = (sort or "").strip()
    return sort if sort.lstrip("-") in SORT_KEYS else DEFAULT_SORT


def apikeys_active(*, account: Account, q: str = "", sort: str = DEFAULT_SORT) -> list[ApiKey]:
    """The account's active keys (not revoked, not expired), filtered by name and sorted."""
    keys = ApiKey.objects.for_account(account).active()
    q = (q or "").strip()
    if q:
        keys = keys.filter(name__icontains=q)
    sort = normalise_sort(sort)
    field = sort.lstrip("-")
    return sorted(keys, key=_SORT_VALUE[field], reverse=sort.startswith("-"))


def apikeys_active_count(*, account: Account) -> int:
    return ApiKey.objects.for_account(account).active().count()


def apikey_active_get(*, account: Account, key_id: str) -> ApiKey | None:
    return ApiKey.objects.for_account(account).active().filter(public_id=key_id).first()
