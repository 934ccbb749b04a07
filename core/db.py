"""Database functions the ORM lacks, written once per backend."""

from django.db import IntegrityError, connections, router, transaction
from django.db.models import CharField, Func, IntegerField, Model, QuerySet, Subquery, Value
from django.db.models.constants import OnConflict


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
        # Django stores SQLite datetimes as UTC text.
        return self.as_sql(
            compiler, connection, template="strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', %(expressions)s)",
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
