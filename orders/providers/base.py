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


class ProvisioningPending(Exception):  # noqa: N818 - not an error: "not yet"
    """Provisioning is neither done nor failed (the provider's order is still being filled, or the
    provider cannot be reached for now): the task tries again in `retry_in` seconds."""

    def __init__(self, retry_in: float, why: str = ""):
        self.retry_in = max(0.2, float(retry_in))
        self.why = why
        super().__init__(why or f"not ready; again in {self.retry_in:.0f} s")


@dataclass(frozen=True)
class Reference:
    """What a provider sells of one type, where it is not the local catalogue's."""

    periods: tuple[int, ...]  # orderable periods in days
    countries: dict[str, str]  # orderable countries for the type: code → name


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

    def stock_backed(self, type_code: str) -> bool:
        """Whether orders of this type draw on local stock (checked before charging)."""
        return False

    def reserve(self, order) -> None:
        """Called inside the placement transaction, before the charge. May raise OutOfStock."""

    def reference(self, type_code: str) -> Reference | None:
        """The periods and countries of `type_code` where the provider decides them; None: the
        local catalogue's."""
        return None

    def quote(self, spec):
        """The price (`orders.pricing.Quote`) of a validated spec where the provider decides it;
        None: the operator's price rules."""
        return None

    def allocate(self, order) -> list[ProxyCredentials]:
        """The order's proxies. May raise ProvisioningPending (try again later) or UpstreamError
        (the order fails and is refunded)."""
        raise NotImplementedError

    def order_failed(self, order) -> None:
        """Called once, after a pending order of this provider failed and was refunded."""

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
