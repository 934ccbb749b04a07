"""The kept PostgreSQL connection's health check (core.postgresql): a connection the server
closed is replaced before it fails a request; a healthy one is reused without a query."""

import time

import psycopg
import pytest
from django.conf import settings
from django.db import close_old_connections, connection

from accounts.models import User

pytestmark = [
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL)"),
    pytest.mark.django_db(transaction=True),
]


def _admin_connection() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"], host=s["HOST"],
                           port=s["PORT"] or None, autocommit=True)


def _last_query(admin, pid: int) -> str:
    return admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


def test_a_connection_the_server_closed_is_replaced_before_the_next_query():
    User.objects.count()
    old_pid = connection.connection.info.backend_pid
    with _admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [old_pid])
        for _ in range(100):  # the backend is gone once pg_stat_activity no longer lists it
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [old_pid]).fetchone()[0] == 0:
                break
            time.sleep(0.05)
    close_old_connections()  # what Django does when the next request starts
    assert User.objects.count() >= 0  # no OperationalError: a new session answered
    assert connection.connection.info.backend_pid != old_pid


def test_a_healthy_kept_connection_is_reused_without_a_query():
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last query before the check'")
    pid = connection.connection.info.backend_pid
    close_old_connections()
    assert connection.is_usable()
    connection.close_if_health_check_failed()
    assert connection.connection is not None and connection.connection.info.backend_pid == pid
    with _admin_connection() as admin:
        assert _last_query(admin, pid) == "SELECT 'the last query before the check'"
