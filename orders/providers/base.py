"""The provider interface: how an order's proxies are obtained, extended, released and metered."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ProxyCredentials:
    host: str
    port: int
    username: str = ""
    password: str = ""
    protocol: str = "http"
    country: str = ""
    inventory_id: int | None = None  # the stock row it came from (inventory provider)


@dataclass(frozen=True)
class UsageRecord:
    """One metered period of a residential sub-user (same shape as POST /webhooks/usage records)."""

    id: str
    username: str
    period_start: datetime
    bytes_in: int
    bytes_out: int
    requests: int


class Provider:
    """Subclasses implement allocate/extend/release/usage; errors raise core.errors.UpstreamError
    (or OutOfStock for the inventory when stock runs short)."""

    name = "base"
    # True: placement provisions inside the request (a failure answers 502 after refunding);
    # False: provisioning runs in the Celery task `orders.tasks.provision_order`.
    synchronous = False

    def stock_backed(self, type_code: str) -> bool:
        """Whether orders of this type draw on local stock (checked before charging)."""
        return False

    def reserve(self, order) -> None:
        """Called inside the placement transaction, before the charge. May raise OutOfStock."""

    def allocate(self, order) -> list[ProxyCredentials]:
        raise NotImplementedError

    def extend(self, order, days: int) -> None:
        raise NotImplementedError

    def release(self, order) -> None:
        raise NotImplementedError

    def usage(self, *, since: datetime | None = None) -> list[UsageRecord]:
        return []

    def replace(self, order, proxies: list) -> list[ProxyCredentials]:
        """Fresh proxies of the order's type and country for `proxies` (its OrderProxy rows,
        in order), called inside the replacement's transaction with the order row locked.
        May raise OutOfStock, or Conflict where the provider cannot replace proxies."""
        from core.errors import Conflict

        raise Conflict("This order's provider does not replace proxies.")

    def authorized_ips_changed(self, account, ips: list[str]) -> None:
        """The account's authorized IPs (the whole list, after a change), for a provider whose
        IP-based proxies accept them without credentials. Called after the change commits;
        errors are logged, not raised."""
