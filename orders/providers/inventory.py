"""The embedded default provider: operator-loaded stock, and the residential gateway."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.errors import OutOfStock
from core.ids import random_base62

from ..models import InventoryProxy, ProxyTypeCode, StockStatus
from .base import Provider, ProxyCredentials

# A replaced proxy rests this long before it is sold again (its last user may still be on it).
QUARANTINE = timedelta(days=7)


def sellable(now=None) -> Q:
    """Stock that can be sold now: available and not in quarantine."""
    now = now or timezone.now()
    return Q(status=StockStatus.AVAILABLE) & (Q(quarantined_until__isnull=True) | Q(quarantined_until__lte=now))


def free_stock_all():
    """Stock of any type that can be sold now."""
    return InventoryProxy.objects.filter(sellable())


def free_stock(type_code: str, country: str = ""):
    """The stock of a type (in a country) that can be sold now."""
    qs = free_stock_all().filter(type=type_code)
    if country:
        qs = qs.filter(country=country)
    return qs


def free_stock_counts() -> dict[str, dict[str, int]]:
    """Free stock per type and country: {type: {country: count}} (country "" for stock of no
    particular country), in one grouped query."""
    counts: dict[str, dict[str, int]] = {}
    rows = free_stock_all().values("type", "country").annotate(n=Count("id")).order_by()
    for row in rows:
        counts.setdefault(row["type"], {})[row["country"]] = row["n"]
    return counts


class InventoryProvider(Provider):
    name = "inventory"

    def stock_backed(self, type_code: str) -> bool:
        return type_code != ProxyTypeCode.RESIDENTIAL

    def _take(self, order, count: int) -> int:
        """Locks up to `count` free rows (skipping rows others hold) and assigns them to `order`.

        No savepoint inside another transaction: nothing here needs rolling back alone, and
        every placement would pay for its two extra round trips."""
        with transaction.atomic(savepoint=False):
            ids = list(
                free_stock(order.type, order.country)
                .select_for_update(skip_locked=True)
                .order_by("id")
                .values_list("id", flat=True)[:count]
            )
            if len(ids) < count:
                return 0
            InventoryProxy.objects.filter(id__in=ids, status=StockStatus.AVAILABLE).update(
                status=StockStatus.ALLOCATED, order=order, allocated_at=timezone.now(), quarantined_until=None
            )
            return len(ids)

    def reserve(self, order) -> None:
        if not self.stock_backed(order.type):
            return
        needed = int(order.quantity)
        if self._take(order, needed) < needed:
            where = f" in {order.country}" if order.country else ""
            raise OutOfStock(
                f"Not enough {order.type} proxies in stock{where}: {needed} requested.",
            )

    def allocate(self, order) -> list[ProxyCredentials]:
        if order.type == ProxyTypeCode.RESIDENTIAL:
            return [
                ProxyCredentials(
                    host=settings.RESIDENTIAL_GATEWAY_HOST,
                    port=settings.RESIDENTIAL_GATEWAY_PORT,
                    username=f"res-{random_base62(12).lower()}",
                    password=random_base62(20),
                    protocol="http",
                    country=order.country,
                )
            ]
        needed = int(order.quantity)
        held = InventoryProxy.objects.filter(order=order, status=StockStatus.ALLOCATED).order_by("id")
        rows = list(held)  # reserved at placement: the common case reads them once
        if len(rows) < needed:
            if self._take(order, needed - len(rows)) < needed - len(rows):
                raise OutOfStock(f"Not enough {order.type} proxies in stock to provision this order.")
            rows = list(held.all())
        return [
            ProxyCredentials(
                host=r.host, port=r.port, username=r.username, password=r.password,
                protocol=r.protocol, country=r.country, inventory_id=r.id,
            )
            for r in rows
        ]

    def extend(self, order, days: int) -> None:
        """Local stock stays assigned until the order ends; nothing to tell anyone."""

    def replace(self, order, proxies: list) -> list[ProxyCredentials]:
        """Takes one free row per proxy (same type, the proxy's country, skipping rows others
        hold) and puts the old rows back in stock, quarantined for `QUARANTINE`."""
        now = timezone.now()
        wanted = [p.country or order.country for p in proxies]
        fresh: dict[str, list[InventoryProxy]] = {}
        for country in dict.fromkeys(wanted):
            count = wanted.count(country)
            rows = list(
                free_stock(order.type, country).select_for_update(skip_locked=True).order_by("id")[:count]
            )
            if len(rows) < count:
                where = f" in {country}" if country else ""
                raise OutOfStock(f"Not enough {order.type} proxies in stock{where} to replace {count}.")
            InventoryProxy.objects.filter(id__in=[r.id for r in rows]).update(
                status=StockStatus.ALLOCATED, order=order, allocated_at=now, quarantined_until=None
            )
            fresh[country] = rows
        old_ids = [p.inventory_id for p in proxies if p.inventory_id]
        InventoryProxy.objects.filter(id__in=old_ids, order=order).update(
            status=StockStatus.AVAILABLE, order=None, allocated_at=None, quarantined_until=now + QUARANTINE
        )
        return [
            ProxyCredentials(
                host=r.host, port=r.port, username=r.username, password=r.password,
                protocol=r.protocol, country=r.country, inventory_id=r.id,
            )
            for r in (fresh[country].pop(0) for country in wanted)
        ]

    def authorized_ips_changed(self, account, ips: list[str]) -> None:
        """Nothing to call: the operator's own servers take the list from the Authorized IPs
        export in the admin (`orders.exports.write_authorized_ips_csv`)."""

    def release(self, order) -> None:
        InventoryProxy.objects.filter(order=order, status=StockStatus.ALLOCATED).update(
            status=StockStatus.AVAILABLE, order=None, allocated_at=None
        )
        InventoryProxy.objects.filter(order=order).update(order=None, allocated_at=None)
