"""The residential wing's writes: sub-user proxies (create, update, delete, re-evaluate) and usage
ingestion (the signed webhook and the provider pull).

A sub-user draws on one of its account's active residential orders. Traffic is metered in
bytes and shown in decimal gigabytes (1 GB = 10^9 bytes; bytes_total = bytes_in + bytes_out).

Lock order (docs/architecture.md#the-lock-order-for-money): the account row first, then its orders,
then its sub-users.

Provider hooks. The provider interface (`orders/providers/base.py`) is allocate / extend /
release / usage. A provider may also implement the optional sub-user hooks
`subuser_upsert(proxy)` (create or update, incl. enable/disable) and `subuser_release(proxy)`;
they are called when present. The embedded inventory provider needs none: its gateway
authenticates sub-users from this database. Sub-users of an upstream seller's order (provider
`upstream`) are mirrored there instead, upstream first (`upstream.py`).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import string
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Account
from accounts.services import account_lock
from core.errors import Conflict, DomainValidationError, NotFound, PortalError, UpstreamError
from core.ids import random_base62
from core.metrics import usage_records
from orders.models import Order, OrderStatus, ProxyTypeCode
from orders.providers import get_provider

from . import geo, upstream
from .events import subusers_disabled_emit
from .models import (
    BYTES_PER_GB,
    DisabledReason,
    Rotation,
    SubUserProtocol,
    SubUserProxy,
    SubUserStatus,
    UsagePurge,
    UsageRecord,
    UsageTotal,
)
from .rollups import RawRecord, UsageDelta, records_insert, rollups_add
from .selectors import max_subusers, subuser_get

logger = logging.getLogger(__name__)

MAX_WHITELIST_ENTRIES = 100
STICKY_TTL_RANGE = (1, 1440)
SYSTEM_REASONS = (DisabledReason.ORDER_EXHAUSTED, DisabledReason.ORDER_INACTIVE)
_LOGIN_ALPHABET = string.ascii_lowercase + string.digits


# --- input validation ---------------------------------------------------------------------------


def validate_whitelist(entries, *, field_name: str = "whitelist") -> list[str]:
    """IP addresses and CIDR ranges (IPv4 or IPv6), normalised and de-duplicated."""
    if entries is None:
        return []
    if isinstance(entries, str):
        entries = [e for e in entries.replace(",", "\n").split() if e]
    if not isinstance(entries, list | tuple):
        raise DomainValidationError({field_name: "A list of IP addresses or CIDR ranges."})
    if len(entries) > MAX_WHITELIST_ENTRIES:
        raise DomainValidationError({field_name: f"At most {MAX_WHITELIST_ENTRIES} entries."})
    out: list[str] = []
    bad: list[str] = []
    for raw in entries:
        text = str(raw).strip() if isinstance(raw, str) else None
        if not text or len(text) > 64:
            bad.append(str(raw)[:64])
            continue
        try:
            value = str(ipaddress.ip_network(text, strict=False)) if "/" in text else str(ipaddress.ip_address(text))
        except ValueError:
            bad.append(text)
            continue
        if value not in out:
            out.append(value)
    if bad:
        raise DomainValidationError({field_name: [f"'{b}' is not an IP address or CIDR range." for b in bad[:10]]})
    return out


def _new_login() -> str:
    return "sp" + "".join(secrets.choice(_LOGIN_ALPHABET) for _ in range(10))


def _new_session() -> str:
    return "".join(secrets.choice(_LOGIN_ALPHABET) for _ in range(8))


def _residential_order(*, account: Account, order_id: str, lock: bool = False) -> Order:
    qs = Order.objects.for_account(account)
    if lock:
        qs = qs.select_for_update()
    order = qs.filter(public_id=str(order_id or "")).first()
    if order is None:
        raise NotFound("Order not found.")
    if order.type != ProxyTypeCode.RESIDENTIAL:
        raise DomainValidationError({"order_id": "Sub-user proxies draw on a residential order."})
    if order.status != OrderStatus.ACTIVE:
        raise DomainValidationError({"order_id": f"The order is {order.status}, not active."})
    return order


def _order_used_bytes(order: Order) -> int:
    return UsageTotal.objects.filter(order=order).aggregate(
        b=Sum("bytes_in") + Sum("bytes_out")
    )["b"] or 0


def _order_has_traffic(order: Order, used_bytes: int | None = None) -> bool:
    if order.status != OrderStatus.ACTIVE or order.type != ProxyTypeCode.RESIDENTIAL:
        return False
    if order.traffic_gb is None:
        return True
    used = _order_used_bytes(order) if used_bytes is None else used_bytes
    return used < int(order.traffic_gb * BYTES_PER_GB)


def _own_limit_reached(proxy: SubUserProxy) -> bool:
    limit = proxy.traffic_limit_bytes
    return limit is not None and proxy.traffic_used_bytes >= limit


# --- provider notifications ---------------------------------------------------------------------


def _provider_hook(proxy: SubUserProxy, hook_name: str, *, quiet: bool) -> None:
    provider = get_provider(proxy.order.provider or None)
    hook = getattr(provider, hook_name, None)
    if hook is None:
        return
    try:
        hook(proxy)
    except PortalError as exc:
        if not quiet:
            raise
        logger.warning("provider %s(%s) failed: %s", hook_name, proxy.public_id, exc.message)
    except Exception as exc:
        if not quiet:
            raise UpstreamError("The proxy provider failed.") from exc
        logger.exception("provider %s(%s) failed", hook_name, proxy.public_id)


def _tell_provider_later(proxy_pks: list[int]) -> None:
    """After commit: push the current state of these sub-users to the provider (quietly). Those
    of an upstream seller are marked pending first, so a push that fails is tried again by the
    next usage pull (`upstream_sync_pending`)."""
    if not proxy_pks:
        return
    SubUserProxy.objects.filter(pk__in=proxy_pks, deleted_at__isnull=True).exclude(upstream_id="").update(
        upstream_pending=True
    )

    def push():
        for proxy in SubUserProxy.objects.filter(pk__in=proxy_pks).select_related("order"):
            if proxy.upstream_id:
                if proxy.upstream_pending and proxy.deleted_at is None:
                    upstream.remote_push(proxy)
            else:
                _provider_hook(proxy, "subuser_upsert", quiet=True)

    transaction.on_commit(push)


def upstream_sync_pending() -> int:
    """Pushes sub-users whose system-made change the upstream has not taken yet; how many it took."""
    pushed = 0
    for proxy in SubUserProxy.objects.filter(upstream_pending=True, deleted_at__isnull=True).select_related("order"):
        pushed += upstream.remote_push(proxy)
    return pushed


# --- create, update, delete --------------------------------------------------------------------


@dataclass
class SubUserInput:
    name: str | None = None
    order_id: str | None = None
    protocol: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zip: str | None = None
    rotation: str | None = None
    sticky_ttl_minutes: int | None = None
    traffic_limit_gb: Decimal | None = None
    whitelist: list | None = None
    status: str | None = None


def _apply_geo(proxy: SubUserProxy, country, state, city, zip_code) -> None:
    target = geo.validate_geo(country, state, city, zip_code)
    proxy.country, proxy.state, proxy.city, proxy.zip = target.country, target.state, target.city, target.zip


def subuser_create(
    *,
    account: Account,
    order_id: str,
    name: str,
    protocol: str = SubUserProtocol.HTTP,
    country: str = "",
    state: str = "",
    city: str = "",
    zip: str = "",  # noqa: A002
    rotation: str = Rotation.ROTATING,
    sticky_ttl_minutes: int = 10,
    traffic_limit_gb: Decimal | None = None,
    whitelist: list | None = None,
) -> SubUserProxy:
    proxy = SubUserProxy(
        account=account, name=(name or "").strip()[:100], protocol=protocol, rotation=rotation,
        sticky_ttl_minutes=sticky_ttl_minutes, traffic_limit_gb=traffic_limit_gb,
        whitelist=validate_whitelist(whitelist), username=_new_login(), password=random_base62(16),
    )
    if not proxy.name:
        raise DomainValidationError({"name": "A name is required."})
    _apply_geo(proxy, country, state, city, zip)
    if rotation == Rotation.STICKY:
        proxy.session_id = _new_session()
    with transaction.atomic():
        account_lock(account.pk)
        order = _residential_order(account=account, order_id=order_id, lock=True)
        limit = max_subusers(account)
        if SubUserProxy.objects.for_account(account).count() >= limit:
            raise Conflict(f"This account has reached its limit of {limit} sub-user proxies.")
        _refuse_taken_name(proxy)
        if not _order_has_traffic(order):
            raise DomainValidationError({"order_id": "The order's traffic is used up."})
        proxy.order = order
        if upstream.is_upstream_order(order):
            return _create_upstream(proxy)
        while SubUserProxy.objects.filter(username=proxy.username).exists():
            proxy.username = _new_login()
        proxy.save()
        _provider_hook(proxy, "subuser_upsert", quiet=False)  # a failure rolls the creation back
    return proxy


def _refuse_taken_name(proxy: SubUserProxy) -> None:
    """One live sub-user per name (case aside) in an account, so a name tells them apart; the
    caller holds the account lock, and the database's constraint backs it."""
    taken = SubUserProxy.objects.for_account(proxy.account).filter(name__iexact=proxy.name)
    if proxy.pk is not None:
        taken = taken.exclude(pk=proxy.pk)
    if taken.exists():
        message = f"A proxy named “{proxy.name}” already exists in this account; choose another name."
        raise Conflict(message, meta={"fields": {"name": [message]}})


def _create_upstream(proxy: SubUserProxy) -> SubUserProxy:
    """Upstream first: the sub-user is created there, then saved here with its credentials; if
    the local save fails, the upstream one is deleted again. Called inside the caller's lock."""
    remote = upstream.remote_create(proxy)
    proxy.session_id = ""  # the upstream keeps the sticky session in its own connection username
    if len(remote.base_username) <= 40 and not SubUserProxy.objects.filter(username=remote.base_username).exists():
        proxy.username = remote.base_username
    while SubUserProxy.objects.filter(username=proxy.username).exists():
        proxy.username = _new_login()
    try:
        with transaction.atomic():
            proxy.save()
    except Exception:
        upstream.remote_forget(remote.id)
        raise
    return proxy


def subuser_update(*, account: Account, public_id: str, changes: SubUserInput) -> SubUserProxy:
    """Applies the given (non-None) fields. Raising the own limit, or moving to an order with
    traffic left, re-enables a proxy the system had disabled; `status` enables or disables it."""
    with transaction.atomic():
        account_lock(account.pk)
        proxy = subuser_get(account=account, public_id=public_id, lock=True)
        mirrored = upstream.mirror_state(proxy) if proxy.upstream_id else None
        if changes.name is not None:
            name = changes.name.strip()[:100]
            if not name:
                raise DomainValidationError({"name": "A name is required."})
            proxy.name = name
            _refuse_taken_name(proxy)
        if changes.order_id is not None and changes.order_id != proxy.order.public_id:
            moved_to = _residential_order(account=account, order_id=changes.order_id, lock=True)
            if upstream.is_upstream_order(moved_to) != bool(proxy.upstream_id):
                raise DomainValidationError({"order_id": "The proxy can move only to an order of the same provider."})
            proxy.order = moved_to
        if changes.protocol is not None:
            proxy.protocol = changes.protocol
        if any(v is not None for v in (changes.country, changes.state, changes.city, changes.zip)):
            new_country = proxy.country if changes.country is None else changes.country
            country_changed = (new_country or "").upper() != proxy.country
            # a new country drops the narrower targets not given again
            keep = "" if country_changed else None
            _apply_geo(
                proxy, new_country,
                changes.state if changes.state is not None else (keep if keep is not None else proxy.state),
                changes.city if changes.city is not None else (keep if keep is not None else proxy.city),
                changes.zip if changes.zip is not None else (keep if keep is not None else proxy.zip),
            )
        if changes.rotation is not None:
            if changes.rotation == Rotation.STICKY and not proxy.session_id:
                proxy.session_id = _new_session()
            if changes.rotation == Rotation.ROTATING:
                proxy.session_id = ""
            proxy.rotation = changes.rotation
        if changes.sticky_ttl_minutes is not None:
            proxy.sticky_ttl_minutes = changes.sticky_ttl_minutes
        if changes.traffic_limit_gb is not None:
            proxy.traffic_limit_gb = changes.traffic_limit_gb if changes.traffic_limit_gb > 0 else None
        if changes.whitelist is not None:
            proxy.whitelist = validate_whitelist(changes.whitelist)

        if changes.status == SubUserStatus.DISABLED:
            proxy.status, proxy.disabled_reason = SubUserStatus.DISABLED, DisabledReason.BY_USER
        elif changes.status == SubUserStatus.ACTIVE or proxy.disabled_reason != DisabledReason.BY_USER:
            # enabling by hand, or re-evaluating a proxy the system disabled
            explicit = changes.status == SubUserStatus.ACTIVE
            _evaluate(proxy, explicit=explicit)
        if mirrored is not None:
            # upstream first: a failure there raises here and rolls back every change above
            wanted = upstream.mirror_state(proxy) if proxy.upstream_pending else upstream.changed_fields(
                mirrored, upstream.mirror_state(proxy))
            upstream.remote_update(proxy, wanted)
            proxy.save()
        else:
            proxy.save()
            _provider_hook(proxy, "subuser_upsert", quiet=False)
    return proxy


def _evaluate(proxy: SubUserProxy, *, explicit: bool, order_used: dict[int, int] | None = None) -> None:
    """Sets status from the limits: active unless the own limit or the order's allowance is used
    up (moving to another active residential order of the account with traffic left first).
    `order_used`: the bytes used of orders summed already ({order pk: bytes})."""
    if _own_limit_reached(proxy):
        if explicit:
            raise Conflict("The proxy's traffic limit is used up: raise traffic_limit_gb to enable it.")
        proxy.status, proxy.disabled_reason = SubUserStatus.DISABLED, DisabledReason.TRAFFIC_LIMIT
        return
    if not _order_has_traffic(proxy.order, (order_used or {}).get(proxy.order_id)):
        replacement = _order_with_traffic(
            proxy.account_id, exclude=proxy.order_id, upstream_provided=bool(proxy.upstream_id)
        )
        if replacement is None:
            if explicit:
                raise Conflict("The order's traffic is used up: top up with a new residential order.")
            reason = (
                DisabledReason.ORDER_EXHAUSTED if proxy.order.status == OrderStatus.ACTIVE
                else DisabledReason.ORDER_INACTIVE
            )
            proxy.status, proxy.disabled_reason = SubUserStatus.DISABLED, reason
            return
        proxy.order = replacement
    proxy.status, proxy.disabled_reason = SubUserStatus.ACTIVE, ""


def _order_with_traffic(account_id: int, *, exclude: int | None = None, upstream_provided: bool = False) -> Order | None:
    """The account's oldest active residential order with traffic left, of an upstream seller
    for a sub-user that lives there, else of any other provider."""
    candidates = (
        Order.objects.filter(account_id=account_id, type=ProxyTypeCode.RESIDENTIAL, status=OrderStatus.ACTIVE)
        .exclude(pk=exclude)
        .order_by("activated_at", "id")
    )
    if upstream_provided:
        candidates = candidates.filter(provider=upstream.UPSTREAM_PROVIDER)
    else:
        candidates = candidates.exclude(provider=upstream.UPSTREAM_PROVIDER)
    for order in candidates:
        if _order_has_traffic(order):
            return order
    return None


def subuser_delete(*, account: Account, public_id: str) -> None:
    """Releases the sub-user at the provider and removes it (its usage stays in the statistics)."""
    with transaction.atomic():
        proxy = subuser_get(account=account, public_id=public_id, lock=True)
        if proxy.upstream_id:
            upstream.remote_delete(proxy)  # upstream first: a failure there changes nothing here
        proxy.deleted_at = timezone.now()
        proxy.status, proxy.disabled_reason = SubUserStatus.DISABLED, DisabledReason.BY_USER
        proxy.upstream_pending = False
        proxy.save(update_fields=["deleted_at", "status", "disabled_reason", "upstream_pending", "updated_at"])
        if not proxy.upstream_id:
            _provider_hook(proxy, "subuser_release", quiet=False)


def subusers_reconcile(*, account: Account | None = None) -> int:
    """Re-evaluates sub-users the system disabled (an order was topped up or ended) and active
    ones whose order ended. Returns how many changed state. Safe to run at any time."""
    qs = SubUserProxy.objects.filter(deleted_at__isnull=True).filter(
        Q(status=SubUserStatus.DISABLED, disabled_reason__in=[*SYSTEM_REASONS, DisabledReason.TRAFFIC_LIMIT])
        | Q(status=SubUserStatus.ACTIVE) & ~Q(order__status=OrderStatus.ACTIVE)
    )
    if account is not None:
        qs = qs.filter(account=account)
    changed = 0
    for account_id in sorted(set(qs.values_list("account_id", flat=True))):
        with transaction.atomic():
            account_lock(account_id)
            touched = []
            for proxy in qs.filter(account_id=account_id).select_for_update(of=("self",)).select_related("order"):
                before = (proxy.status, proxy.disabled_reason, proxy.order_id)
                _evaluate(proxy, explicit=False)
                if (proxy.status, proxy.disabled_reason, proxy.order_id) != before:
                    proxy.save(update_fields=["status", "disabled_reason", "order", "updated_at"])
                    touched.append(proxy.pk)
            changed += len(touched)
            _tell_provider_later(touched)
    return changed


def subusers_on_order_activated(*, order: Order) -> int:
    """A residential order became active (a top-up): re-enable what its traffic can serve."""
    if order.type != ProxyTypeCode.RESIDENTIAL:
        return 0
    return subusers_reconcile(account=order.account)


# --- usage ingestion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageIn:
    id: str
    username: str
    period_start: datetime
    bytes_in: int
    bytes_out: int
    requests: int = 0


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    unknown: list[str] | None = None
    disabled: list[str] | None = None
    updated: int | None = None  # records whose figures replaced a stored one (`replace`)
    too_old: list[str] | None = None  # records of hours whose raw records were purged

    def as_dict(self) -> dict:
        out = {
            "accepted": self.accepted, "duplicates": self.duplicates,
            "unknown": self.unknown or [], "disabled": self.disabled or [],
            "too_old": self.too_old or [],
        }
        if self.updated is not None:
            out["updated"] = self.updated
        return out


def _hour(value: datetime) -> datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def base_username(connection_username: str) -> str:
    """A record may name the base login or the full connection username with its targeting."""
    return (connection_username or "").split("-", 1)[0].strip().lower()


def usage_ingest(*, records: list[UsageIn], source: str = "webhook", replace: bool = False) -> IngestResult:
    """Stores each record once (by its id), adds it to its proxy's and order's usage, and disables
    proxies whose own limit or whose order's allowance is used up. Unknown usernames are reported
    back and stored nowhere. Deleted sub-users' late records still count (the traffic was used).

    `replace`: a record whose id is stored already with other figures replaces them (an hour the
    upstream has counted further since the last pull); equal figures are a duplicate.

    Each stored record is added once to the hourly, daily and per-order rollups
    (`rollups.rollups_add`), in the same transaction; a replaced one adds its difference.
    Records of hours whose raw records were purged (`usage_raw_purge`) cannot be told from a
    re-sent one: they are reported back in `too_old` and stored nowhere."""
    result = IngestResult(unknown=[], disabled=[], updated=0 if replace else None, too_old=[])
    horizon = UsagePurge.objects.order_by("-before").values_list("before", flat=True).first()
    seen: set[str] = set()
    unique: list[UsageIn] = []
    for r in records:
        if r.id in seen:
            result.duplicates += 1
            continue
        seen.add(r.id)
        if horizon is not None and _hour(r.period_start) < horizon:
            result.too_old.append(r.id)
            continue
        unique.append(r)
    logins = {base_username(r.username) for r in unique}
    proxies = {p.username: p for p in SubUserProxy.objects.filter(username__in=logins)}
    by_account: dict[int, list[UsageIn]] = defaultdict(list)
    for r in unique:
        proxy = proxies.get(base_username(r.username))
        if proxy is None:
            result.unknown.append(r.id)
        else:
            by_account[proxy.account_id].append(r)

    received = timezone.now()
    for account_id in sorted(by_account):
        # In record id order, so that two deliveries sharing records wait for each other in one order.
        batch = sorted(by_account[account_id], key=lambda r: r.id)
        rows = []
        for r in batch:
            proxy = proxies[base_username(r.username)]
            rows.append(RawRecord(r.id, account_id, proxy.pk, proxy.order_id, _hour(r.period_start),
                                  r.bytes_in, r.bytes_out, r.requests))
        # The raw records (an ingest's largest write) are inserted before the account lock is
        # taken, so that deliveries for one account insert side by side: the unique record id (the
        # INSERT's ON CONFLICT DO NOTHING) decides what is new. The lock is taken next and held to
        # add to the rollups (rows every delivery of the account shares) and re-evaluate used
        # traffic (`_apply_usage`). Before the lock a delivery locks only its own raw records
        # (foreign keys are checked at commit), so none waits for another while holding the
        # account. A record counts against the order its proxy was on when the delivery was read.
        with transaction.atomic():
            inserted = records_insert(rows, source=source, received_at=received)
            deltas = [UsageDelta(*row[1:]) for row in rows if row.record_id in inserted]
            result.accepted += len(deltas)
            others = [r for r in batch if r.id not in inserted]
            updated = 0
            if replace and others:
                existing = {u.record_id: u for u in UsageRecord.objects.filter(record_id__in=[r.id for r in others])}
                for r in others:
                    stored = existing.get(r.id)
                    if stored is None or (stored.bytes_in, stored.bytes_out, stored.requests) == (
                            r.bytes_in, r.bytes_out, r.requests):
                        continue
                    deltas.append(UsageDelta(
                        account_id, stored.proxy_id, stored.order_id, _hour(stored.period_start),
                        r.bytes_in - stored.bytes_in, r.bytes_out - stored.bytes_out, r.requests - stored.requests,
                    ))
                    stored.bytes_in, stored.bytes_out, stored.requests = r.bytes_in, r.bytes_out, r.requests
                    stored.save(update_fields=["bytes_in", "bytes_out", "requests"])
                    updated += 1
                result.updated += updated
            result.duplicates += len(others) - updated
            if not deltas:
                continue
            account_lock(account_id)
            rollups_add(deltas)
            locked = (SubUserProxy.objects.select_for_update(of=("self",)).select_related("order")
                      .filter(pk__in=sorted({row.proxy_id for row in rows})).order_by("pk"))
            result.disabled += _apply_usage(list(locked))
    for outcome, count in (("accepted", result.accepted), ("duplicate", result.duplicates),
                           ("unknown", len(result.unknown)), ("too_old", len(result.too_old))):
        if count:
            usage_records.labels(source, outcome).inc(count)
    return result


def _apply_usage(proxies: list[SubUserProxy]) -> list[str]:
    """Recomputes used traffic of these proxies and their orders from the usage totals (so it is
    exact and idempotent, and stays so once raw records are purged) and disables what reached a
    limit. Returns the ids it disabled."""
    disabled: list[str] = []
    touched: list[int] = []
    sums = dict(
        UsageTotal.objects.filter(proxy__in=proxies).values("proxy_id")
        .annotate(b=Sum("bytes_in") + Sum("bytes_out")).values_list("proxy_id", "b")
    )
    order_ids = sorted({p.order_id for p in proxies})
    orders = {o.pk: o for o in Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk")}
    order_used = dict(
        UsageTotal.objects.filter(order_id__in=order_ids).values("order_id")
        .annotate(b=Sum("bytes_in") + Sum("bytes_out")).values_list("order_id", "b")
    )
    for order in orders.values():
        used = order_used.get(order.pk, 0) or 0
        order.traffic_used_gb = (Decimal(used) / BYTES_PER_GB).quantize(Decimal("0.000001"))
        order.save(update_fields=["traffic_used_gb"])
    changed = []
    for proxy in proxies:
        proxy.traffic_used_bytes = sums.get(proxy.pk, 0) or 0
        proxy.order = orders.get(proxy.order_id, proxy.order)
        if proxy.status == SubUserStatus.ACTIVE and proxy.deleted_at is None:
            before = (proxy.status, proxy.disabled_reason, proxy.order_id)
            _evaluate(proxy, explicit=False, order_used=order_used)
            if proxy.status == SubUserStatus.DISABLED:
                disabled.append(proxy.public_id)
                touched.append(proxy.pk)
            if (proxy.status, proxy.disabled_reason, proxy.order_id) != before:
                changed.append(proxy)
    # Used traffic of them all in one UPDATE (from the same totals); a changed status one by one.
    used = (UsageTotal.objects.filter(proxy=OuterRef("pk")).order_by().values("proxy")
            .annotate(b=Sum("bytes_in") + Sum("bytes_out")).values("b"))
    SubUserProxy.objects.filter(pk__in=[p.pk for p in proxies]).update(
        traffic_used_bytes=Coalesce(Subquery(used), 0), updated_at=timezone.now(),
    )
    for proxy in changed:
        proxy.save(update_fields=["status", "disabled_reason", "order", "updated_at"])
    # other active proxies on an order that just ran out stop too
    for order in orders.values():
        if order.traffic_gb is not None and not _order_has_traffic(order, order_used.get(order.pk, 0) or 0):
            others = SubUserProxy.objects.select_for_update(of=("self",)).select_related("order").filter(
                order=order, status=SubUserStatus.ACTIVE, deleted_at__isnull=True
            ).exclude(pk__in=[p.pk for p in proxies]).order_by("pk")
            for proxy in others:
                _evaluate(proxy, explicit=False)
                proxy.save(update_fields=["status", "disabled_reason", "order", "updated_at"])
                if proxy.status == SubUserStatus.DISABLED:
                    disabled.append(proxy.public_id)
                touched.append(proxy.pk)
    _tell_provider_later(touched)
    subusers_disabled_emit(public_ids=disabled)
    return disabled


def usage_raw_purge(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Deletes raw usage records of hours older than `USAGE_RAW_RETENTION_DAYS` (the rollups
    keep their figures), in batches so no transaction holds a year of rows. The horizon is
    written first, in its own transaction: from then on ingest refuses records older than it,
    which could otherwise be counted a second time once their raw record is gone."""
    now = now or timezone.now()
    before = _hour(now - timedelta(days=settings.USAGE_RAW_RETENTION_DAYS))
    latest = UsagePurge.objects.order_by("-before").first()
    mark = latest if latest is not None and latest.before >= before else UsagePurge.objects.create(before=before)
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(UsageRecord.objects.filter(period_start__lt=mark.before)
                       .order_by().values_list("pk", flat=True)[:batch])
            if not ids:
                break
            deleted += UsageRecord.objects.filter(pk__in=ids).delete()[0]
    if deleted:
        UsagePurge.objects.filter(pk=mark.pk).update(deleted=F("deleted") + deleted, ran_at=now)
    return deleted


def usage_pull(*, since: datetime | None = None) -> IngestResult:
    """Pulls usage through the configured provider adapter and ingests it like the webhook."""
    provider = get_provider()
    records = provider.usage(since=since)
    return usage_ingest(
        records=[
            UsageIn(id=r.id, username=r.username, period_start=r.period_start, bytes_in=r.bytes_in,
                    bytes_out=r.bytes_out, requests=r.requests)
            for r in records
        ],
        source="pull",
    )


def usage_pull_upstream(*, since: datetime) -> IngestResult:
    """Pulls the hourly traffic of sub-users that live at the upstream seller (`GET /stats?
    group_by=hour&proxy_id=` for each) and ingests it: one record per (sub-user, hour), so pulling
    the same hours again adds nothing, and an hour counted further upstream replaces the stored
    figures. Sub-users deleted since `since` are pulled too (their last traffic counts). If the
    upstream fails, what was pulled before is ingested and the failure raised after."""
    proxies = (
        SubUserProxy.objects.exclude(upstream_id="")
        .filter(Q(deleted_at__isnull=True) | Q(deleted_at__gte=since))
        .order_by("pk")
    )
    records: list[UsageIn] = []
    failure: UpstreamError | None = None
    for proxy in proxies:
        try:
            rows = upstream.remote_hours(proxy, since=since)
        except UpstreamError as exc:
            failure = exc
            break
        records += [
            UsageIn(id=upstream.usage_record_id(proxy, row.period_start), username=proxy.username,
                    period_start=row.period_start, bytes_in=row.bytes_in, bytes_out=row.bytes_out,
                    requests=row.requests)
            for row in rows
        ]
    result = usage_ingest(records=records, source="upstream", replace=True)
    if failure is not None:
        raise UpstreamError(f"Pulling usage from the upstream seller failed: {failure.message}",
                            upstream_status=failure.upstream_status,
                            upstream_error_type=failure.upstream_error_type) from failure
    return result
