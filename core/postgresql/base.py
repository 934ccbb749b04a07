"""Django's PostgreSQL backend, but checking a kept connection without a query, and reading
timestamps with psycopg's C loader.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request
and every Celery task, to find connections the server has closed (a restart, an idle
timeout, `pg_terminate_backend`). That is one more round trip on every request that
touches the database: a tenth of a placement's statements. An idle session has nothing to
say, so here the socket is polled instead: nothing waiting means the server has not
closed it, and anything waiting (the server's farewell, the end of the stream, or a
notice) is settled by Django's own `SELECT 1`, as before.

Django reads every `timestamptz` through a loader of its own, a Python subclass of
psycopg's, to give each value the connection's time zone: about 4 µs a value, the largest
share of a list page's row reading (a page of 50 sub-users holds 100 timestamps). When
that zone is UTC and so is the session's, psycopg's C loader already gives the same values
with the same `tzinfo`, in a tenth of the time: such connections read through it.

With server-side binding (the default, core.env), the statements of the API's prepared reads
(`core.db.ServerPreparedSQL`, from `core.db.PreparedQuery`) are prepared on the server: each
connection parses and plans one once, then only runs it, about half of what PostgreSQL spends
on a small read. No other statement is prepared, unless `prepare_threshold` asks psycopg to
prepare whatever a connection repeats.
"""

import datetime
import select
import sys

from django.db.backends.postgresql import base, operations
from psycopg import adapters, pq
from psycopg.postgres import types

from core.db import ServerPreparedSQL

_TIMESTAMPTZ = types["timestamptz"].oid
_PSYCOPG_LOADER = adapters.get_loader(_TIMESTAMPTZ, pq.Format.TEXT)  # C when psycopg[binary]


class UtcTimestamptzLoader:
    """psycopg's own `timestamptz` loader (its C one when installed) for a UTC session.
    `timezone` is what Django's cursors compare with the connection's before registering a
    loader of their own; `load` is the psycopg loader's, so no Python runs per value."""

    timezone = datetime.UTC
    format = pq.Format.TEXT

    def __init__(self, oid: int, context=None):
        self.load = _PSYCOPG_LOADER(oid, context).load


class PreparingCursor(base.ServerBindingCursor):
    """Django's server-binding cursor, preparing the statements marked `ServerPreparedSQL`.
    Any other statement runs unprepared, even when the same text was prepared for a marked
    run (a statistics query over a month is; the same query over a year is planned for its
    range), unless `prepare_threshold` asked psycopg to prepare what repeats."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        if prepare is None:
            if type(query) is ServerPreparedSQL:
                prepare = True
            elif self.connection.prepare_threshold == NEVER:
                prepare = False
        return super().execute(query, params, prepare=prepare, binary=binary)


# psycopg prepares a statement when asked to (`prepare=True`) only if its connection has a
# threshold; one no connection reaches keeps it from preparing anything else.
NEVER = sys.maxsize


# The protocol's limit of parameters a statement (a 16-bit count). With parameters bound on
# the server a statement may not carry more; quoted into the SQL by the client, it may.
MAX_BOUND_PARAMETERS = 65_535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        """Rows a `bulk_update`, deletion or `bulk_create` batch may hold: as many as fit in
        one statement's parameters when they are bound on the server (a bulk update of 25,000
        rows, three parameters each, is two statements, not one the server refuses). Django's
        `bulk_create` of plain columns sends one array a column and is not limited by it."""
        size = super().bulk_batch_size(fields, objs)
        if self.connection.settings_dict["OPTIONS"].get("server_side_binding") is True and fields:
            size = min(size, max(1, MAX_BOUND_PARAMETERS // len(fields)))
        return size


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self):
        params = super().get_connection_params()
        if params.get("cursor_factory") is base.ServerBindingCursor:
            params["cursor_factory"] = PreparingCursor
            if params.get("prepare_threshold") is None:
                params["prepare_threshold"] = NEVER
        return params

    def init_connection_state(self):
        super().init_connection_state()  # sets the session's time zone to the connection's
        if self.timezone is datetime.UTC and self.connection.info.parameter_status("TimeZone") == "UTC":
            self.connection.adapters.register_loader(_TIMESTAMPTZ, UtcTimestamptzLoader)

    def is_usable(self) -> bool:
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.pgconn.transaction_status == pq.TransactionStatus.IDLE:
            poller = select.poll()  # not select(): descriptors past 1024 are fine
            poller.register(conn.fileno(), select.POLLIN)
            if not poller.poll(0):
                return True
        return super().is_usable()
