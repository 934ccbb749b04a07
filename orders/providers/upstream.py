"""The `upstream` provider: orders bought from another seller that speaks this portal's own API
(another instance of it, or any seller with the same contract), through `upstream_client`.

Prices: the upstream's `POST /orders/calc` total for the same body plus the markup (the proxy
type's `markup_percent`, else `UPSTREAM_MARKUP_PERCENT`), rounded up to the cent. Periods and
countries of an upstream type are the upstream's `/reference/*`, cached for
`UPSTREAM_REFERENCE_CACHE_S` (at most ten minutes) in the Django cache.

Placement is a state machine driven by `orders.tasks.provision_order`; every step is safe to
repeat, so a worker killed at any point loses nothing:

    charged, pending, no provider_ref
        → `POST /orders` upstream with Idempotency-Key = the local order's public id; the
          upstream's order id goes to `provider_ref` and what it charged to `provider_cost`
    pending, provider_ref set
        → `GET /orders/{ref}` until it is active, then its proxies (same host, port, username,
          password) become the local order's and it is active
    upstream 402, another 4xx, an upstream order that failed, or no success within
    `UPSTREAM_PLACE_DEADLINE_S` of the local order's creation
        → failed, refunded in full (`orders.services.order_fail`), staff e-mailed once
    no answer, 5xx or 429 before the deadline → `ProvisioningPending`: the task runs again later

A repeated `POST /orders` (a retry, a second worker, the sweep after a killed worker) carries
the same key and the same body, so the upstream answers with the one order it placed and
charges once. Every failed call is kept in `UpstreamCallFailure` with the upstream's status,
`error_type` and message (never the key); customers only ever see the reasons below.

Contract for the rest of the code (the residential wing relies on it): an order bought
upstream keeps `order.provider == "upstream"`, and `order.provider_ref` is the upstream's
order id once placed (residential sub-users are created under it).

Releasing does nothing upstream: the contract has no cancellation for customers, so an
upstream order simply runs to its own end.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from branding.services import mail_send
from core.errors import DomainValidationError, UpstreamError
from core.money import CENT, money_str

from ..models import Order, UpstreamBalanceCheck, UpstreamCallFailure
from .base import Provider, ProvisioningPending, ProxyCredentials, Reference
from .upstream_client import upstream_client

logger = logging.getLogger("orders.providers.upstream")

REFUNDED = "The full amount has been refunded to your balance."
REASON_FUNDS = f"Our supplier could not fill this order right now. {REFUNDED}"
REASON_REFUSED = (f"Our supplier refused this order (the type, country or quantity may be unavailable "
                  f"there now). {REFUNDED}")
REASON_FAILED = f"Our supplier could not fill this order. {REFUNDED}"
REASON_UNREACHABLE = "Our supplier for {type} proxies cannot be reached right now; nothing was charged. Try again shortly."
REASON_EXTEND = "Our supplier could not extend this order right now; nothing was charged. Try again shortly."
# The task looks again after RETRY_FIRST_S, then less and less often (never more than
# RETRY_MAX_S, nor half of UPSTREAM_SWEEP_STALE_S, apart): an upstream usually activates an order within a second, and a worker
# never sleeps on one (it is free for other orders meanwhile).
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 15.0
BALANCE_ALERT_EVERY = timedelta(days=1)


def markup_percent(proxy_type) -> Decimal:
    return proxy_type.markup_percent if proxy_type.markup_percent is not None else settings.UPSTREAM_MARKUP_PERCENT


def with_markup(amount: Decimal, percent: Decimal) -> Decimal:
    """`amount` plus `percent`, rounded up to the cent (the reseller never sells below cost)."""
    return (Decimal(amount) * (Decimal(100) + Decimal(percent)) / Decimal(100)).quantize(CENT, rounding=ROUND_CEILING)


def record_failure(operation: str, exc: UpstreamError, order: Order | None = None) -> None:
    """Keeps the upstream's answer for the operator (the client has already redacted the key)."""
    logger.warning("upstream %s failed%s: %s", operation, f" for order {order.public_id}" if order else "",
                   exc.message)
    try:
        UpstreamCallFailure.objects.create(
            operation=operation, order=order if order is not None and order.pk else None,
            upstream_status=exc.upstream_status, error_type=exc.upstream_error_type[:64],
            message=(exc.upstream_message or exc.message)[:1000], retry_after=exc.retry_after,
        )
    except Exception:  # a record for the operator must never turn a refusal into a 500
        logger.exception("could not record the failed upstream call %s", operation)


def _wire_quantity(quantity: Decimal, is_traffic: bool) -> int | str:
    """The quantity as sent upstream, the same on every retry: whole IPs, or GB without trailing zeros."""
    if not is_traffic:
        return int(quantity)
    text = f"{Decimal(quantity):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _client():
    return upstream_client()


def _cache_key(what: str) -> str:
    base = hashlib.sha256(settings.UPSTREAM_API_URL.encode()).hexdigest()[:16]
    return f"orders:upstream:{base}:{what}"


class UpstreamProvider(Provider):
    name = "upstream"

    # --- what is sold, and at what price ----------------------------------------------------------

    def reference(self, type_code: str) -> Reference:
        key = _cache_key(f"reference:{type_code}")
        cached = cache.get(key)
        if cached is not None:
            return Reference(periods=tuple(cached["periods"]), countries=dict(cached["countries"]))
        try:
            client = _client()
            periods = tuple(sorted(p.days for p in client.periods()))
            countries = {c.code.upper(): c.name for c in client.countries(type=type_code)}
        except UpstreamError as exc:
            record_failure("reference", exc)
            raise UpstreamError(REASON_UNREACHABLE.format(type=type_code)) from None
        cache.set(key, {"periods": list(periods), "countries": countries}, settings.UPSTREAM_REFERENCE_CACHE_S)
        return Reference(periods=periods, countries=countries)

    def quote(self, spec):
        """The upstream's total for the same body, plus the markup, rounded up to the cent."""
        from ..pricing import Quote

        proxy_type = spec.proxy_type
        try:
            theirs = _client().calc(type=proxy_type.code, quantity=_wire_quantity(spec.quantity, proxy_type.is_traffic),
                                    period=spec.period, country=spec.country or None)
        except UpstreamError as exc:
            record_failure("calc", exc)
            fields = exc.upstream_meta.get("fields") if exc.upstream_status == 400 else None
            if isinstance(fields, dict) and fields:  # the customer's input, in the contract's own words
                raise DomainValidationError({str(k): [str(m) for m in v] if isinstance(v, list) else [str(v)]
                                             for k, v in fields.items()}) from None
            raise UpstreamError(REASON_UNREACHABLE.format(type=proxy_type.code) if exc.retryable else
                                f"Our supplier cannot price this {proxy_type.name} order right now.") from None
        if theirs.currency != "USD" or theirs.total <= 0:
            record_failure("calc", UpstreamError(f"unusable price {theirs.total} {theirs.currency}",
                                                 upstream_status=200, upstream_error_type="unusable_price"))
            raise UpstreamError(f"Our supplier cannot price this {proxy_type.name} order right now.")
        percent = markup_percent(proxy_type)
        total = with_markup(theirs.total, percent)
        subtotal = max(with_markup(theirs.subtotal, percent), total)
        discount_percent = (theirs.discount * 100 / theirs.subtotal).quantize(CENT) if theirs.subtotal else Decimal(0)
        return Quote(spec=spec, unit_price=with_markup(theirs.unit_price, percent), subtotal=subtotal,
                     discount=subtotal - total, total=total, discount_percent=discount_percent, cost=theirs.total)

    # --- placement ----------------------------------------------------------------------------------

    def allocate(self, order) -> list[ProxyCredentials]:
        """One turn of the state machine (see the module's docstring)."""
        Order.objects.filter(pk=order.pk).update(provider_checked_at=timezone.now())
        step = ["place_order" if not order.provider_ref else "order"]
        try:
            theirs, proxies = self._fetch(order, step)
        except UpstreamError as exc:
            record_failure(step[0], exc, order)
            if exc.insufficient_funds:
                raise UpstreamError(REASON_FUNDS) from None
            if not exc.retryable:
                raise UpstreamError(REASON_REFUSED) from None
            self._not_yet(order, exc.message, retry_after=exc.retry_after)
        if theirs.status == "pending":
            self._not_yet(order, "still pending upstream")
        if theirs.status != "active" or not proxies:
            what = f"{theirs.status}: {theirs.failure_reason}" if theirs.status != "active" else "active without proxies"
            record_failure("order", UpstreamError(f"The upstream order {order.provider_ref} is {what}"[:1000],
                                                  upstream_status=200, upstream_error_type=f"order_{theirs.status}"),
                           order)
            raise UpstreamError(REASON_FAILED)
        return [
            ProxyCredentials(host=p.host, port=p.port, username=p.username, password=p.password, protocol=p.protocol,
                             country=(p.country or order.country or "")[:2].upper())
            for p in proxies
        ]

    def _fetch(self, order, step: list[str]):
        """(the upstream order, its proxies when active): places it first when not yet placed."""
        client = _client()
        if not order.provider_ref:
            theirs = client.place_order(
                type=order.type, quantity=_wire_quantity(order.quantity, order.is_residential),
                period=order.period_days, country=order.country or None, idempotency_key=order.public_id,
            )
            # Kept at once, committed on its own: a worker killed from here on polls, never re-buys.
            Order.objects.filter(pk=order.pk).update(provider_ref=theirs.id[:200], provider_cost=theirs.total)
            order.provider_ref, order.provider_cost = theirs.id[:200], theirs.total
            step[0] = "order"
        else:
            theirs = client.order(order.provider_ref)
        if theirs.status != "active":
            return theirs, []
        step[0] = "order_proxies"
        return theirs, client.order_proxies(order.provider_ref)

    def _not_yet(self, order, why: str, *, retry_after: float | None = None):
        """ProvisioningPending before the deadline; past it, the order fails."""
        elapsed = (timezone.now() - order.created_at).total_seconds()
        if elapsed >= settings.UPSTREAM_PLACE_DEADLINE_S:
            minutes = max(1, round(settings.UPSTREAM_PLACE_DEADLINE_S / 60))
            raise UpstreamError(f"Our supplier did not deliver this order within {minutes} minute"
                                f"{'s' if minutes != 1 else ''}. {REFUNDED}")
        # A live chain of retries looks at the order well within UPSTREAM_SWEEP_STALE_S, so the
        # sweep only ever re-drives an order whose chain died.
        retry_in = min(RETRY_MAX_S, settings.UPSTREAM_SWEEP_STALE_S / 2, RETRY_FIRST_S + elapsed / 10)
        if retry_after:
            retry_in = max(retry_in, retry_after)
        left = settings.UPSTREAM_PLACE_DEADLINE_S - elapsed
        raise ProvisioningPending(min(retry_in, max(RETRY_FIRST_S, left)), why)

    def order_failed(self, order) -> None:
        """One e-mail to the staff per failed order, with what the upstream last answered."""
        last = UpstreamCallFailure.objects.filter(order=order).first()
        answer = (f"{last.operation}: HTTP {last.upstream_status or '— (no answer)'} {last.error_type}\n"
                  f"{last.message}") if last else "(no failed call recorded)"
        staff_mail(
            f"Upstream order failed: {order.public_id}",
            f"Order {order.public_id} ({order.type}, {order.quantity_display} "
            f"{'GB' if order.is_residential else 'IP'}) of {order.account} failed and was refunded "
            f"({money_str(order.total)} USD).\n\nCustomer was told: {order.failure_reason}\n\n"
            f"Upstream order: {order.provider_ref or '(not placed)'}\nLast upstream answer:\n{answer}\n\n"
            f"Failed calls are listed in the admin under Orders › Upstream call failures.",
        )

    # --- after placement ----------------------------------------------------------------------------

    def extend(self, order, days: int) -> None:
        """Extends upstream (the caller charges only once this returns). The key is the local
        order and extension number, so a retried extension is bought once."""
        try:
            _client().extend_order(order.provider_ref, period=days,
                                   idempotency_key=f"{order.public_id}:extend:{order.extension_count}")
        except UpstreamError as exc:
            record_failure("extend_order", exc, order)
            raise UpstreamError(REASON_EXTEND) from None

    def release(self, order) -> None:
        """Nothing to tell the upstream: its order runs to its own end."""


# --- the operator's view ---------------------------------------------------------------------------


def staff_mail(subject: str, message: str) -> int:
    from accounts.models import User

    recipients = list(User.objects.filter(is_staff=True, is_active=True).exclude(email="")
                      .values_list("email", flat=True))
    if not recipients:
        return 0
    return mail_send(subject=subject, message=message, recipient_list=recipients, fail_silently=True)


def upstream_in_use() -> bool:
    from . import provider_name_for_type

    return bool(settings.UPSTREAM_API_URL) and any(
        provider_name_for_type(code) == "upstream" for code in settings.ORDER_PROVIDER_TYPES
    )


def upstream_account():
    """The account held upstream (`GET /account`), its balance first of all."""
    return _client().account()


def upstream_balance_check(*, now=None) -> UpstreamBalanceCheck | None:
    """Reads the balance held upstream and keeps it; e-mails the staff when it is under
    `UPSTREAM_LOW_BALANCE_USD`, at most once a day while it stays low. None: not reachable."""
    now = now or timezone.now()
    try:
        account = upstream_account()
    except UpstreamError as exc:
        record_failure("account", exc)
        return None
    low = account.balance < settings.UPSTREAM_LOW_BALANCE_USD
    with transaction.atomic():
        alerted_lately = UpstreamBalanceCheck.objects.select_for_update().filter(
            alerted=True, checked_at__gt=now - BALANCE_ALERT_EVERY).exists()
        check = UpstreamBalanceCheck.objects.create(checked_at=now, balance=account.balance,
                                                    currency=account.currency, alerted=low and not alerted_lately)
    if check.alerted:
        staff_mail(
            f"Upstream balance low: {money_str(account.balance)} {account.currency}",
            f"The balance this portal holds at its upstream seller ({settings.UPSTREAM_API_URL}) is "
            f"{money_str(account.balance)} {account.currency}, under UPSTREAM_LOW_BALANCE_USD "
            f"({settings.UPSTREAM_LOW_BALANCE_USD} USD).\n\nTop it up there: orders placed through the upstream "
            f"fail and are refunded while it cannot pay for them.",
        )
    return check
