"""Orders' data: the catalogue, orders, and proxies (in stock and delivered).

The residential wing's models (`orders/residential/models.py`) belong to this app too (app
label `orders`, tables `orders_*`): Django registers an app's models when it imports
`orders.models`, so they are imported here, last.
"""

from .catalogue import (
    QUANTITY_MAX_DIGITS,
    QUANTITY_PLACES,
    Country,
    Period,
    PeriodDiscount,
    PriceRule,
    ProxyType,
    ProxyTypeCode,
    Unit,
    VolumeTier,
    quantity_display,
)
from .order import (
    TRAFFIC_MAX_DIGITS,
    TRAFFIC_PLACES,
    Order,
    OrderExtension,
    OrderQuerySet,
    OrderStatus,
    format_gb,
)
from .proxies import InventoryProxy, OrderProxy, ProxyProtocol, StockStatus, StockThreshold
from .tools import AuthorizedIP, OrderListLink, ProxyReplacement
from .upstream import UpstreamBalanceCheck, UpstreamCallFailure

# isort: split
from orders.residential import models as _residential  # noqa: F401  (registers the wing's models)

__all__ = [
    "QUANTITY_MAX_DIGITS", "QUANTITY_PLACES", "TRAFFIC_MAX_DIGITS", "TRAFFIC_PLACES",
    "AuthorizedIP", "Country", "InventoryProxy", "Order", "OrderExtension", "OrderListLink", "OrderProxy",
    "OrderQuerySet", "OrderStatus", "Period", "PeriodDiscount", "PriceRule", "ProxyProtocol", "ProxyReplacement",
    "ProxyType", "ProxyTypeCode", "StockStatus", "StockThreshold", "Unit", "UpstreamBalanceCheck", "UpstreamCallFailure",
    "VolumeTier", "format_gb", "quantity_display",
]
