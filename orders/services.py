"""Orders: placement, provisioning, failure and refund, extension, expiry, cancellation.

Money moves only through `billing.services.ledger_post`; every amount comes from
`orders.pricing.quote`. Lock order (docs/architecture.md#the-lock-order-for-money): the account row first, then the order row,
then stock rows — except placement, which locks only new rows and stock (skip_locked) before
its charge takes the account lock.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Account, User
from accounts.services import account_lock
from billing.models import EntryType, LedgerEntry
from billing.selectors import billing_contacts
from billing.services import ledger_post
from branding.services import mail_send
from core.errors import (
    Conflict,
    DomainValidationError,
    NotFound,
    OutOfStock,
    PortalError,
    UpstreamError,
)
from core.money import to_money

from . import pricing, selectors
from .events import order_event_emit
from .models import Order, OrderExtension, OrderProxy, OrderStatus
from .providers import ProvisioningPending, get_provider, provider_for_type
from .signals import order_activated

logger = logging.getLogger("orders")


def charge_reference(order: Order) -> str:
    return f"order:{order.public_id}:charge"


def refund_reference(order: Order) -> str:
    return f"order:{order.public_id}:refund"


def extension_reference(order: Order, number: int) -> str:
    return f"order:{order.public_id}:extend:{number}"


def _describe(order: Order) -> str:
    unit = "GB" if order.is_residential else "IP"
    qty = pricing.format_quantity(order.quantity, "GB" if order.is_residential else "IP")
    period = f", {order.period_days} days" if order.period_days else ""
    where = f", {order.country}" if order.country else ""
    return f"{order.get_type_display()} proxies, {qty} {unit}{period}{where} ({order.public_id})"


# --- placement -----------------------------------------------------------------------------


def order_place(
    *, account: Account, type: str, quantity, period=None, country=None,  # noqa: A002
    created_by: User | None = None,
) -> Order:
    """Validates and prices the order, reserves stock, charges the balance and creates the
    order in one transaction; once it commits, Celery provisions it (`order_provision`)."""
    quote = pricing.quote(type=type, quantity=quantity, period=period, country=country)
    provider = provider_for_type(quote.type)
    with transaction.atomic():
        # The account is locked by the charge, last: concurrent placements on one account
        # queue only for the charge and the commit (inserting the order and reserving stock
        # with skip_locked never wait for the account lock, see accounts.services.account_lock).
        order = Order.objects.create(
            account=account,
            type=quote.type,
            quantity=quote.quantity,
            period_days=quote.period,
            country=quote.country,
            status=OrderStatus.PENDING,
            unit_price=quote.unit_price,
            subtotal=quote.subtotal,
            discount=quote.discount,
            total=quote.total,
            traffic_gb=quote.quantity if quote.spec.proxy_type.is_traffic else None,
            provider=provider.name,
            created_by=created_by,
        )
        provider.reserve(order)  # OutOfStock before any money moves
        ledger_post(
            account=account, type=EntryType.CHARGE, amount=-quote.total,
            reference=charge_reference(order), description=f"Order: {_describe(order)}",
            created_by=created_by, order_public_id=order.public_id,
        )
        order_pk = order.pk
        transaction.on_commit(lambda: _enqueue_provisioning(order_pk))
    return order


def _enqueue_provisioning(order_pk: int) -> None:
    from .tasks import provision_order

    try:
        provision_order.delay(order_pk)
    except Exception:  # the broker is down: the beat's sweep provisions it later
        logger.exception("could not enqueue provisioning of order %s", order_pk)


def order_provision(*, order: Order) -> Order:
    """Asks the order's provider for its proxies and activates it; on failure, fails and refunds.
    A provider that is not done yet raises ProvisioningPending, which reaches the caller (the
    task schedules itself again).

    Idempotent: an order that is no longer pending is left alone."""
    order = Order.objects.get(pk=order.pk)
    if order.status != OrderStatus.PENDING:
        return order
    provider = get_provider(order.provider)
    try:
        credentials = provider.allocate(order)
    except ProvisioningPending:
        raise
    except (UpstreamError, OutOfStock) as exc:
        order_fail(order=order, reason=exc.message)
        return Order.objects.get(pk=order.pk)
    except Exception:
        logger.exception("provisioning order %s failed", order.public_id)
        order_fail(order=order, reason="Provisioning failed. The full amount has been refunded to your balance.")
        return Order.objects.get(pk=order.pk)
    now = timezone.now()
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == OrderStatus.ACTIVE:  # another run of the task got there first
            return locked
        if locked.status != OrderStatus.PENDING:  # cancelled meanwhile: give the proxies back
            _release_quietly(locked)
            return locked
        OrderProxy.objects.bulk_create(
            OrderProxy(
                order=locked, host=c.host, port=c.port, username=c.username, password=c.password,
                protocol=c.protocol, country=c.country, inventory_id=c.inventory_id,
            )
            for c in credentials
        )
        locked.status = OrderStatus.ACTIVE
        locked.activated_at = now
        locked.expires_at = now + timedelta(days=locked.period_days) if locked.period_days else None
        locked.provider_ref = order.provider_ref or locked.provider_ref
        locked.failure_reason = ""
        locked.save(update_fields=["status", "activated_at", "expires_at", "provider_ref", "failure_reason"])
        order_event_emit(order=locked, type="order.activated")
        # Once committed, receivers hear of it: a residential top-up re-enables sub-users.
        transaction.on_commit(lambda: order_activated.send(sender=Order, order=locked))
    return locked


def _paid_total(order: Order) -> Decimal:
    """What the account paid for the order: the charge and every extension, less refunds."""
    prefix = f"order:{order.public_id}:"
    paid = LedgerEntry.objects.filter(account_id=order.account_id, reference__startswith=prefix).aggregate(
        s=Sum("amount")
    )["s"]
    return -(paid or Decimal("0"))


def _refund(order: Order, amount: Decimal, description: str, created_by: User | None = None) -> Decimal:
    """One refund per order (reference `order:<id>:refund`), never more than was paid."""
    amount = min(to_money(amount), _paid_total(order))
    if amount <= 0:
        return Decimal("0.00")
    entry = ledger_post(
        account=order.account, type=EntryType.REFUND, amount=amount, reference=refund_reference(order),
        description=description, created_by=created_by, allow_duplicate=True, order_public_id=order.public_id,
    )
    return amount if entry is not None else Decimal("0.00")


def order_fail(*, order: Order, reason: str) -> Order:
    """Marks a pending order failed, releases what it held and refunds the charge in full, once;
    once that commits, its provider hears of it (the upstream provider e-mails the staff)."""
    with transaction.atomic():
        account_lock(order.account_id)
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != OrderStatus.PENDING:
            return locked
        locked.status = OrderStatus.FAILED
        locked.failure_reason = (reason or "The provider failed.")[:500]
        locked.ended_at = timezone.now()
        locked.save(update_fields=["status", "failure_reason", "ended_at"])
        _release_quietly(locked)
        _refund(locked, _paid_total(locked), f"Refund: order failed ({locked.public_id})")
        order_event_emit(order=locked, type="order.failed")
        transaction.on_commit(lambda: _tell_provider_failed(locked))
    return locked


def _tell_provider_failed(order: Order) -> None:
    """After the failure committed: a notice that fails is logged, never undoes the refund."""
    try:
        get_provider(order.provider).order_failed(order)
    except Exception:
        logger.exception("telling the provider that order %s failed", order.public_id)


def _release_quietly(order: Order) -> None:
    now = timezone.now()
    OrderProxy.objects.filter(order=order, released_at__isnull=True).update(released_at=now)
    try:
        get_provider(order.provider).release(order)
    except PortalError as exc:
        logger.warning("releasing order %s at its provider failed: %s", order.public_id, exc.message)


# --- extension -------------------------------------------------------------------------------


def order_extend(*, account: Account, order_id: str, period, created_by: User | None = None) -> Order:
    """Charges the extension price and moves `expires_at` by `period` days (active IP orders only).

    The provider extends last, inside the transaction: an upstream refusal rolls the charge
    back (nothing charged, 502), and the charge commits only once the upstream has extended."""
    with transaction.atomic():
        account_lock(account.pk)
        order = Order.objects.for_account(account).select_for_update().filter(public_id=order_id).first()
        if order is None:
            raise NotFound("Order not found.")
        if order.is_residential:
            raise Conflict("Residential orders are sold by traffic and cannot be extended; place a new order.")
        if order.status != OrderStatus.ACTIVE:
            raise Conflict(f"Only active orders can be extended; this one is {order.status}.")
        _extend_locked(account=account, order=order, period=period, created_by=created_by)
    return order


def _extend_locked(
    *, account: Account, order: Order, period, created_by: User | None, renewal: bool = False
) -> None:
    """Charges and extends an order whose account and row the caller has locked, in its
    transaction. The reference is the extension's number, so one extension is charged once."""
    quote = pricing.quote(type=order.type, quantity=order.quantity, period=period, country=order.country or None)
    number = order.extension_count + 1
    what = "Renewal" if renewal else "Extension"
    ledger_post(
        account=account, type=EntryType.CHARGE, amount=-quote.total,
        reference=extension_reference(order, number),
        description=f"{what} by {quote.period} days: {_describe(order)}", created_by=created_by,
        order_public_id=order.public_id,
    )
    OrderExtension.objects.create(
        order=order, number=number, period_days=quote.period, total=quote.total, provider_cost=quote.cost,
        created_by=created_by,
    )
    base = max(order.expires_at or timezone.now(), timezone.now())
    order.expires_at = base + timedelta(days=quote.period)
    order.extension_count = number
    order.reminded_7d_at = order.reminded_3d_at = order.reminded_1d_at = order.renewal_failed_at = None
    order.save(update_fields=[
        "expires_at", "extension_count", "reminded_7d_at", "reminded_3d_at", "reminded_1d_at", "renewal_failed_at",
    ])
    # Last: an upstream refusal rolls the charge back with everything else.
    get_provider(order.provider).extend(order, quote.period)


# --- auto-renew ----------------------------------------------------------------------------

RENEW_BEFORE = timedelta(hours=24)
RENEW_RETRY_EVERY = timedelta(hours=1)


def order_auto_renew_set(
    *, account: Account, order_id: str, auto_renew: bool, actor: User | None = None, actor_label: str = "",
    client_ip: str | None = None,
) -> Order:
    """Turns auto-renew on or off. Only orders with a period renew, and only while they can
    still become or stay active; turning it off is always allowed."""
    from accounts.services import audit_log

    with transaction.atomic():
        order = Order.objects.for_account(account).select_for_update().filter(public_id=order_id).first()
        if order is None:
            raise NotFound("Order not found.")
        if auto_renew and order.is_residential:
            raise Conflict("Residential orders are sold by traffic and do not renew; place a new order when needed.")
        if auto_renew and order.status not in (OrderStatus.PENDING, OrderStatus.ACTIVE):
            raise Conflict(f"Only pending or active orders can renew; this one is {order.status}.")
        if order.auto_renew != auto_renew:
            order.auto_renew = auto_renew
            order.save(update_fields=["auto_renew"])
            audit_log(account=account, actor=actor, actor_label=actor_label,
                      action="order.auto_renew_on" if auto_renew else "order.auto_renew_off",
                      target=order.public_id, ip=client_ip)
    return order


def _renewal_due(order: Order | None, now) -> bool:
    return bool(
        order is not None and order.auto_renew and order.status == OrderStatus.ACTIVE and not order.is_residential
        and order.expires_at and now < order.expires_at <= now + RENEW_BEFORE
        and (order.renewal_failed_at is None or order.renewal_failed_at <= now - RENEW_RETRY_EVERY)
    )


def orders_due_for_renewal(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        Order.objects.filter(
            auto_renew=True, status=OrderStatus.ACTIVE, expires_at__gt=now, expires_at__lte=now + RENEW_BEFORE,
        ).exclude(renewal_failed_at__gt=now - RENEW_RETRY_EVERY).order_by("expires_at").values_list("pk", flat=True)
    )


def order_renew(*, order_pk: int, now=None) -> str:
    """Renews one auto-renew order for its last period at today's price, if it is due.

    Exactly once per period: the account row and then the order row are locked and the order
    read again under the lock, so a second beat or a retried task waiting behind a renewal
    finds it no longer due (its `expires_at` moved a whole period on); the charge's reference
    is the extension's number besides. A short balance (or a period no longer sold, or an
    upstream refusal) is recorded and retried hourly until the order expires; the customer
    hears of it once per period (`order.renewal_failed` and an e-mail).
    Returns "renewed", "failed", "not_due" or "missing"."""
    now = now or timezone.now()
    account_id = Order.objects.filter(pk=order_pk).values_list("account_id", flat=True).first()
    if account_id is None:
        return "missing"
    try:
        with transaction.atomic():
            account = account_lock(account_id)
            order = Order.objects.select_for_update().filter(pk=order_pk).first()
            if not _renewal_due(order, now):
                return "not_due"
            period = selectors.order_renewal_period(order=order)
            _extend_locked(account=account, order=order, period=period, created_by=None, renewal=True)
            order_event_emit(order=order, type="order.renewed")
        logger.info("order %s renewed until %s", order.public_id, order.expires_at)
        return "renewed"
    except PortalError as refusal:
        return _renewal_failed(order_pk=order_pk, refusal=refusal, now=now)


def _renewal_failed(*, order_pk: int, refusal: PortalError, now) -> str:
    if isinstance(refusal, UpstreamError) and refusal.retryable:
        reason = "The proxy provider could not be reached; the renewal is retried within the hour."
    elif isinstance(refusal, UpstreamError):
        reason = "The proxy provider refused the renewal; it is retried within the hour."
    elif isinstance(refusal, DomainValidationError):
        reason = "This period or country is no longer sold, so the order cannot renew as it is."
    else:
        reason = refusal.message
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("account").filter(pk=order_pk).first()
        if not _renewal_due(order, now):
            return "not_due"
        first = order.renewal_failed_at is None
        order.renewal_failed_at = now
        order.save(update_fields=["renewal_failed_at"])
        if first:
            order_event_emit(order=order, type="order.renewal_failed")
            transaction.on_commit(lambda: _send_renewal_failed_mail(order, reason))
    logger.info("order %s not renewed: %s", order.public_id, reason)
    return "failed"


def _send_renewal_failed_mail(order: Order, reason: str) -> None:
    recipients = billing_contacts(account=order.account)
    if not recipients:
        return
    mail_send(
        subject=f"Order {order.public_id} could not renew",
        message=(
            f"Your order {_describe(order)} for {order.account.name} is set to renew, but the renewal "
            f"failed: {reason}\n\nIt is tried again every hour until the order expires on "
            f"{order.expires_at:%Y-%m-%d %H:%M} UTC. Top up your balance from the Billing page of the "
            f"dashboard, or turn auto-renew off on the order's page."
        ),
        recipient_list=recipients,
        fail_silently=True,
    )


# --- ending --------------------------------------------------------------------------------


def order_expire(*, order: Order, now=None) -> bool:
    """Expires one due active order and releases its proxies; False when nothing was due."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Order.objects.select_for_update().filter(pk=order.pk).first()
        if locked is None or locked.status != OrderStatus.ACTIVE or not locked.expires_at or locked.expires_at > now:
            return False
        locked.status = OrderStatus.EXPIRED
        locked.ended_at = now
        locked.save(update_fields=["status", "ended_at"])
        _release_quietly(locked)
        order_event_emit(order=locked, type="order.expired")
    return True


def orders_expire_due(*, now=None) -> int:
    now = now or timezone.now()
    due = Order.objects.filter(status=OrderStatus.ACTIVE, expires_at__lte=now).order_by("expires_at")
    return sum(1 for order in due.iterator(chunk_size=200) if order_expire(order=order, now=now))


def order_cancel(
    *, order: Order, refund: str = "full", created_by: User | None = None, reason: str = ""
) -> Decimal:
    """Operator cancellation: releases the proxies and refunds — `full` (everything paid),
    `prorata` (the unused share of the paid time; residential: the unused traffic) or `none`.
    Returns the amount refunded."""
    with transaction.atomic():
        account_lock(order.account_id)
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (OrderStatus.PENDING, OrderStatus.ACTIVE):
            raise Conflict(f"Only pending or active orders can be cancelled; this one is {locked.status}.")
        now = timezone.now()
        paid = _paid_total(locked)
        if refund == "full":
            amount = paid
        elif refund == "prorata":
            amount = _unused_share(locked, now) * paid
        elif refund == "none":
            amount = Decimal("0")
        else:
            raise ValueError(f"unknown refund mode {refund!r}")
        locked.status = OrderStatus.CANCELLED
        locked.ended_at = now
        locked.failure_reason = reason[:500]
        locked.save(update_fields=["status", "ended_at", "failure_reason"])
        _release_quietly(locked)
        refunded = _refund(locked, amount, f"Refund: order cancelled ({locked.public_id})", created_by)
    return refunded


def _unused_share(order: Order, now) -> Decimal:
    if order.status == OrderStatus.PENDING:
        return Decimal("1")
    if order.is_residential:
        if not order.traffic_gb:
            return Decimal("0")
        return max(Decimal("0"), (order.traffic_gb - order.traffic_used_gb) / order.traffic_gb)
    if not order.expires_at or not order.activated_at or order.expires_at <= now:
        return Decimal("0")
    whole = (order.expires_at - order.activated_at).total_seconds()
    left = (order.expires_at - now).total_seconds()
    return Decimal(str(min(1.0, max(0.0, left / whole)))) if whole > 0 else Decimal("0")


# --- reminders ---------------------------------------------------------------------------


# (days before expiry, the field that claims it, send the order.expiring event, e-mail owners)
REMINDERS = (
    (7, "reminded_7d_at", True, False),
    (3, "reminded_3d_at", False, True),
    (1, "reminded_1d_at", True, True),
)


def orders_send_expiry_reminders(*, now=None) -> int:
    """Sends `order.expiring` seven days and one day before an order expires and e-mails owners
    and admins three days and one day before (each once per period). An order that renews
    itself skips the one-day notice: its renewal, or the failure of it, is what it hears."""
    now = now or timezone.now()
    sent = 0
    for index, (days, field, event, email) in enumerate(REMINDERS):
        # Each window ends where the next shorter one starts, so an order found late is told
        # what is true now (expiring in a day), not a week-ahead notice.
        shorter = REMINDERS[index + 1][0] if index + 1 < len(REMINDERS) else 0
        due = Order.objects.filter(
            status=OrderStatus.ACTIVE, expires_at__gt=now + timedelta(days=shorter),
            expires_at__lte=now + timedelta(days=days), **{f"{field}__isnull": True},
        ).select_related("account")
        if days == 1:
            due = due.exclude(auto_renew=True)
        for order in due.iterator(chunk_size=200):
            # Claim the reminder first, so two workers never send it twice.
            with transaction.atomic():
                if not Order.objects.filter(pk=order.pk, **{f"{field}__isnull": True}).update(**{field: now}):
                    continue
                if event:
                    order_event_emit(order=order, type="order.expiring")
            if email and _send_expiry_mail(order, days):
                sent += 1
    return sent


def _send_expiry_mail(order: Order, days: int) -> bool:
    recipients = billing_contacts(account=order.account)
    if not recipients:
        return False
    left = "1 day" if days == 1 else f"{days} days"
    renews = (
        " It renews itself a day before, if your balance covers it."
        if order.auto_renew else ""
    )
    mail_send(
        subject=f"Order {order.public_id} expires in {left}",
        message=(
            f"Your order {_describe(order)} for {order.account.name} expires on "
            f"{order.expires_at:%Y-%m-%d %H:%M} UTC.{renews}\n\nExtend it from the Orders page of the "
            f"dashboard or with POST /api/v1/orders/{order.public_id}/extend."
        ),
        recipient_list=recipients,
        fail_silently=True,
    )
    return True


# --- stock ------------------------------------------------------------------------------------

PROTOCOL_OF_SCHEME = {None: "http", "": "http", "http": "http", "https": "https", "socks4": "socks4",
                      "socks4a": "socks4", "socks5": "socks5", "socks5h": "socks5"}


def inventory_import(*, type: str, country: str, text: str) -> dict:  # noqa: A002
    """Adds the proxies of `text` (formats of POST /check) to the stock of `type` in `country`.

    Returns {"imported", "skipped" (repeated in the text or already in stock), "invalid",
    "orderable" (whether the catalogue sells this type in this country)}."""
    import pycountry

    from checker.engine.parse import parse_proxy_list

    from .models import Country, InventoryProxy, ProxyTypeCode

    errors = {}
    type_code = (type or "").strip().lower()
    if type_code not in ProxyTypeCode.values or type_code == ProxyTypeCode.RESIDENTIAL:
        sellable = [c for c in ProxyTypeCode.values if c != ProxyTypeCode.RESIDENTIAL]
        errors["type"] = [f"Stock is for one of: {', '.join(sellable)} (residential uses the gateway)."]
    code = (country or "").strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        errors["country"] = ["Use an ISO 3166-1 alpha-2 country code, e.g. US."]
    elif pycountry.countries.get(alpha_2=code) is None:
        hint = " (the United Kingdom is GB)" if code == "UK" else ""
        errors["country"] = [f"{code} is not a country code{hint}; use ISO 3166-1 alpha-2, e.g. US, DE, GB."]
    if errors:
        raise DomainValidationError(errors)
    parsed = parse_proxy_list(text or "")
    imported = 0
    skipped = parsed.duplicates
    for start in range(0, len(parsed.proxies), 1000):
        chunk = parsed.proxies[start : start + 1000]
        rows = [
            InventoryProxy(
                type=type_code, country=code, host=s.host, port=s.port, username=s.username or "",
                password=s.password or "", protocol=PROTOCOL_OF_SCHEME.get(s.scheme, "http"),
            )
            for s in chunk
        ]
        existing = set(
            InventoryProxy.objects.filter(type=type_code, host__in={r.host for r in rows})
            .values_list("host", "port", "username")
        )
        fresh = [r for r in rows if (r.host, r.port, r.username) not in existing]
        skipped += len(rows) - len(fresh)
        created = InventoryProxy.objects.bulk_create(fresh, ignore_conflicts=True)
        imported += len(created)
    orderable = Country.objects.filter(code=code, is_active=True, types__code=type_code).exists()
    return {"imported": imported, "skipped": skipped, "invalid": parsed.invalid, "orderable": orderable}


# --- authorized IPs ----------------------------------------------------------------------------
# (imports local to these sections, as in inventory_import, keep this module's head unchanged)

AUTHORIZED_IPS_MAX = 10


def authorized_ip_clean(value) -> str:
    """A public IPv4 or IPv6 address in its canonical text, or a field error on `ip`."""
    import ipaddress

    text = value.strip() if isinstance(value, str) else ""
    try:
        address = ipaddress.ip_address(text) if text and "%" not in text and "/" not in text else None
    except ValueError:
        address = None
    if address is None:
        raise DomainValidationError({"ip": ["Enter one IPv4 or IPv6 address, such as 203.0.114.7."]})
    if (
        not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified
        or (address.version == 6 and (address.ipv4_mapped or address.sixtofour or address.teredo))
    ):
        raise DomainValidationError(
            {"ip": [f"{address} is not a public address (private, loopback, reserved and the like are refused)."]}
        )
    return address.compressed


def authorized_ip_add(
    *, account: Account, ip, created_by: User | None = None, actor_label: str = "", client_ip: str | None = None,
):
    """Authorizes a public address for the account's IP-based proxies (at most
    AUTHORIZED_IPS_MAX, no duplicates), audit-logged; providers hear of it once committed."""
    from accounts.services import audit_log

    from .models import AuthorizedIP

    address = authorized_ip_clean(ip)
    with transaction.atomic():
        account_lock(account.pk)  # concurrent additions queue, so the cap holds
        existing = AuthorizedIP.objects.for_account(account)
        if existing.filter(ip=address).exists():
            raise Conflict(f"{address} is already authorized.")
        if existing.count() >= AUTHORIZED_IPS_MAX:
            raise Conflict(f"At most {AUTHORIZED_IPS_MAX} authorized IPs per account; remove one first.")
        row = AuthorizedIP.objects.create(account=account, ip=address, created_by=created_by)
        audit_log(account=account, actor=created_by, actor_label=actor_label, action="authorized_ip.added",
                  target=address, ip=client_ip)
        transaction.on_commit(lambda: authorized_ips_push(account=account))
    return row


def authorized_ip_remove(
    *, account: Account, authorized_ip_id: str, actor: User | None = None, actor_label: str = "",
    client_ip: str | None = None,
) -> None:
    from accounts.services import audit_log

    from .models import AuthorizedIP

    with transaction.atomic():
        row = AuthorizedIP.objects.for_account(account).filter(public_id=authorized_ip_id).first()
        if row is None:
            raise NotFound("Authorized IP not found.")
        row.delete()
        audit_log(account=account, actor=actor, actor_label=actor_label, action="authorized_ip.removed",
                  target=row.ip, ip=client_ip)
        transaction.on_commit(lambda: authorized_ips_push(account=account))


def authorized_ips_push(*, account: Account) -> None:
    """Tells every provider that may serve the account (the configured ones and those of its
    active orders) the account's whole list of authorized IPs. A provider's failure is logged:
    the list stays the account's, and the next change sends it again."""
    from django.conf import settings

    from .models import AuthorizedIP

    ips = list(AuthorizedIP.objects.for_account(account).order_by("created_at", "id").values_list("ip", flat=True))
    names = {settings.ORDER_PROVIDER, *settings.ORDER_PROVIDERS_BY_TYPE.values()}
    names |= set(
        Order.objects.for_account(account).filter(status=OrderStatus.ACTIVE).values_list("provider", flat=True)
    )
    for name in sorted(n for n in names if n):
        try:
            get_provider(name).authorized_ips_changed(account, ips)
        except Exception:  # one provider's failure must not hide the change from the others
            logger.exception("telling provider %s the authorized IPs of account %s failed", name, account.public_id)


# --- replacement ----------------------------------------------------------------------------

REPLACEMENT_SHARE = Decimal("0.10")  # of an order's proxies, per REPLACEMENT_WINDOW (at least one)
REPLACEMENT_WINDOW = timedelta(hours=24)
REPLACE_LIST_MAX = 1000


def replacement_quota(proxy_count: int) -> int:
    """How many proxies of an order of `proxy_count` may be replaced per REPLACEMENT_WINDOW."""
    return max(1, int(proxy_count * REPLACEMENT_SHARE))


def _host_port(text) -> tuple[str, int] | None:
    """("host", port) of a `host:port` (or `[v6]:port`) string, else None."""
    if not isinstance(text, str):
        return None
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]").lower()
    if not sep or not host or not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def order_proxies_replace(
    *, account: Account, order_id: str, proxies, created_by: User | None = None, actor_label: str = "",
    client_ip: str | None = None,
) -> list[tuple]:
    """Swaps each listed `host:port` of an active IP order for a fresh proxy of the same type
    and country, free of charge, within the order's quota (`replacement_quota` per
    REPLACEMENT_WINDOW). The old proxies leave the order at once; the provider quarantines them.

    Returns [(old OrderProxy, new OrderProxy)]. The order row is locked first, so concurrent
    replacements on one order queue and never overrun the quota together."""
    from accounts.services import audit_log

    from .models import ProxyReplacement

    if not isinstance(proxies, list) or not proxies:
        raise DomainValidationError({"proxies": ["Give a non-empty list of the order's proxies as \"host:port\"."]})
    if len(proxies) > REPLACE_LIST_MAX:
        raise DomainValidationError({"proxies": [f"At most {REPLACE_LIST_MAX} proxies per request."]})
    parsed = [_host_port(p) for p in proxies]
    malformed = [str(p)[:100] for p, hp in zip(proxies, parsed, strict=True) if hp is None]
    if malformed:
        raise DomainValidationError({"proxies": [f"Not a \"host:port\": {', '.join(malformed[:5])}."]})
    wanted = list(dict.fromkeys(parsed))
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.for_account(account).select_for_update().filter(public_id=order_id).first()
        if order is None:
            raise NotFound("Order not found.")
        if order.is_residential:
            raise Conflict("Residential orders have no IP proxies to replace.")
        if order.status != OrderStatus.ACTIVE:
            raise Conflict(f"Only active orders' proxies can be replaced; this one is {order.status}.")
        live = {(p.host.lower(), p.port): p for p in OrderProxy.objects.filter(order=order, released_at__isnull=True)}
        unknown = [f"{h}:{p}" for h, p in wanted if (h, p) not in live]
        if unknown:
            raise DomainValidationError(
                {"proxies": [f"Not a proxy of this order: {', '.join(unknown[:5])}"
                             + (f" and {len(unknown) - 5} more." if len(unknown) > 5 else ".")]}
            )
        quota = replacement_quota(len(live))
        used = ProxyReplacement.objects.filter(order=order, created_at__gt=now - REPLACEMENT_WINDOW).count()
        if used + len(wanted) > quota:
            left = max(0, quota - used)
            raise Conflict(
                f"This order may replace {quota} of its {len(live)} proxies per 24 hours; "
                f"{left} replacement{'s' if left != 1 else ''} left now.",
                meta={"quota": quota, "remaining": left},
            )
        old = [live[hp] for hp in wanted]
        credentials = get_provider(order.provider).replace(order, old)  # OutOfStock rolls it all back
        OrderProxy.objects.filter(pk__in=[p.pk for p in old]).update(released_at=now)
        pairs = []
        for before, c in zip(old, credentials, strict=True):
            after = OrderProxy.objects.create(
                order=order, host=c.host, port=c.port, username=c.username, password=c.password,
                protocol=c.protocol, country=c.country, inventory_id=c.inventory_id, created_at=now,
            )
            ProxyReplacement.objects.create(
                order=order, old_proxy=before, new_proxy=after, created_at=now, created_by=created_by,
                actor_label=actor_label or (created_by.email if created_by else ""),
            )
            pairs.append((before, after))
        audit_log(
            account=account, actor=created_by, actor_label=actor_label, action="order.proxies_replaced",
            target=order.public_id, ip=client_ip,
            details={"replaced": [{"old": f"{b.host}:{b.port}", "new": f"{a.host}:{a.port}"} for b, a in pairs]},
        )
    return pairs


# --- list links -----------------------------------------------------------------------------

LIST_LINK_TOKEN_LENGTH = 43  # base62: about 256 bits
LIST_LINKS_PER_ORDER_MAX = 10


def list_link_token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def list_link_url(token: str) -> str:
    from django.conf import settings
    from django.urls import reverse

    return settings.SITE_URL.rstrip("/") + reverse("list_link", args=[token])


def order_list_link_create(
    *, account: Account, order_id: str, created_by: User | None = None, actor_label: str = "",
    client_ip: str | None = None,
) -> tuple:
    """A secret URL serving the order's proxy list without a key: (link, url). Only the token's
    hash is stored, so the URL is shown once."""
    from accounts.services import audit_log
    from core.ids import random_base62

    from .models import OrderListLink

    with transaction.atomic():
        order = Order.objects.for_account(account).select_for_update().filter(public_id=order_id).first()
        if order is None:
            raise NotFound("Order not found.")
        if OrderListLink.objects.live().filter(order=order).count() >= LIST_LINKS_PER_ORDER_MAX:
            raise Conflict(f"At most {LIST_LINKS_PER_ORDER_MAX} list links per order; revoke one first.")
        token = random_base62(LIST_LINK_TOKEN_LENGTH)
        link = OrderListLink.objects.create(
            order=order, token_hash=list_link_token_hash(token), token_hint=token[:6], created_by=created_by,
        )
        audit_log(account=account, actor=created_by, actor_label=actor_label, action="order.list_link_created",
                  target=f"{order.public_id} {link.public_id}", ip=client_ip)
    return link, list_link_url(token)


def order_list_link_revoke(
    *, account: Account, order_id: str, link_id: str, actor: User | None = None, actor_label: str = "",
    client_ip: str | None = None,
) -> None:
    """Revokes a list link at once: its URL answers 404 from the next request on."""
    from accounts.services import audit_log

    from .models import OrderListLink

    with transaction.atomic():
        link = (
            OrderListLink.objects.live().select_for_update()
            .filter(order__account=account, order__public_id=order_id, public_id=link_id).first()
        )
        if link is None:
            raise NotFound("List link not found.")
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit_log(account=account, actor=actor, actor_label=actor_label, action="order.list_link_revoked",
                  target=f"{order_id} {link_id}", ip=client_ip)


# --- low-stock alerts -------------------------------------------------------------------------


def stock_thresholds_check(*, now=None) -> dict:
    """Compares the stock that can be sold with each StockThreshold: one e-mail to the staff
    for the thresholds newly crossed downwards (each is marked `alerted_at`, so it is not told
    again), and a crossed one that has recovered is cleared to alert again next time.
    Returns {"low": [...], "recovered": [...]} as "type country" labels."""
    from django.conf import settings
    from django.urls import reverse

    from accounts.services import staff_mail

    from .models import StockThreshold
    from .providers.inventory import free_stock

    now = now or timezone.now()
    low, recovered = [], []
    with transaction.atomic():
        for threshold in StockThreshold.objects.select_for_update().order_by("type", "country"):
            free = free_stock(threshold.type, threshold.country).count()
            label = f"{threshold.type} {threshold.country or '(all countries)'}"
            if free < threshold.minimum and threshold.alerted_at is None:
                threshold.alerted_at = now
                threshold.save(update_fields=["alerted_at"])
                low.append((label, free, threshold.minimum))
            elif free >= threshold.minimum and threshold.alerted_at is not None:
                threshold.alerted_at = None
                threshold.save(update_fields=["alerted_at"])
                recovered.append(label)
        if low:
            lines = "\n".join(f"- {label}: {free} can be sold, threshold {minimum}" for label, free, minimum in low)
            console = settings.SITE_URL.rstrip("/") + reverse("console")
            subject = (f"Low stock: {low[0][0]} ({low[0][1]} left)" if len(low) == 1
                       else f"Low stock: {len(low)} types/countries")
            message = (
                f"Stock has fallen below its threshold:\n\n{lines}\n\n"
                "Load more with `manage.py importproxies --pool inventory --type TYPE --country CC FILE`; "
                f"each is told once, and again only after it has recovered.\n\nStock levels: {console}"
            )
            transaction.on_commit(lambda: staff_mail(subject, message))
    return {"low": [label for label, _, _ in low], "recovered": recovered}
