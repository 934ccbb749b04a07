"""Database functions the ORM lacks, written once per backend."""

from django.db.models import CharField, Func


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
