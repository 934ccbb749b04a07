"""The embedded default provider: operator-loaded stock, and the residential gateway."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import OutOfStock
from core.ids import random_base62

from ..models import InventoryProxy, ProxyTypeCode, StockStatus
from .base import Provider, ProxyCredentials


def free_stock(type_code: str, country: str = ""):
    qs = InventoryProxy.objects.filter(type=type_code, status=StockStatus.AVAILABLE)
    if country:
        qs = qs.filter(country=country)
    return qs


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
                status=StockStatus.ALLOCATED, order=order, allocated_at=timezone.now()
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

    def release(self, order) -> None:
        InventoryProxy.objects.filter(order=order, status=StockStatus.ALLOCATED).update(
            status=StockStatus.AVAILABLE, order=None, allocated_at=None
        )
        InventoryProxy.objects.filter(order=order).update(order=None, allocated_at=None)
