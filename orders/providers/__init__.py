"""Order providers (docs/architecture.md#providers).

`provider_name_for_type()` says which provider supplies a proxy type; `get_provider()` returns
a provider by name (an order keeps the name of the provider that placed it).
"""

from django.conf import settings

from .base import Provider, ProxyCredentials, UsageRecord

__all__ = [
    "Provider", "ProxyCredentials", "UsageRecord", "get_provider", "provider_name_for_type", "PROVIDERS",
]


def _inventory():
    from .inventory import InventoryProvider

    return InventoryProvider()


def _http():
    from .http import HttpProvider

    return HttpProvider()


PROVIDERS = {"inventory": _inventory, "http": _http}


def provider_name_for_type(type_code: str) -> str:
    """The provider that supplies new orders of `type_code`: `ORDER_PROVIDER_<TYPE>` when the
    environment sets one, else `ORDER_PROVIDER`.

    The one place that answers this: an operator's per-type choice in the admin is to be
    consulted here first, before the environment."""
    return settings.ORDER_PROVIDERS_BY_TYPE.get(type_code) or settings.ORDER_PROVIDER


def get_provider(name: str | None = None) -> Provider:
    """The provider called `name` (an order's `provider`), else `settings.ORDER_PROVIDER`."""
    name = name or settings.ORDER_PROVIDER
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ValueError(f"unknown order provider {name!r}") from None
