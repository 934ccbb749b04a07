"""Order providers (docs/architecture.md#providers).

`provider_name_for_type()` says which provider supplies a proxy type; `get_provider()` returns
a provider by name (an order keeps the name of the provider that placed it).
"""

from django.conf import settings

from .base import Provider, ProvisioningPending, ProxyCredentials, UsageRecord

__all__ = [
    "PROVIDERS", "Provider", "ProvisioningPending", "ProxyCredentials", "UsageRecord", "get_provider",
    "provider_for_type", "provider_name_for_type",
]


def _inventory():
    from .inventory import InventoryProvider

    return InventoryProvider()


def _upstream():
    from .upstream import UpstreamProvider

    return UpstreamProvider()


PROVIDERS = {"inventory": _inventory, "upstream": _upstream}


def provider_name_for_type(type_code: str, *, snapshot=None) -> str:
    """The provider that supplies new orders of `type_code`: the operator's choice on the proxy
    type in the admin (`ProxyType.provider`) when made, else `ORDER_PROVIDER_<TYPE>` when the
    environment sets one, else `ORDER_PROVIDER`. `snapshot`: the catalogue the caller holds
    (orders.catalogue), else the current one."""
    from ..catalogue import catalogue

    proxy_type = (snapshot or catalogue()).all_types.get(type_code)
    if proxy_type is not None and proxy_type.provider:
        return proxy_type.provider
    return settings.ORDER_PROVIDERS_BY_TYPE.get(type_code) or settings.ORDER_PROVIDER


def provider_for_type(type_code: str, *, snapshot=None) -> Provider:
    return get_provider(provider_name_for_type(type_code, snapshot=snapshot))


def get_provider(name: str | None = None) -> Provider:
    """The provider called `name` (an order's `provider`), else `settings.ORDER_PROVIDER`."""
    name = name or settings.ORDER_PROVIDER
    try:
        return PROVIDERS[name]()
    except KeyError:
        raise ValueError(f"unknown order provider {name!r}") from None
