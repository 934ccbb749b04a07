"""Reads: orders scoped to an account, their proxies, the catalogue, overview figures."""

from decimal import Decimal

from django.db.models import Count, Prefetch, Q, Sum

from accounts.models import Account
from core.errors import DomainValidationError, NotFound

from .models import Country, Order, OrderProxy, OrderStatus, Period, ProxyType, ProxyTypeCode

LIVE_PROXIES = Q(proxies__released_at__isnull=True)


def orders_list(*, account: Account, type: str | None = None, status: str | None = None):  # noqa: A002
    """The account's orders, newest first, with `proxy_count` (proxies currently delivered)."""
    errors = {}
    if type and type not in ProxyTypeCode.values:
        errors["type"] = [f"Must be one of: {', '.join(ProxyTypeCode.values)}."]
    if status and status not in OrderStatus.values:
        errors["status"] = [f"Must be one of: {', '.join(OrderStatus.values)}."]
    if errors:
        raise DomainValidationError(errors)
    qs = Order.objects.for_account(account).annotate(proxy_count=Count("proxies", filter=LIVE_PROXIES))
    if type:
        qs = qs.filter(type=type)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def order_get(*, account: Account, public_id: str) -> Order:
    order = (
        Order.objects.for_account(account)
        .annotate(proxy_count=Count("proxies", filter=LIVE_PROXIES))
        .filter(public_id=public_id)
        .first()
    )
    if order is None:
        raise NotFound("Order not found.")
    return order


def order_proxies(*, account: Account, order: Order):
    """The proxies delivered to one of the account's orders and not yet released."""
    if order.account_id != account.pk:
        raise NotFound("Order not found.")
    return OrderProxy.objects.filter(order=order, released_at__isnull=True).order_by("id")


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
