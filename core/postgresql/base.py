"""Django's PostgreSQL backend, but checking a kept connection without a query.

With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request
and every Celery task, to find connections the server has closed (a restart, an idle
timeout, `pg_terminate_backend`). That is one more round trip on every request that
touches the database: a tenth of a placement's statements. An idle session has nothing to
say, so here the socket is polled instead: nothing waiting means the server has not
closed it, and anything waiting (the server's farewell, the end of the stream, or a
notice) is settled by Django's own `SELECT 1`, as before.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
