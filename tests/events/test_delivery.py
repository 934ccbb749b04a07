"""Delivery to a real receiver on 127.0.0.1: the signature, retries and their order, the outbox
(nothing sent for a rolled-back change, nothing lost when the worker never ran), auto-disable."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from events import services
from events.models import Delivery, Dispatch, DispatchState, Endpoint, Event
from events.services import dispatches_redrive, event_emit, next_delay_s

pytestmark = pytest.mark.django_db

DATA = {"id": "ord_x", "status": "active"}


def test_an_event_arrives_signed_with_the_endpoints_secret(account, hook, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = event_emit(account=account, type="order.activated", data=DATA)
    (call,) = receiver.calls
    assert call["verified"] is True
    assert call["headers"]["Content-Type"] == "application/json"
    assert call["json"] == {"id": event.public_id, "type": "order.activated",
                            "created_at": call["json"]["created_at"], "data": DATA}
    assert call["json"]["created_at"].endswith("Z")
    receiver.secret = "whsec_" + "0" * 32  # another secret does not verify it
    from tests.events.conftest import verify_signature

    assert not verify_signature(call["headers"]["X-Webhook-Signature"], call["body"], receiver.secret)
    assert Dispatch.objects.get().state == DispatchState.DELIVERED


def test_only_subscribed_enabled_endpoints_of_the_account_get_it(account, outsider_account, receiver, webhook_settings):
    services.endpoint_create(account=account, url=receiver.url, events=["job.completed"])
    services.endpoint_create(account=outsider_account, url=receiver.url, events=["order.activated"])
    off = services.endpoint_create(account=account, url=receiver.url, events=["order.activated"])
    services.endpoint_update(account=account, public_id=off.public_id, enabled=False)
    assert event_emit(account=account, type="order.activated", data=DATA) is None
    assert not Event.objects.exists() and receiver.calls == []


def test_a_rolled_back_change_sends_nothing(account, hook, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            event_emit(account=account, type="order.activated", data=DATA)
            raise RuntimeError("the change failed")
    assert not Event.objects.exists() and not Dispatch.objects.exists()
    assert receiver.calls == []


def test_a_failing_receiver_is_retried_until_it_answers(account, hook, receiver, settings,
                                                         django_capture_on_commit_callbacks):
    settings.WEBHOOKS_RETRY_DELAYS_S = (0, 0, 0)
    receiver.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        event = event_emit(account=account, type="order.activated", data=DATA)
    assert [c["status"] for c in receiver.calls] == [500, 503, 200]
    assert {c["json"]["id"] for c in receiver.calls} == {event.public_id}
    assert all(c["verified"] for c in receiver.calls)
    rows = list(Delivery.objects.order_by("created_at", "id").values_list("attempt", "status_code", "error"))
    assert rows == [(1, 500, "HTTP 500"), (2, 503, "HTTP 503"), (3, 200, "")]
    assert Endpoint.objects.get(pk=hook.pk).failing_since is None  # a success clears it


def test_a_retry_waits_for_its_turn_on_the_schedule(account, hook, receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    dispatch = Dispatch.objects.get()
    assert (dispatch.state, dispatch.attempts) == (DispatchState.PENDING, 1)
    wait = dispatch.next_attempt_at - timezone.now()
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)  # attempt 2 one minute later
    assert dispatches_redrive() == 0 and len(receiver.calls) == 1  # not due: the sweep leaves it
    assert dispatches_redrive(now=timezone.now() + timedelta(seconds=61)) == 1


def test_the_schedule(settings):
    assert [next_delay_s(n) for n in range(1, 9)] == [60, 300, 1800, 7200, 21600, 43200, 43200, 43200]


def test_it_gives_up_after_the_window(account, hook, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOKS_RETRY_DELAYS_S = (0,)
    settings.WEBHOOKS_RETRY_WINDOW_S = 0
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    assert Dispatch.objects.get().state == DispatchState.GAVE_UP
    assert len(receiver.calls) == 1


def test_the_outbox_survives_a_worker_that_never_ran(account, hook, receiver, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    """The event committed, but its delivery task was lost (worker killed, broker down)."""
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: None)
    with django_capture_on_commit_callbacks(execute=True):
        event = event_emit(account=account, type="deposit.credited", data=DATA)
    assert receiver.calls == [] and Dispatch.objects.get().state == DispatchState.PENDING
    monkeypatch.undo()
    assert dispatches_redrive() == 1
    assert [c["json"]["id"] for c in receiver.calls] == [event.public_id]
    assert Dispatch.objects.get().state == DispatchState.DELIVERED


def test_a_worker_killed_mid_delivery_leaves_it_to_the_sweep_once_its_claim_runs_out(
        account, hook, receiver, monkeypatch, settings, django_capture_on_commit_callbacks):
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: None)
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    claimed = services._claim(Dispatch.objects.get().pk)  # the worker took it, then died
    assert claimed is not None and services._claim(claimed.pk) is None  # nobody else takes it meanwhile
    monkeypatch.undo()
    assert dispatches_redrive() == 0
    assert dispatches_redrive(now=timezone.now() + timedelta(seconds=settings.WEBHOOKS_CLAIM_S + 1)) == 1
    Dispatch.objects.update(next_attempt_at=timezone.now())
    dispatches_redrive()
    assert len(receiver.calls) == 1 and Delivery.objects.get().attempt == 2


def test_a_timeout_is_a_failure(account, receiver, settings, django_capture_on_commit_callbacks):
    import socket

    settings.WEBHOOKS_TIMEOUT_S = 0.3
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        services.endpoint_create(account=account, url=f"http://127.0.0.1:{silent.getsockname()[1]}/",
                                 events=["order.activated"])
        with django_capture_on_commit_callbacks(execute=True):
            event_emit(account=account, type="order.activated", data=DATA)
    finally:
        silent.close()
    row = Delivery.objects.get()
    assert row.status_code is None and row.error == "Timed out after 0.3 s"


def test_the_guard_refuses_at_delivery_time_too(account, hook, receiver, settings, django_capture_on_commit_callbacks):
    settings.WEBHOOKS_ALLOW_PRIVATE = False  # the endpoint was added while private hosts were allowed
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    assert receiver.calls == []
    assert Delivery.objects.get().error.startswith("Refused by the address guard: loopback address")


def test_an_endpoint_failing_for_three_days_is_disabled_and_owners_emailed(
        account, owner, member, hook, receiver, django_capture_on_commit_callbacks):
    Endpoint.objects.filter(pk=hook.pk).update(failing_since=timezone.now() - timedelta(days=3, minutes=1))
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    hook.refresh_from_db()
    assert hook.enabled is False and hook.disabled_reason.startswith("Disabled after failing")
    (message,) = mail.outbox
    assert message.to == [owner.email] and hook.public_id in message.subject and hook.secret not in message.body
    assert event_emit(account=account, type="order.activated", data=DATA) is None  # no longer subscribed
    services.endpoint_update(account=account, public_id=hook.public_id, enabled=True)
    hook.refresh_from_db()
    assert (hook.enabled, hook.failing_since, hook.disabled_reason) == (True, None, "")


def test_a_younger_failure_does_not_disable(account, hook, receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        event_emit(account=account, type="order.activated", data=DATA)
    hook.refresh_from_db()
    assert hook.enabled is True and hook.failing_since is not None and mail.outbox == []


def test_resend_delivers_the_event_again(account, hook, receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = event_emit(account=account, type="order.activated", data=DATA)
    first = Delivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_resend(account=account, endpoint_id=hook.public_id, delivery_id=first.public_id)
    assert [c["json"]["id"] for c in receiver.calls] == [event.public_id, event.public_id]
    assert sorted(Delivery.objects.values_list("attempt", flat=True)) == [1, 2]


def test_old_events_are_purged_unless_still_owed(account, hook, receiver, monkeypatch, settings,
                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivered = event_emit(account=account, type="order.activated", data=DATA)
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: None)
    owed = event_emit(account=account, type="order.failed", data=DATA)  # not delivered yet
    later = timezone.now() + timedelta(days=settings.WEBHOOKS_KEEP_DAYS, minutes=1)
    assert services.events_purge_old(now=later) == 1
    assert list(Event.objects.values_list("public_id", flat=True)) == [owed.public_id]
    assert not Delivery.objects.filter(event__public_id=delivered.public_id).exists()
    assert services.events_purge_old() == 0  # nothing old yet
