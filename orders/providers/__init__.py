"""Order providers (docs/architecture.md#providers): `get_provider()` returns the configured one."""

from django.conf import settings

from .base import Provider, ProxyCredentials, UsageRecord

__all__ = ["Provider", "ProxyCredentials", "UsageRecord", "get_provider", "PROVIDERS"]


def _inventory():
    from .inventory import InventoryProvider

    return InventoryProvider()


def _http():
    from .http import HttpProvider

    return HttpProvider()


PROVIDERS = {"inventory": _inventory, "http": _http}


def get_provider(name: str | None = None) -> Provider:
    """The provider called `name` (an order's `provider`), else `settings.ORDER_PROVIDER`."""
    name = name or settings.ORDER_PROVIDER
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ValueError(f"unknown order provider {name!r}") from None
