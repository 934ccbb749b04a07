"""Reads: orders scoped to an account, their proxies, the catalogue, overview figures."""

from decimal import Decimal

from django.db.models import Count, OuterRef, Prefetch, Q, Sum

from accounts.models import Account
from core.db import PreparedQuery, count_subquery
from core.errors import DomainValidationError, NotFound

from .catalogue import catalogue
from .models import (
    Country,
    InventoryProxy,
    Order,
    OrderProxy,
    OrderStatus,
    Period,
    ProxyType,
    ProxyTypeCode,
    StockStatus,
    StockThreshold,
    UpstreamBalanceCheck,
    UpstreamCallFailure,
)


def _live_proxy_count():
    """Each order's proxies not yet released, counted per row: a page of orders reads its
    rows through the (account, created_at) index and counts only theirs, where a join with
    GROUP BY would count the proxies of every order of the account first."""
    return count_subquery(OrderProxy.objects.filter(order=OuterRef("pk"), released_at__isnull=True))


# What a list of orders shows of each (the API's and the dashboard's): not the provider's
# bookkeeping, the reminders and the other timestamps, each parsed per row when read.
_LISTED = (
    "account", "public_id", "type", "quantity", "period_days", "country", "status", "unit_price", "subtotal",
    "discount", "total", "created_at", "activated_at", "expires_at", "traffic_gb", "traffic_used_gb",
    "failure_reason", "auto_renew",
)


def _orders(*, account_id: int, type: str | None = None, status: str | None = None):  # noqa: A002
    qs = Order.objects.for_account(account_id).annotate(proxy_count=_live_proxy_count())
    if type:
        qs = qs.filter(type=type)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


# Built and compiled once per shape (core.db.PreparedQuery): the API's most read queries.
_ORDERS = PreparedQuery(
    lambda *, account_id, type, status: _orders(account_id=account_id, type=type, status=status).only(*_LISTED)
)
_ORDER = PreparedQuery(lambda *, account_id, public_id: _orders(account_id=account_id).filter(public_id=public_id)[:1])
# The columns customers connect with: lists and downloads of thousands skip the timestamps.
_PROXY_COLUMNS = ("host", "port", "username", "password", "protocol", "country")
_ORDER_PROXIES = PreparedQuery(
    lambda *, order_id: OrderProxy.objects.filter(order_id=order_id, released_at__isnull=True)
    .only(*_PROXY_COLUMNS).order_by("id")
)
_ACCOUNT_ORDER_PROXIES = PreparedQuery(
    lambda *, account_id, public_id: OrderProxy.objects.filter(
        order__account_id=account_id, order__public_id=public_id, released_at__isnull=True,
    ).only(*_PROXY_COLUMNS).order_by("id")
)


def orders_list(*, account: Account, type: str | None = None, status: str | None = None):  # noqa: A002
    """The account's orders, newest first, with `proxy_count` (proxies currently delivered)."""
    errors = {}
    if type and type not in ProxyTypeCode.values:
        errors["type"] = [f"Must be one of: {', '.join(ProxyTypeCode.values)}."]
    if status and status not in OrderStatus.values:
        errors["status"] = [f"Must be one of: {', '.join(OrderStatus.values)}."]
    if errors:
        raise DomainValidationError(errors)
    return _ORDERS(account_id=account.pk, type=type or None, status=status or None)


_ORDER_SHOWN = PreparedQuery(
    lambda *, account_id, public_id: _orders(account_id=account_id).only(*_LISTED).filter(public_id=public_id)
)


def order_shown(*, account: Account, public_id: str):
    """The account's order `public_id` as a query of at most one row, with its `proxy_count`,
    to render it (none for another tenant's or an unknown one)."""
    return _ORDER_SHOWN(account_id=account.pk, public_id=str(public_id or ""))


def order_get(*, account: Account, public_id: str) -> Order:
    order = next(iter(_ORDER(account_id=account.pk, public_id=public_id)), None)
    if order is None:
        raise NotFound("Order not found.")
    return order


def order_renewal_period(*, order: Order) -> int | None:
    """The days an auto-renewal buys: the order's last period (its latest extension's, else its own)."""
    last = order.extensions.order_by("-number").values_list("period_days", flat=True).first()
    return last or order.period_days


def account_order_proxies(*, account: Account, public_id: str):
    """The proxies of the account's order `public_id` without reading the order first: the
    query itself keeps to the account's orders, so another tenant's order (or no order) gives
    none. An empty page is then told apart by `order_get` (404, or an order with none)."""
    return _ACCOUNT_ORDER_PROXIES(account_id=account.pk, public_id=str(public_id or ""))


def order_proxies(*, account: Account, order: Order):
    """The proxies delivered to one of the account's orders and not yet released, with the
    columns customers connect with (lists and downloads of thousands skip the timestamps)."""
    if order.account_id != account.pk:
        raise NotFound("Order not found.")
    return _ORDER_PROXIES(order_id=order.pk)


def overview_figures(*, account: Account) -> dict:
    active = Order.objects.for_account(account).filter(status=OrderStatus.ACTIVE)
    traffic = active.filter(traffic_gb__isnull=False).aggregate(
        total=Sum("traffic_gb"), used=Sum("traffic_used_gb")
    )
    total = traffic["total"] or Decimal("0")
    used = traffic["used"] or Decimal("0")
    two = Decimal("0.01")
    return {
        "active_orders": active.count(),
        "traffic_total_gb": total.quantize(two),
        "traffic_used_gb": used.quantize(two),
        "traffic_left_gb": max(total - used, Decimal("0")).quantize(two),
    }


def account_has_ordered(*, account: Account) -> bool:
    """Whether the account ever placed an order (a failed one counts: the step was taken)."""
    return Order.objects.for_account(account).exists()


def orders_expiring(*, account: Account, within, now=None) -> list[Order]:
    """Active orders whose period ends within `within` (a timedelta) of `now`, soonest first."""
    from django.utils import timezone

    now = now or timezone.now()
    return list(
        Order.objects.for_account(account)
        .filter(status=OrderStatus.ACTIVE, expires_at__isnull=False, expires_at__lte=now + within)
        .order_by("expires_at", "id")
    )


def orders_low_traffic(*, account: Account, share: Decimal) -> list[Order]:
    """Active traffic orders with less than `share` (0.1 = 10 %) of their traffic left."""
    active = Order.objects.for_account(account).filter(
        status=OrderStatus.ACTIVE, traffic_gb__isnull=False, traffic_gb__gt=0
    ).order_by("created_at", "id")
    return [o for o in active if (o.traffic_gb - (o.traffic_used_gb or 0)) < o.traffic_gb * share]


def order_availability() -> list[dict]:
    """What the order form can sell now, per active type: `stock_backed` types (drawn from the
    operator's stock) with the free proxies per country of the catalogue and in all; the others
    (residential traffic, types bought upstream) are sold without local stock and count as
    available. [{code, name, stock_backed, available, total, countries: [{code, name, in_stock}]}]"""
    from .providers import provider_for_type
    from .providers.inventory import free_stock_counts

    counts = free_stock_counts()
    found = []
    for proxy_type in proxy_types().prefetch_related("countries"):
        stock_backed = provider_for_type(proxy_type.code).stock_backed(proxy_type.code)
        entry = {"code": proxy_type.code, "name": proxy_type.name, "stock_backed": stock_backed}
        if stock_backed:
            by_country = counts.get(proxy_type.code, {})
            offered = sorted(
                (c for c in proxy_type.countries.all() if c.is_active), key=lambda c: c.name
            )
            entry["countries"] = [
                {"code": c.code, "name": c.name, "in_stock": by_country.get(c.code, 0)} for c in offered
            ]
            entry["total"] = sum(by_country.values())
            entry["available"] = entry["total"] > 0
        else:
            entry.update(countries=[], total=None, available=True)
        found.append(entry)
    return found


# --- reference data --------------------------------------------------------------------------


def proxy_types():
    return ProxyType.objects.filter(is_active=True).order_by("sort_order", "code")


def periods():
    return Period.objects.filter(is_active=True).order_by("days")


def countries(*, type: str | None = None):  # noqa: A002
    """Active countries orderable for at least one active type (or for `type`)."""
    active_types = ProxyType.objects.filter(is_active=True)
    if type:
        active_types = active_types.filter(code=type)
    return (
        Country.objects.filter(is_active=True, types__in=active_types)
        .distinct()
        .order_by("name")
        .prefetch_related(Prefetch("types", queryset=ProxyType.objects.filter(is_active=True).order_by("sort_order")))
    )


def _upstream_references(snapshot, types, *, asked_by_name: bool = False) -> dict:
    """type code → `Reference` for the types whose provider decides what it sells (bought
    upstream); the others are the local catalogue's. An upstream that cannot be asked is
    skipped when listing every type, and a 502 when its type is asked for by name."""
    from core.errors import UpstreamError

    from .providers import provider_for_type

    found = {}
    for proxy_type in types:
        try:
            reference = provider_for_type(proxy_type.code, snapshot=snapshot).reference(proxy_type.code)
        except UpstreamError:
            if asked_by_name:
                raise
            continue
        if reference is not None:
            found[proxy_type.code] = reference
    return found


def _active_types(snapshot) -> list[ProxyType]:
    return [snapshot.types[code] for code in snapshot.type_codes]


def reference_proxy_types() -> list[ProxyType]:
    """`proxy_types()` from the pricing's catalogue snapshot (orders.catalogue): no query,
    and every catalogue write is seen on the next request."""
    return _active_types(catalogue())


def _catalogue_countries(snapshot, types: list[ProxyType]) -> list[dict]:
    """`countries()` from the catalogue snapshot: the active countries orderable for one of
    `types`, by name, each with every active type orderable there."""
    wanted = {t.pk for t in types}
    every = _active_types(snapshot)
    out = []
    for country in snapshot.countries.values():
        ids = snapshot.country_type_ids[country.code]
        if ids & wanted:
            out.append({"code": country.code, "name": country.name, "types": [t.code for t in every if t.pk in ids]})
    return out


def reference_countries(*, type: str | None = None):  # noqa: A002
    """The countries orderable per type: the local catalogue's, and for a type bought
    upstream the upstream's, each with the types orderable there."""
    snapshot = catalogue()
    types = [t for t in _active_types(snapshot) if not type or t.code == type]
    upstream = _upstream_references(snapshot, types, asked_by_name=bool(type))
    if not upstream:
        return _catalogue_countries(snapshot, types)
    merged: dict[str, dict] = {}
    local = {t.code: t for t in types if t.code not in upstream}
    if local:
        for country in countries().filter(types__code__in=list(local)).distinct():
            codes = [t.code for t in country.types.all() if t.code in local]
            merged[country.code] = {"code": country.code, "name": country.name, "types": codes}
    for proxy_type in types:
        if proxy_type.code in upstream:
            for code, name in upstream[proxy_type.code].countries.items():
                entry = merged.setdefault(code, {"code": code, "name": name, "types": []})
                entry["types"].append(proxy_type.code)
    order = {t.code: i for i, t in enumerate(types)}
    for entry in merged.values():
        entry["types"].sort(key=order.__getitem__)
    return sorted(merged.values(), key=lambda c: c["name"])


def reference_periods():
    """The periods orderable for some type: the local catalogue's, and those of the types with
    a period bought upstream."""
    snapshot = catalogue()
    types = [t for t in _active_types(snapshot) if t.period_required]
    upstream = _upstream_references(snapshot, types)
    if not upstream:
        return list(snapshot.period_rows)
    local_types = [t for t in types if t.code not in upstream]
    merged = {p.days: {"days": p.days, "label": p.label} for p in snapshot.period_rows} if local_types else {}
    for reference in upstream.values():
        for days in reference.periods:
            merged.setdefault(days, {"days": days, "label": f"{days} day{'s' if days != 1 else ''}"})
    return [merged[days] for days in sorted(merged)]


# --- order tools: authorized IPs, replacements, list links ------------------------------------


def authorized_ips(*, account: Account):
    from .models import AuthorizedIP

    return AuthorizedIP.objects.for_account(account).order_by("created_at", "id")


def authorized_ip_export_rows():
    """(account id, ip, host, port, protocol) for every authorized IP and every live proxy from
    stock of its account, for the operator's proxy servers."""
    from .models import AuthorizedIP

    proxies: dict[int, list[tuple]] = {}
    live = OrderProxy.objects.filter(
        released_at__isnull=True, inventory__isnull=False, order__status=OrderStatus.ACTIVE
    ).values_list("order__account_id", "host", "port", "protocol")
    for account_id, host, port, protocol in live.iterator(chunk_size=2000):
        proxies.setdefault(account_id, []).append((host, port, protocol))
    rows = AuthorizedIP.objects.select_related("account").order_by("account_id", "created_at", "id")
    for row in rows.iterator(chunk_size=2000):
        for host, port, protocol in proxies.get(row.account_id, []):
            yield (row.account.public_id, row.ip, host, port, protocol)


def order_replacements(*, account: Account, order: Order):
    """The order's replacement history, newest first."""
    from .models import ProxyReplacement

    if order.account_id != account.pk:
        raise NotFound("Order not found.")
    return (
        ProxyReplacement.objects.filter(order=order)
        .select_related("old_proxy", "new_proxy", "created_by")
        .order_by("-created_at", "-id")
    )


def replacements_left(*, order: Order, live_count: int, now=None) -> int:
    """Replacements the order may still make in the current window."""
    from django.utils import timezone

    from .models import ProxyReplacement
    from .services import REPLACEMENT_WINDOW, replacement_quota

    now = now or timezone.now()
    used = ProxyReplacement.objects.filter(order=order, created_at__gt=now - REPLACEMENT_WINDOW).count()
    return max(0, replacement_quota(live_count) - used)


def order_list_links(*, account: Account, order: Order):
    """The order's live list links, newest first."""
    from .models import OrderListLink

    if order.account_id != account.pk:
        raise NotFound("Order not found.")
    return OrderListLink.objects.live().filter(order=order).order_by("-created_at", "-id")


def list_link_resolve(*, token: str):
    """The live list link whose token is `token` (its order and account joined), else NotFound."""
    import hmac

    from core.ids import BASE62

    from .models import OrderListLink
    from .services import LIST_LINK_TOKEN_LENGTH, list_link_token_hash

    if not isinstance(token, str) or len(token) != LIST_LINK_TOKEN_LENGTH or not set(token) <= set(BASE62):
        raise NotFound("List link not found.")
    digest = list_link_token_hash(token)
    link = OrderListLink.objects.live().select_related("order__account").filter(token_hash=digest).first()
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise NotFound("List link not found.")
    return link


# --- the operator's view (every account; the console in portal/console.py) ----------------------

FAILURES_SHOWN = 20


def order_status_counts(*, since=None) -> dict[str, int]:
    """Orders per status (every status, zeros included), those created since `since` only if given."""
    orders = Order.objects.all() if since is None else Order.objects.filter(created_at__gte=since)
    counts = dict(orders.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in OrderStatus.values}


def failed_orders(*, limit: int = FAILURES_SHOWN):
    """The latest orders that failed to provision, with the reason the customer was given."""
    return (Order.objects.filter(status=OrderStatus.FAILED).select_related("account")
            .order_by("-ended_at", "-id")[:limit])


def upstream_call_failures(*, limit: int = FAILURES_SHOWN):
    return UpstreamCallFailure.objects.select_related("order").order_by("-created_at", "-id")[:limit]


def stock_levels(*, now=None) -> list[dict]:
    """Stock per type and country: `free` (can be sold now), `resting` (replaced, in quarantine),
    `allocated`, `disabled`, with the low-stock `threshold` (StockThreshold.minimum, or None) and
    `low`. A threshold over all countries of a type is a row of its own (country ""), as is one
    for a type and country that has no stock at all."""
    from .providers.inventory import sellable

    free = sellable(now)
    counted = (
        InventoryProxy.objects.order_by().values("type", "country").annotate(
            free=Count("id", filter=free),
            resting=Count("id", filter=Q(status=StockStatus.AVAILABLE) & ~free),
            allocated=Count("id", filter=Q(status=StockStatus.ALLOCATED)),
            disabled=Count("id", filter=Q(status=StockStatus.DISABLED)),
        )
    )
    rows = {(r["type"], r["country"]): r for r in counted}
    empty = {"free": 0, "resting": 0, "allocated": 0, "disabled": 0}
    thresholds = {(t.type, t.country): t for t in StockThreshold.objects.all()}
    for type_code, country in thresholds:
        if (type_code, country) in rows:
            continue
        if country:
            rows[(type_code, country)] = {"type": type_code, "country": country, **empty}
        else:  # the type over every country
            total = {k: sum(r[k] for (t, c), r in rows.items() if t == type_code and c) for k in empty}
            rows[(type_code, "")] = {"type": type_code, "country": "", **total}
    result = []
    for key in sorted(rows):
        row = rows[key]
        threshold = thresholds.get(key)
        row["threshold"] = threshold.minimum if threshold else None
        row["low"] = threshold is not None and row["free"] < threshold.minimum
        result.append(row)
    return result


def upstream_balance():
    """The upstream balance as the beat last read it (None: never read), and whether the
    upstream is in use (UPSTREAM_API_URL set and a type provided through it)."""
    from .providers.upstream import upstream_in_use

    return {"in_use": upstream_in_use(), "last": UpstreamBalanceCheck.objects.order_by("-checked_at", "-id").first()}
