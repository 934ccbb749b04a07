"""GET /healthz: database and broker reachability for load balancers."""

import json

from django.db import connection
from django.test import Client


def test_healthz_reports_database_and_broker(db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert json.loads(response.content) == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_needs_no_login_and_no_key(db):
    response = Client().get("/healthz", headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 200


def test_healthz_is_503_when_the_database_is_down(db, monkeypatch):
    def broken_cursor(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:  # fault injection: the database refuses connections
        patch.setattr(connection, "cursor", broken_cursor)
        response = Client().get("/healthz")
    assert response.status_code == 503
    body = json.loads(response.content)
    assert body["status"] == "degraded" and body["database"] == "error: OperationalError"
    assert body["broker"] == "ok"


def test_healthz_is_503_when_the_broker_is_unreachable(db, settings):
    from portal.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        app._pool = None
        response = Client().get("/healthz")
    finally:
        app.conf.broker_url = old
        app._pool = None
    assert response.status_code == 503
    assert json.loads(response.content)["broker"].startswith("error")


def test_healthz_refuses_post(db):
    assert Client().post("/healthz").status_code == 405
