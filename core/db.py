"""Database functions the ORM lacks, written once per backend."""

import dataclasses
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

from django.core.exceptions import EmptyResultSet, FullResultSet
from django.core.signals import setting_changed
from django.db import IntegrityError, connections, router, transaction
from django.db.models import CharField, Func, IntegerField, Model, QuerySet, Subquery, Value
from django.db.models.constants import OnConflict
from django.dispatch import receiver


class UtcIsoText(Func):
    """A timestamp as the API's time text, `YYYY-MM-DDTHH:MM:SSZ` in UTC, formatted by the
    database (NULL stays NULL). For bulk exports, where building a `datetime` per row only
    to format it again costs more than the query."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection,
            template="""to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores SQLite datetimes as UTC text. The format's percent signs are doubled
        # in the SQL, as Django's SQLite backend reads them (a lone `%Y` ran, but broke the
        # logging of any query with parameters under DEBUG).
        return self.as_sql(
            compiler, connection, template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%SZ', %(expressions)s)",
            **extra_context,
        )


def count_subquery(queryset: QuerySet) -> Subquery:
    """`SELECT COUNT(1) FROM … WHERE …` of a queryset, as an expression another query can
    carry: one row always (0 when nothing matches), so no NULL to guard against. It may
    refer to an outer query (`OuterRef`), e.g. to count each row's children."""
    return Subquery(
        queryset.order_by().values(n=Func(Value(1), function="COUNT", output_field=IntegerField())),
        output_field=IntegerField(),
    )


def insert_unless_conflict(instance: Model) -> bool:
    """Inserts a new instance in one statement, or nothing when a unique constraint already
    holds its values: `INSERT … ON CONFLICT DO NOTHING RETURNING` (`INSERT OR IGNORE` on
    SQLite). True when inserted (the instance then has its primary key, as after `save()`).

    This is `save()` for rows whose duplicates are expected on the hot path: catching the
    IntegrityError instead needs a savepoint around the INSERT, two more round trips.
    Like a concurrent INSERT, it waits for a transaction holding the same unique values to
    end. No signals are sent (only the fallback for databases without RETURNING saves);
    the models inserted this way have no receivers."""
    using = router.db_for_write(type(instance), instance=instance)
    if not connections[using].features.can_return_columns_from_insert:
        # SQLite before 3.35: no RETURNING, and an ignored row would leave a stale rowid.
        try:
            with transaction.atomic(using=using):
                instance.save(force_insert=True, using=using)
        except IntegrityError:
            return False
        return True
    meta = instance._meta
    fields = [f for f in meta.local_concrete_fields if not f.generated]
    if instance.pk is None:
        fields = [f for f in fields if f is not meta.auto_field]
    returning = meta.db_returning_fields
    rows = type(instance)._base_manager._insert(
        [instance], fields=fields, returning_fields=returning, using=using, on_conflict=OnConflict.IGNORE,
    )
    if not rows or rows[0] is None:
        return False
    for value, field in zip(rows[0], returning, strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = using
    return True


# --- prepared queries -----------------------------------------------------------------------------
#
# Building a queryset (clone, resolve, filter) and compiling it to SQL costs Django 0.3-1 ms of
# Python per query, more than PostgreSQL takes to run a small one. A `PreparedQuery` builds and
# compiles its query once per *shape* and replays the SQL with each call's values.


class PreparedQuery:
    """A queryset built once per shape, compiled once, and run again with each call's values.

    `build(**values)` must be a pure function of its values that uses each one only as a
    value the query compares with (`filter(public_id=public_id)`); it may branch on whether
    a value is None, True/False or empty, never on the value itself. Calling the prepared
    query returns the queryset `build` would return, lazily: evaluated as it is (iterated,
    `list()`, `len()`, or a page in `prepared_rows`), it runs the cached SQL, and so does its
    `values(*names)` (a prepared query of its own); anything else done with it (`filter`,
    slicing, `count`, `.query`) builds it from the values first and goes Django's usual
    way. So it is never wrong, only sometimes not faster.

    A call's *shape* is its value names with each value's kind: a non-empty int or str (a
    model's choice counts as its value), a UUID or a datetime with its time zone is a
    parameter; None, a bool, 0 or "" is part of the shape itself; any other value takes the
    usual way. The first call of a shape builds the query twice, with two sets of stand-in
    values, and keeps it only when the two compile to the same SQL with every stand-in among
    the parameters as Django prepares it (as given, or a UUID's hex); otherwise (a value
    inlined into the SQL or transformed, a clock read, a filter that matches nothing) the
    shape takes the usual way for good. A settings change forgets every compiled shape.

    On PostgreSQL its statements are also prepared on the server (`ServerPreparedSQL`): each
    connection parses and plans one once, then runs it with each call's values. Pass
    `prepare_on_server=False` for a query whose best plan depends on the values (a date range
    over a year of rollups), so PostgreSQL plans it afresh every time.
    """

    def __init__(self, build, *, prepare_on_server: bool = True):
        self.build = build
        self.prepare_on_server = prepare_on_server
        self._shapes: dict = {}  # (shape, derive, window?) → _Compiled, or None: not preparable
        self._values_of: dict[tuple, PreparedQuery] = {}
        _PREPARED.add(self)

    def __call__(self, **values):
        for name, value in values.items():
            if isinstance(value, Enum) and isinstance(value, (str, int)):
                values[name] = value.value  # a model's choice (`Pool.PUBLIC`): the text or number it stands for
        shape = _shape(values)
        compiled = self._compiled(shape, None, False) if shape is not None else None
        if compiled is None:
            return self.build(**values)
        return compiled.queryset(self, values, shape)

    def forget(self) -> None:
        self._shapes.clear()

    def values_of(self, fields: tuple) -> "PreparedQuery":
        """The prepared query of `build(...).values(*fields)`: a prepared queryset's
        `.values(*fields)` stays prepared."""
        derived = self._values_of.get(fields)
        if derived is None:
            build = self.build
            derived = self._values_of[fields] = PreparedQuery(
                lambda **values: build(**values).values(*fields), prepare_on_server=self.prepare_on_server
            )
        return derived

    def __deepcopy__(self, memo):
        return self  # shared, like the function it wraps

    def _compiled(self, shape: tuple, derive, windowed: bool):
        key = (shape, derive, windowed)
        try:
            compiled = self._shapes[key]
        except KeyError:
            compiled = self._shapes[key] = _compile(self.build, shape, derive, windowed, self.prepare_on_server)
        if compiled is not None and compiled.vendor != connections[compiled.using].vendor:
            compiled = self._shapes[key] = _compile(self.build, shape, derive, windowed, self.prepare_on_server)
        return compiled


def prepared_rows(queryset, *, derive=None, window: slice | None = None) -> list | None:
    """The rows of `derive(queryset)[window]` from a prepared query's cached SQL, or None when
    `queryset` is not an untouched prepared one or that shape cannot be prepared (then take
    the usual way). `derive` is a module-level function of a queryset returning a queryset
    (or None: not preparable); `window` a slice with a start and a stop."""
    prepared = getattr(queryset, "_prepared", None)
    if prepared is None or queryset._result_cache is not None:
        return None
    query, values, shape = prepared
    compiled = query._compiled(shape, derive, window is not None)
    if compiled is None:
        return None
    return compiled.rows(values, window)


def fetch_rows(queryset, *, derive=None, window: slice | None = None) -> list:
    """The rows of `derive(queryset)[window]`: from a prepared query's compiled SQL when it
    has them (`prepared_rows`), else built and run Django's usual way."""
    rows = prepared_rows(queryset, derive=derive, window=window)
    if rows is None:
        derived = queryset if derive is None else derive(queryset)
        rows = list(derived if window is None else derived[window])
    return rows


class ServerPreparedSQL(str):
    """SQL the database connection prepares on the server (core.postgresql): a statement the
    portal runs again and again with other values, so PostgreSQL parses and plans it once per
    connection instead of every time."""


_PREPARED = weakref.WeakSet()


@receiver(setting_changed)
def _forget_prepared(**kwargs) -> None:
    for query in list(_PREPARED):
        query.forget()


_LITERALS = (type(None), bool)
_AWARE = "aware datetime"  # the kind of a datetime with its time zone (a naive one takes the usual way)
_BASE = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
# Two sets of stand-ins: a value's kind → its stand-in in the set, by the value's position.
_STAND_INS = (
    {int: lambda i: 1_900_000_001 + i, str: lambda i: f"prepared-stand-in-a-{i}",
     uuid.UUID: lambda i: uuid.UUID(int=0xA1A1_0000_0000_0000 + i),
     _AWARE: lambda i: _BASE + timedelta(seconds=i)},
    {int: lambda i: 1_800_000_001 + i, str: lambda i: f"prepared-stand-in-b-{i}",
     uuid.UUID: lambda i: uuid.UUID(int=0xB2B2_0000_0000_0000 + i),
     _AWARE: lambda i: _BASE + timedelta(days=400, seconds=i)},
)
# How a database may receive a value of each kind, as Django prepares it: a UUID as hex text
# where the database has no UUID type. (A datetime that SQLite receives as text, converted to
# the connection's zone, matches none of them there: on SQLite such a shape takes the usual way.)
_TRANSFORMS = {int: ("as-is",), str: ("as-is",), uuid.UUID: ("as-is", "hex"), _AWARE: ("as-is",)}
_WINDOW_STAND_INS = ((1_000_003, 1_000_003 + 1_009), (2_000_003, 2_000_003 + 2_011))


def _kind(value):
    """The kind of a value a shape may hold as a parameter, or None."""
    kind = type(value)
    if kind is datetime:
        return _AWARE if value.tzinfo is not None and value.utcoffset() is not None else None
    return kind if kind in _TRANSFORMS else None


def _shape(values: dict) -> tuple | None:
    shape = []
    for name in sorted(values):
        value = values[name]
        kind = type(value)
        if kind in _LITERALS or (kind in (int, str) and not value):
            shape.append((name, None, (kind, value)))  # the kind too: 0 == False, yet they are not alike
        elif (kind := _kind(value)) is not None:
            shape.append((name, kind, None))
        else:
            return None
    return tuple(shape)


def _transform(how: str, value):
    return value.hex if how == "hex" else value


@dataclass
class _Compiled:
    prepared_class: type
    queryset_state: dict
    using: str
    vendor: str
    query: object  # the compiled Query
    compiler_state: dict
    sql: str  # without the window's LIMIT/OFFSET
    params: tuple
    slots: tuple  # (position in params, value name, transform)
    sql_class: type  # ServerPreparedSQL, or str where the database plans each run
    # Per connection that ran it, what its compiler works out of its columns (_remember_per_columns).
    converters: weakref.WeakKeyDictionary = dataclasses.field(default_factory=weakref.WeakKeyDictionary)

    def queryset(self, prepared: PreparedQuery, values: dict, shape: tuple):
        qs = self.prepared_class.__new__(self.prepared_class)
        qs.__dict__.update(self.queryset_state)
        qs._prepared = (prepared, values, shape)
        return qs

    def rows(self, values: dict, window: slice | None = None) -> list:
        params = list(self.params)
        for position, name, how in self.slots:
            params[position] = _transform(how, values[name])
        sql = self.sql
        if window is not None:
            limits = connections[self.using].ops.limit_offset_sql(window.start, window.stop)
            if limits:
                sql = f"{sql} {limits}"
        sql = self.sql_class(sql)
        runner = _RUNNER.__new__(_RUNNER)
        runner.__dict__.update(self.queryset_state)
        runner._query = _CompiledQuery(self, sql, tuple(params))
        return list(runner._iterable_class(runner))


class _CompiledQuery:
    """What a QuerySet's iterable asks of its query, answered with SQL compiled before."""

    def __init__(self, compiled: _Compiled, sql: str, params: tuple):
        self._compiled, self._sql, self._params = compiled, sql, params

    def __getattr__(self, name):
        return getattr(self._compiled.query, name)

    def get_compiler(self, using=None, connection=None, elide_empty=True):
        compiled = self._compiled
        compiler = compiled.query.get_compiler(using=using, connection=connection, elide_empty=elide_empty)
        compiler.__dict__.update(compiled.compiler_state)
        sql, params = self._sql, self._params
        compiler.as_sql = lambda *args, **kwargs: (sql, params)
        _remember_per_columns(compiled.converters, compiler)
        return compiler


def _remember_per_columns(remembered: weakref.WeakKeyDictionary, compiler) -> None:
    """`compiler.get_converters` and `has_composite_fields`, worked out once per connection
    and selected columns: Django asks every column of the select on every run (20 µs for a
    page of sub-users' 30 columns), and the answers never change for a compiled query."""
    connection = compiler.connection
    known = remembered.get(connection)
    if known is None:
        known = remembered[connection] = {}

    def remembering(work_out, kind: str):
        def answer(expressions):
            key = (kind, *map(id, expressions))
            try:
                return known[key][0]
            except KeyError:
                value = work_out(expressions)
                known[key] = (value, tuple(expressions))  # kept alive: their ids stay theirs
                return value

        return answer

    compiler.get_converters = remembering(compiler.get_converters, "converters")
    compiler.has_composite_fields = remembering(compiler.has_composite_fields, "composite")


class _RUNNER(QuerySet):
    """A throwaway queryset that only evaluates a `_CompiledQuery`."""


class _PreparedQuerySetMixin:
    _prepared = None  # (PreparedQuery, values, shape) until anything but evaluation

    @property
    def query(self):
        if self._prepared is not None:
            prepared, values, _shape = self._prepared
            self._prepared = None
            self._query = prepared.build(**values).query
        return QuerySet.query.fget(self)

    @query.setter
    def query(self, value):
        self._prepared = None
        QuerySet.query.fset(self, value)

    def values(self, *fields, **expressions):
        if self._prepared is not None and not expressions and self._result_cache is None:
            prepared, values, _shape = self._prepared
            return prepared.values_of(fields)(**values)
        return super().values(*fields, **expressions)

    def _fetch_all(self):
        if self._result_cache is None and self._prepared is not None:
            rows = prepared_rows(self)
            if rows is not None:
                self._result_cache = rows
        super()._fetch_all()

    def __getstate__(self):
        self.query  # noqa: B018 - built from the values: a pickled queryset carries its Query
        return super().__getstate__()

    def __reduce_ex__(self, protocol):
        # Pickled as the builder's own class (this one is made at run time).
        return _restore_queryset, (type(self).__mro__[2], self.__getstate__())


def _restore_queryset(cls: type, state: dict):
    queryset = cls.__new__(cls)
    queryset.__setstate__(state)
    return queryset


_PREPARED_CLASSES: dict[type, type] = {}


def _prepared_class(cls: type) -> type:
    prepared = _PREPARED_CLASSES.get(cls)
    if prepared is None:
        prepared = _PREPARED_CLASSES[cls] = type(f"Prepared{cls.__name__}", (_PreparedQuerySetMixin, cls), {})
    return prepared


_OWN_COMPILER_STATE = {"query", "connection", "using", "elide_empty"}


def _compile(build, shape: tuple, derive, windowed: bool, prepare_on_server: bool) -> _Compiled | None:
    """The query of a shape, compiled, or None when it cannot be prepared."""
    builds = []
    for stand_ins in _STAND_INS:
        args = {}
        for i, (name, kind, literal) in enumerate(shape):
            args[name] = stand_ins[kind](i) if kind is not None else literal[1]
        builds.append(args)
    try:
        compiled = [_compile_one(build, args, derive, marks if windowed else None)
                    for args, marks in zip(builds, _WINDOW_STAND_INS, strict=True)]
    except Exception:  # noqa: BLE001 - a stand-in the builder refuses: the usual way will say why
        return None
    if None in compiled:
        return None
    (args_a, base, queryset, compiler, sql, params, using), (args_b, _, _, _, sql_b, params_b, using_b) = compiled
    if sql != sql_b or using != using_b or len(params) != len(params_b):
        return None
    slots = []
    for position, (a, b) in enumerate(zip(params, params_b, strict=True)):
        if type(a) is type(b) and a == b:
            continue
        slot = next(
            ((position, name, how) for name, kind, _ in shape if kind is not None for how in _TRANSFORMS[kind]
             if _same(_transform(how, args_a[name]), a) and _same(_transform(how, args_b[name]), b)),
            None,
        )
        if slot is None:
            return None
        slots.append(slot)
    state = {k: v for k, v in compiler.__dict__.items() if k not in _OWN_COMPILER_STATE}
    queryset_state = dict(base.__dict__ if derive is None and not windowed else queryset.__dict__)
    queryset_state.update(_result_cache=None, _prefetch_done=False, _query=None)
    return _Compiled(
        prepared_class=_prepared_class(type(base)), queryset_state=queryset_state, using=using,
        vendor=connections[using].vendor, query=queryset.query, compiler_state=state, sql=sql,
        params=params, slots=tuple(slots),
        sql_class=ServerPreparedSQL if prepare_on_server and connections[using].vendor == "postgresql" else str,
    )


def _compile_one(build, args: dict, derive, marks: tuple | None) -> tuple | None:
    """(args, built queryset, final queryset, its compiler, SQL without the window, params, alias)."""
    queryset = build(**args)
    if not isinstance(queryset, QuerySet) or queryset._result_cache is not None:
        return None
    base = queryset
    if derive is not None:
        queryset = derive(queryset)
        if queryset is None:
            return None
    if marks is not None:
        queryset = queryset[marks[0]:marks[1]]
    using = queryset.db
    compiler = queryset.query.get_compiler(using=using)
    try:
        sql, params = compiler.as_sql()
    except (EmptyResultSet, FullResultSet):
        return None
    if marks is not None:
        suffix = " " + connections[using].ops.limit_offset_sql(*marks)
        if not sql.endswith(suffix):
            return None
        sql = sql[: -len(suffix)]
    return args, base, queryset, compiler, sql, tuple(params), using


def _same(expected, actual) -> bool:
    return type(expected) is type(actual) and expected == actual
