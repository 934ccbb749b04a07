"""A page of rows rendered once per row version: what a list endpoint polled again and again
spends its time on is rendering rows that have not changed since the last time.

On PostgreSQL every version of a row has its own `(xmin, ctid)`: an UPDATE writes a new
version of the row, with the writing transaction's id in `xmin` (a new one for every
transaction) and its own place in `ctid` (a new one for every version, also within one
transaction), however the row was written: `save()`, `queryset.update()`, raw SQL, another
process. `paginate_rendered` reads a page as each row's primary key and version (and the
total, as `paginate` does), renders only the rows whose version this process has not
rendered before, through the serializer as usual, and keeps each rendered row under its
class, key and version. A cached row is the same text its version rendered to, so nothing
needs invalidating when a row changes: its new version is simply not in the cache.

Only a serializer that says so (`OutputSerializer.rendered_per_row_version`) is rendered this
way: one whose output is a function of the row's own columns, of values that never change
(an order's public id; the settings, which clear the cache when they change) and of values
the list's query reads beside the row, named by the serializer (an order's live proxy
count), which then join the version. Everything else, and any database other than
PostgreSQL, takes `paginate` and the serializer as before. Each process keeps at most
`ROWS_KEPT` rendered rows, the oldest going first.

The one way two versions of a row could share a name: a transaction writing a row twice, a
list rendering the first write inside that same transaction, and a table rewrite (VACUUM
FULL, CLUSTER) later moving the second write to the first one's place. No list request
writes, so the API never renders an uncommitted version; restart the web processes after
a table rewrite all the same.
"""

import functools
import operator

from django.core.signals import setting_changed
from django.db import connections
from django.db.models import F
from django.db.models.expressions import RawSQL
from django.db.models.query import ModelIterable, QuerySet, ValuesIterable
from django.dispatch import receiver

from api.pagination import page_params, page_with_total, paginate, with_total
from api.serializers import utc_active
from core.db import fetch_rows

VERSION = "_row_version"
KEY = "_row_key"  # a `values()` row's primary key, where its columns do not include it
ROWS_KEPT = 5_000  # a sub-user row takes about 4.7 KB: some 25 MB at most per process

_RENDERED: dict[tuple, dict] = {}  # (serializer class, UTC?, primary key, version, *also) → the rendered row


@receiver(setting_changed)
def _forget_rendered(**kwargs) -> None:
    _RENDERED.clear()


def _version(queryset) -> RawSQL:
    table = connections[queryset.db].ops.quote_name(queryset.model._meta.db_table)
    return RawSQL(f"{table}.xmin::text || {table}.ctid::text", ())  # noqa: S611 - the model's own table name


@functools.cache
def _keys_of(also: tuple[str, ...], with_the_total: bool):
    """The derivation of a query as primary keys, versions, the values `also` names (and the
    total, for a page): one function per argument, as a prepared query caches its derivations
    by them."""

    def derive(queryset):
        keys = queryset.values("pk", *also)
        if with_the_total:
            keys = with_total(keys)
        return keys.annotate(**{VERSION: _version(queryset)}) if keys is not None else None

    return derive


def _also(serializer_class) -> tuple[str, ...] | None:
    """What besides a row's own columns its rendering depends on (None: not rendered per version)."""
    declared = getattr(serializer_class, "rendered_per_row_version", False)
    if declared is True:
        return ()
    return tuple(declared) if declared else None


def _renders_per_version(queryset, also) -> bool:
    return (
        also is not None
        and isinstance(queryset, QuerySet)
        and connections[queryset.db].vendor == "postgresql"
        and queryset._iterable_class in (ModelIterable, ValuesIterable)
        # (a prepared query's queryset is never sliced, and asking it builds its query)
        and (getattr(queryset, "_prepared", None) is not None or not queryset.query.is_sliced)
    )


def paginate_rendered(queryset, query, serializer_class, *, default_limit: int, max_limit: int):
    """`paginate` and `serializer_class(items, many=True).data` in one: (rendered rows, meta).
    `queryset` returns instances or `values()` rows."""
    also = _also(serializer_class)
    if _renders_per_version(queryset, also):
        params = page_params(query, default_limit=default_limit, max_limit=max_limit)
        paged = page_with_total(queryset, params, derive=_keys_of(also, True))
        if paged is not None:
            keys, total = paged
            meta = {"page": params.page, "limit": params.limit, "total": total}
            return _rendered(queryset, serializer_class, also, keys), meta
    items, meta = paginate(queryset, query, default_limit=default_limit, max_limit=max_limit)
    return serializer_class(items, many=True).data, meta


def render_row(queryset, serializer_class, *, missing):
    """`serializer_class(row).data` of the first row of `queryset` (instances or `values()`
    rows), rendered once per version like a page; `missing()` raises (NotFound) when there is
    no row, or returns what to answer instead."""
    also = _also(serializer_class)
    if not _renders_per_version(queryset, also):
        rows = fetch_rows(queryset, window=slice(0, 1))
        return serializer_class(rows[0]).data if rows else missing()
    keys = fetch_rows(queryset, derive=_keys_of(also, False), window=slice(0, 1))
    rendered = _rendered(queryset, serializer_class, also, keys)
    return rendered[0] if rendered else missing()


def _rendered(queryset, serializer_class, also: tuple[str, ...], keys: list[dict]) -> list[dict]:
    """The rows `keys` names, in their order: as rendered before in their version, or now."""
    utc = utc_active()
    rendered, missing = {}, []
    for row in keys:
        known = _RENDERED.get((serializer_class, utc, row["pk"], row[VERSION], *(row[name] for name in also)))
        if known is None:
            missing.append(row["pk"])
        else:
            rendered[row["pk"]] = known
    if missing:
        rendered.update(_render(queryset, serializer_class, utc, also, missing))
    # A row deleted between the two reads is left out; a row changed between them shows its new version.
    return [rendered[row["pk"]] for row in keys if row["pk"] in rendered]


def _render(queryset, serializer_class, utc: bool, also: tuple[str, ...], keys: list) -> dict:
    chosen = queryset.filter(pk__in=keys)
    if queryset._iterable_class is ValuesIterable:
        rows = list(chosen.annotate(**{KEY: F("pk"), VERSION: _version(queryset)}))
        key_of = operator.itemgetter(KEY, VERSION, *also)
    else:
        rows = list(chosen.annotate(**{VERSION: _version(queryset)}))
        key_of = operator.attrgetter("pk", VERSION, *also)
    rendered = {}
    for row, out in zip(rows, serializer_class(rows, many=True).data, strict=True):
        key, *version = key_of(row)
        _keep((serializer_class, utc, key, *version), out)
        rendered[key] = out
    return rendered


def _keep(key: tuple, out: dict) -> None:
    """Keeps a rendered row, the oldest going first past ROWS_KEPT (safe for threads sharing
    the process: another may have taken the oldest already)."""
    while len(_RENDERED) >= ROWS_KEPT:
        try:
            _RENDERED.pop(next(iter(_RENDERED)), None)
        except (RuntimeError, StopIteration):  # changed meanwhile, or nothing to keep at all
            break
    if ROWS_KEPT > 0:
        _RENDERED[key] = out
