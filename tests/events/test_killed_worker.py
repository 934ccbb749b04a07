"""A real Celery worker is killed (SIGKILL) while it delivers an event; once its claim runs out,
the beat's sweep hands the event to a new worker, which delivers it. Nothing is lost.

Separate `celery worker` processes (prefork, as deployed) on the test database and the Redis
broker, and a real receiver on 127.0.0.1 that holds the first request open.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest
from django.conf import settings
from django.db import connection

from events.models import Delivery, Dispatch, DispatchState
from events.services import dispatches_redrive, endpoint_create, event_emit
from portal.celery import app as celery_app
from tests.conftest import stop_processes
from tests.events.conftest import Receiver

ROOT = Path(__file__).resolve().parents[2]
CLAIM_S = 3

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL (the broker)"),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="needs PostgreSQL (the worker shares the test database)"),
]


def _start_worker() -> subprocess.Popen:
    url = urlparse(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunparse(url._replace(path="/" + connection.settings_dict["NAME"])),
        "REDIS_URL": settings.REDIS_URL, "PORTAL_ALLOW_DEMO_SECRETS": "1", "DEBUG": "0",
        "WEBHOOKS_ALLOW_HTTP": "1", "WEBHOOKS_ALLOW_PRIVATE": "1", "WEBHOOKS_CLAIM_S": str(CLAIM_S),
        "WEBHOOKS_TIMEOUT_S": "30",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "prefork", "--concurrency", "1",
         "--loglevel", "WARNING", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.django_db(transaction=True)
def test_an_event_whose_worker_was_killed_is_delivered_by_the_next(account, settings):
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_CLAIM_S = CLAIM_S
    celery_app.conf.task_always_eager = False
    celery_app.control.purge()
    receiver = Receiver()
    release = threading.Event()
    handler = receiver.server.RequestHandlerClass
    original = handler.do_POST

    def hold_the_first(self):
        if not receiver.calls and not release.is_set():
            release.set()
            time.sleep(20)  # the worker is killed meanwhile; this answer reaches nobody
            return
        original(self)

    handler.do_POST = hold_the_first
    workers = []
    try:
        endpoint = endpoint_create(account=account, url=receiver.url, events=["order.activated"])
        receiver.secret = endpoint.secret
        workers.append(_start_worker())
        event = event_emit(account=account, type="order.activated", data={"id": "ord_killed"})
        _wait(release.is_set, 60, "the first worker calls the receiver")
        os.killpg(workers[0].pid, signal.SIGKILL)  # the worker and its pool child, mid-request
        workers[0].wait(timeout=10)
        dispatch = Dispatch.objects.get(event=event)
        assert (dispatch.state, dispatch.attempts, Delivery.objects.count()) == (DispatchState.PENDING, 1, 0)

        assert dispatches_redrive() == 0  # still claimed by the dead worker
        workers.append(_start_worker())
        time.sleep(CLAIM_S + 0.5)
        assert dispatches_redrive() == 1  # what the beat does every minute
        _wait(lambda: Dispatch.objects.get(event=event).state == DispatchState.DELIVERED, 60,
              "the second worker delivers it")
        (call,) = receiver.calls
        assert call["verified"] and call["json"]["id"] == event.public_id
        assert list(Delivery.objects.values_list("attempt", "status_code")) == [(2, 200)]
    finally:
        stop_processes(workers, timeout=20)
        receiver.close()
