"""Endpoints (create, update, delete), emitting events into the outbox, and delivering them.

`event_emit` is what the other apps call, inside the transaction of the change it reports: the
event and its to-do rows commit with the change or not at all, and the worker is told only once
they have committed. A worker that dies mid-way leaves a pending row the beat's sweep picks up.
"""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Membership, Role
from accounts.services import account_lock
from branding.services import mail_send
from core.errors import Conflict, DomainValidationError, NotFound
from core.ids import random_base62
from core.metrics import webhook_deliveries
from core.netguard import check_address

from .models import SUBSCRIBABLE, Delivery, Dispatch, DispatchState, Endpoint, Event, EventType

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
URL_MAX = 2000


def new_secret() -> str:
    return SECRET_PREFIX + random_base62(32)


# --- endpoints ---------------------------------------------------------------------------------


def endpoint_url_validate(url) -> str:
    """The URL, stripped, if events may be sent to it; else DomainValidationError on `url`."""
    if not isinstance(url, str) or not url.strip():
        raise DomainValidationError({"url": "Enter the URL events are sent to."})
    url = url.strip()
    if len(url) > URL_MAX:
        raise DomainValidationError({"url": f"The URL is longer than {URL_MAX} characters."})
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DomainValidationError({"url": "This is not a valid URL."}) from None
    allowed = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP else ("https",)
    if parts.scheme.lower() not in allowed:
        raise DomainValidationError({"url": f"The URL must start with {' or '.join(s + '://' for s in allowed)}."})
    if not parts.hostname or any(c.isspace() for c in url):
        raise DomainValidationError({"url": "This is not a valid URL."})
    if parts.username or parts.password:
        raise DomainValidationError({"url": "The URL must not carry a user name or password."})
    if port == 0:
        raise DomainValidationError({"url": "The URL's port is not valid."})
    verdict = check_address(parts.hostname, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
    if not verdict.allowed:
        raise DomainValidationError({"url": f"Events cannot be sent to this host: {verdict.detail or verdict.reason}."})
    return url


def _validated_events(events) -> list[str]:
    if not isinstance(events, list) or not events:
        raise DomainValidationError({"events": "Choose at least one event type."})
    if not all(isinstance(e, str) for e in events):
        raise DomainValidationError({"events": "Event types are strings."})
    unknown = sorted({e for e in events if e not in SUBSCRIBABLE})
    if unknown:
        raise DomainValidationError(
            {"events": f"Unknown event type(s): {', '.join(unknown)[:200]}. Known: {', '.join(SUBSCRIBABLE)}."}
        )
    return sorted(set(events), key=SUBSCRIBABLE.index)


def endpoint_create(*, account: Account, url, events, enabled: bool = True) -> Endpoint:
    """At most `WEBHOOKS_MAX_ENDPOINTS` per account; the account row lock keeps two concurrent
    creations from both passing the count."""
    url, events = endpoint_url_validate(url), _validated_events(events)
    with transaction.atomic():
        account_lock(account.pk)
        limit = settings.WEBHOOKS_MAX_ENDPOINTS
        if Endpoint.objects.for_account(account).count() >= limit:
            raise Conflict(f"An account can have at most {limit} webhook endpoints; delete one first.")
        return Endpoint.objects.create(account=account, url=url, events=events, enabled=bool(enabled),
                                       secret=new_secret())


def endpoint_get(*, account: Account, public_id: str) -> Endpoint:
    endpoint = Endpoint.objects.for_account(account).filter(public_id=public_id).first()
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


def endpoint_update(*, account: Account, public_id: str, url=None, events=None, enabled=None) -> Endpoint:
    """Changes what is given. Enabling an endpoint again forgets its past failures."""
    endpoint = endpoint_get(account=account, public_id=public_id)
    fields = []
    if url is not None:
        endpoint.url = endpoint_url_validate(url)
        fields.append("url")
    if events is not None:
        endpoint.events = _validated_events(events)
        fields.append("events")
    if enabled is not None:
        if enabled and not endpoint.enabled:
            endpoint.failing_since, endpoint.disabled_reason = None, ""
            fields += ["failing_since", "disabled_reason"]
        endpoint.enabled = bool(enabled)
        fields.append("enabled")
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


def endpoint_delete(*, account: Account, public_id: str) -> None:
    endpoint_get(account=account, public_id=public_id).delete()


# --- emitting ------------------------------------------------------------------------------------


def event_emit(*, account: Account | int, type: str, data: dict) -> Event | None:  # noqa: A002
    """Writes the event for every enabled endpoint of the account subscribed to `type`, in the
    caller's transaction, and schedules its delivery once that commits. Nothing is written
    when no endpoint wants it. `data` is the object as the API shows it, serialized by the caller."""
    if type not in SUBSCRIBABLE:
        raise ValueError(f"unknown event type {type!r}")
    account_id = account if isinstance(account, int) else account.pk
    endpoint_ids = [
        e.pk for e in Endpoint.objects.filter(account_id=account_id, enabled=True).only("pk", "events")
        if type in e.events
    ]
    if not endpoint_ids:
        return None
    return _event_write(account_id=account_id, type=type, data=data, endpoint_ids=endpoint_ids)


def endpoint_ping(*, account: Account, public_id: str) -> Event:
    """A `ping` event for this endpoint alone, whatever its event types."""
    endpoint = endpoint_get(account=account, public_id=public_id)
    data = {"endpoint_id": endpoint.public_id, "url": endpoint.url}
    return _event_write(account_id=account.pk, type=EventType.PING.value, data=data, endpoint_ids=[endpoint.pk])


def _event_write(*, account_id: int, type: str, data: dict, endpoint_ids: list[int]) -> Event:  # noqa: A002
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(account_id=account_id, type=type, data=data, created_at=now)
        dispatches = Dispatch.objects.bulk_create(
            Dispatch(event=event, endpoint_id=pk, started_at=now, next_attempt_at=now) for pk in endpoint_ids
        )
        ids = [d.pk for d in dispatches]
        transaction.on_commit(lambda: _enqueue(ids))
    return event


def _enqueue(dispatch_ids: list[int], countdown: float = 0) -> None:
    from .tasks import deliver

    for pk in dispatch_ids:
        try:
            deliver.apply_async((pk,), countdown=countdown or None)
        except Exception:  # the broker is down: the beat's sweep delivers it later
            logger.exception("could not enqueue webhook dispatch %s", pk)


def delivery_resend(*, account: Account, endpoint_id: str, delivery_id: str) -> Dispatch:
    """Sends a delivered or failed event to its endpoint again, now, with a fresh retry window."""
    endpoint = endpoint_get(account=account, public_id=endpoint_id)
    delivery = Delivery.objects.filter(account=account, endpoint=endpoint, public_id=delivery_id).select_related("event").first()
    if delivery is None:
        raise NotFound("Delivery not found.")
    now = timezone.now()
    with transaction.atomic():
        dispatch, _ = Dispatch.objects.select_for_update().get_or_create(
            event=delivery.event, endpoint=endpoint, defaults={"started_at": now, "next_attempt_at": now}
        )
        dispatch.state, dispatch.started_at, dispatch.next_attempt_at = DispatchState.PENDING, now, now
        dispatch.save(update_fields=["state", "started_at", "next_attempt_at"])
        pk = dispatch.pk
        transaction.on_commit(lambda: _enqueue([pk]))
    return dispatch


# --- delivering ----------------------------------------------------------------------------------


def event_body(event: Event) -> bytes:
    return json.dumps(
        {"id": event.public_id, "type": event.type,
         "created_at": event.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "data": event.data},
        separators=(",", ":"), ensure_ascii=False,
    ).encode()


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def next_delay_s(attempts_made: int) -> float:
    """Seconds before the attempt after `attempts_made` ones: the schedule's step, then its last
    step again."""
    delays = settings.WEBHOOKS_RETRY_DELAYS_S
    return float(delays[min(attempts_made - 1, len(delays) - 1)])


def _claim(dispatch_id: int) -> Dispatch | None:
    """Takes the due pending row for this worker for `WEBHOOKS_CLAIM_S` (longer than a request may
    take); None when it is not due, done, or held by another worker."""
    now = timezone.now()
    with transaction.atomic():
        dispatch = (Dispatch.objects.select_for_update(skip_locked=True)
                    .select_related("event", "endpoint").filter(pk=dispatch_id).first())
        if dispatch is None or dispatch.state != DispatchState.PENDING or dispatch.next_attempt_at > now:
            return None
        dispatch.attempts += 1
        dispatch.next_attempt_at = now + timedelta(seconds=settings.WEBHOOKS_CLAIM_S)
        dispatch.save(update_fields=["attempts", "next_attempt_at"])
    return dispatch


_client: httpx.Client | None = None


def _http_client() -> httpx.Client:
    """One client per process: building one (its TLS context) cost more than a delivery."""
    global _client
    if _client is None:
        _client = httpx.Client(follow_redirects=False, trust_env=False,
                               limits=httpx.Limits(max_keepalive_connections=20, keepalive_expiry=30))
    return _client


def _post(endpoint: Endpoint, body: bytes) -> tuple[int | None, str]:
    host = urlsplit(endpoint.url).hostname or ""
    verdict = check_address(host, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE)
    if not verdict.allowed:
        return None, f"Refused by the address guard: {verdict.detail or verdict.reason}"
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ProxyPortal-Webhooks/1",
        "X-Webhook-Signature": signature_header(secret=endpoint.secret, body=body, timestamp=int(time.time())),
    }
    try:
        response = _http_client().post(endpoint.url, content=body, headers=headers, timeout=settings.WEBHOOKS_TIMEOUT_S)
    except httpx.TimeoutException:
        return None, f"Timed out after {settings.WEBHOOKS_TIMEOUT_S:g} s"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def dispatch_deliver(*, dispatch_id: int) -> Delivery | None:
    """One attempt: claim, POST the signed body, record it, and settle or schedule the next one.
    Returns the attempt's row (None when there was nothing to do)."""
    dispatch = _claim(dispatch_id)
    if dispatch is None:
        return None
    endpoint, event = dispatch.endpoint, dispatch.event
    started = time.monotonic()
    status_code, error = _post(endpoint, event_body(event))
    duration_ms = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    ok = not error
    retry_in = None
    with transaction.atomic():
        delivery = Delivery.objects.create(
            account_id=endpoint.account_id, endpoint=endpoint, event=event, attempt=dispatch.attempts, status_code=status_code,
            error=error, duration_ms=duration_ms, created_at=now,
        )
        if ok:
            Dispatch.objects.filter(pk=dispatch.pk).update(state=DispatchState.DELIVERED, next_attempt_at=now)
            if endpoint.failing_since is not None:
                Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        else:
            due = now + timedelta(seconds=next_delay_s(dispatch.attempts))
            if due - dispatch.started_at > timedelta(seconds=settings.WEBHOOKS_RETRY_WINDOW_S):
                Dispatch.objects.filter(pk=dispatch.pk).update(state=DispatchState.GAVE_UP, next_attempt_at=now)
            else:
                Dispatch.objects.filter(pk=dispatch.pk).update(next_attempt_at=due)
                retry_in = (due - now).total_seconds()
            if endpoint.failing_since is None:
                Endpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
    webhook_deliveries.labels("delivered" if ok else "retrying" if retry_in is not None else "gave_up").inc()
    if retry_in is not None:
        _enqueue([dispatch.pk], countdown=retry_in)
    if not ok:
        endpoint_disable_if_failing(endpoint_id=endpoint.pk, now=now)
    return delivery


def dispatches_redrive(*, now=None, batch: int = 500) -> int:
    """Enqueues pending work that is due: retries whose message was lost, and events whose worker
    died before or while it delivered them (their claim has run out). Returns how many."""
    now = now or timezone.now()
    ids = list(
        Dispatch.objects.filter(state=DispatchState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at").values_list("pk", flat=True)[:batch]
    )
    _enqueue(ids)
    return len(ids)


def endpoint_disable_if_failing(*, endpoint_id: int, now=None) -> bool:
    """Disables an endpoint that has failed for `WEBHOOKS_DISABLE_AFTER_S` without a success and
    e-mails the account's owners, once."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.WEBHOOKS_DISABLE_AFTER_S)
    reason = f"Disabled after failing since {cutoff:%Y-%m-%d %H:%M} UTC"
    disabled = Endpoint.objects.filter(pk=endpoint_id, enabled=True, failing_since__lte=cutoff).update(
        enabled=False, disabled_reason=reason
    )
    if not disabled:
        return False
    endpoint = Endpoint.objects.select_related("account").get(pk=endpoint_id)
    owners = list(Membership.objects.filter(account_id=endpoint.account_id, role=Role.OWNER)
                  .values_list("user__email", flat=True))
    days = settings.WEBHOOKS_DISABLE_AFTER_S / 86400
    if owners:
        mail_send(
            subject=f"Webhook endpoint {endpoint.public_id} was disabled",
            message=(
                f"Deliveries to {endpoint.url} of {endpoint.account.name} have failed for {days:g} days, so "
                f"the endpoint was disabled and no more events are sent to it.\n\nWhen it works again, "
                f"enable it on the Webhooks page of the dashboard or with "
                f"PATCH /api/v1/webhooks/endpoints/{endpoint.public_id} {{\"enabled\": true}}."
            ),
            recipient_list=owners, fail_silently=True,
        )
    logger.warning("webhook endpoint %s disabled after failing for %g days", endpoint.public_id, days)
    return True


def events_purge_old(*, now=None) -> int:
    """Deletes events (with their attempts) older than `WEBHOOKS_KEEP_DAYS` that nothing still
    owes to an endpoint. Returns how many events went."""
    now = now or timezone.now()
    old = Event.objects.filter(created_at__lt=now - timedelta(days=settings.WEBHOOKS_KEEP_DAYS)).exclude(
        dispatches__state=DispatchState.PENDING
    )
    return old.delete()[1].get(Event._meta.label, 0)
