"""Reads for the API Keys page."""

from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import Q
from django.db.models.base import ModelState
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account, Membership, Role, User
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
    SortColumn("created_by", "Created by"),
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
    "created_by": lambda k: (k.created_by_label.casefold(), k.created_at),
}


def normalise_sort(sort: str | None) -> str:
    sort = (sort or "").strip()
    return sort if sort.lstrip("-") in SORT_KEYS else DEFAULT_SORT


def apikeys_active(*, account: Account, q: str = "", sort: str = DEFAULT_SORT) -> list[ApiKey]:
    """The account's active keys (not revoked, not expired), filtered by name and sorted."""
    keys = ApiKey.objects.for_account(account).active().select_related("created_by")
    q = (q or "").strip()
    if len(q) > ApiKey._meta.get_field("name").max_length:
        return []  # no name is that long; and SQLite refuses a LIKE pattern of 50,000 characters
    if q:
        keys = keys.filter(name__icontains=q)
    sort = normalise_sort(sort)
    field = sort.lstrip("-")
    return sorted(keys, key=_SORT_VALUE[field], reverse=sort.startswith("-"))


def apikeys_active_count(*, account: Account) -> int:
    return ApiKey.objects.for_account(account).active().count()


def apikeys_ever_created(*, account: Account) -> bool:
    """Whether the account ever had a key, revoked or expired ones included."""
    return ApiKey.objects.for_account(account).exists()


INACTIVE_SHOWN = 100


def apikeys_inactive(*, account: Account, q: str = "") -> list[ApiKey]:
    """The account's revoked and expired keys, the most recently ended first (at most
    `INACTIVE_SHOWN`: revoked keys pile up over the years)."""
    now = timezone.now()
    q = (q or "").strip()
    if len(q) > ApiKey._meta.get_field("name").max_length:
        return []
    keys = (
        ApiKey.objects.for_account(account)
        .filter(Q(revoked_at__isnull=False) | Q(expires_at__lte=now))
        .select_related("created_by", "revoked_by")
        .order_by(Coalesce("revoked_at", "expires_at").desc(), "-id")
    )
    if q:
        keys = keys.filter(name__icontains=q)
    return list(keys[:INACTIVE_SHOWN])


def apikey_active_get(*, account: Account, key_id: str) -> ApiKey | None:
    return ApiKey.objects.for_account(account).active().filter(public_id=key_id).first()


class _KeyLookup:
    """`ApiKey` by hash with its account and the account owner's e-mail, in one query.

    Authentication runs this on every API request. The ORM would compile the same query
    each time (most of the request's cost); this one is written once, and rows become
    model instances through each field's database converters, as the ORM does it.
    """

    def __init__(self) -> None:
        from django.db import connection

        q = connection.ops.quote_name
        self.key_fields = ApiKey._meta.concrete_fields
        self.account_fields = Account._meta.concrete_fields
        self.key_attnames = [f.attname for f in self.key_fields]
        self.account_attnames = [f.attname for f in self.account_fields]
        self.last_used_index = self.key_attnames.index("last_used_at")
        m, u = Membership._meta, User._meta
        n = {  # quoted table and column names, all from model metadata
            "key": q(ApiKey._meta.db_table), "key_account": q(ApiKey._meta.get_field("account").column),
            "key_hash": q(ApiKey._meta.get_field("key_hash").column),
            "account": q(Account._meta.db_table), "account_pk": q(Account._meta.pk.column),
            "membership": q(m.db_table), "m_pk": q(m.pk.column), "m_user": q(m.get_field("user").column),
            "m_account": q(m.get_field("account").column), "m_role": q(m.get_field("role").column),
            "user": q(u.db_table), "user_pk": q(u.pk.column), "email": q(u.get_field("email").column),
        }
        columns = [f"k.{q(f.column)}" for f in self.key_fields] + [f"a.{q(f.column)}" for f in self.account_fields]
        owner_email = (  # noqa: S608 - names from model metadata, values are parameters
            "(SELECT u.{email} FROM {membership} m JOIN {user} u ON u.{user_pk} = m.{m_user}"
            " WHERE m.{m_account} = a.{account_pk} AND m.{m_role} = %s ORDER BY m.{m_pk} LIMIT 1)"
        ).format(**n)
        self.sql = (  # noqa: S608 - names from model metadata, values are parameters
            "SELECT {columns}, {owner_email} FROM {key} k JOIN {account} a ON a.{account_pk} = k.{key_account}"
            " WHERE k.{key_hash} = %s"
        ).format(columns=", ".join(columns), owner_email=owner_email, **n)
        self._converters: dict[str, list] = {}

    def _converters_for(self, connection) -> list:
        if connection.vendor not in self._converters:
            self._converters[connection.vendor] = [
                (
                    [*connection.ops.get_db_converters(field.cached_col), *field.get_db_converters(connection)],
                    field.cached_col,
                )
                for field in (*self.key_fields, *self.account_fields)
            ]
        return self._converters[connection.vendor]

    def row(self, key_hash: str) -> "KeyRow | None":
        """The key's and its account's field values (converted), and the owner's e-mail."""
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(self.sql, [Role.OWNER.value, key_hash])
            row = cursor.fetchone()
        if row is None:
            return None
        values = []
        for value, (converters, expression) in zip(row, self._converters_for(connection), strict=False):
            for converter in converters:
                value = converter(value, expression, connection)
            values.append(value)
        split = len(self.key_fields)
        return KeyRow(values[:split], values[split:], row[-1] or "")  # zip stopped before the e-mail

    def build(self, key_row: "KeyRow") -> ApiKey:
        """Fresh model instances from a row (JSON lists copied, so no two requests share one)."""
        key_values = [list(v) if isinstance(v, list) else v for v in key_row.key_values]
        # `row` reads through the default connection; naming it costs no connection lookup.
        api_key = _loaded(ApiKey, DEFAULT_DB_ALIAS, self.key_attnames, key_values)
        account = _loaded(Account, DEFAULT_DB_ALIAS, self.account_attnames, key_row.account_values)
        account.owner_email = key_row.owner_email
        api_key.account = account
        return api_key


def _loaded(model, alias: str, attnames: list[str], values) -> models.Model:
    """A model instance as `Model.from_db` makes it, without running `__init__`.

    `__init__` walks every field and sends pre_init/post_init, which no receiver in this
    project listens to for these models; this is on every API request's path.
    """
    instance = model.__new__(model)
    instance.__dict__.update(zip(attnames, values, strict=True))
    instance._state = ModelState()
    instance._state.adding = False
    instance._state.db = alias
    return instance


@dataclass
class KeyRow:
    key_values: list
    account_values: list
    owner_email: str


_key_lookup: _KeyLookup | None = None


def key_lookup() -> _KeyLookup:
    global _key_lookup
    if _key_lookup is None:
        _key_lookup = _KeyLookup()
    return _key_lookup


def apikey_by_hash(key_hash: str) -> ApiKey | None:
    """The key with this hash (any state), its account loaded, or None."""
    lookup = key_lookup()
    key_row = lookup.row(key_hash)
    return lookup.build(key_row) if key_row is not None else None
