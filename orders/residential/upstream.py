"""Sub-users of residential orders an upstream seller supplies (an order whose `provider` is
`upstream` and whose `provider_ref` is the upstream's order id).

Such a sub-user lives at the upstream first: it is created there under the upstream order, and
its connection details (host, port, connection username, password) are the upstream's, kept on
the local row. A change the customer asks for is made upstream first, inside the local
transaction, so an upstream failure leaves the local row as it was (502 `upstream_error`). A
change the system makes here (usage used up, a top-up re-enabling) marks the row
`upstream_pending` and is pushed after commit; what could not be pushed is pushed again by the
usage pull (`orders.residential.tasks.pull_usage`). Usage comes back from the upstream's hourly
statistics, one record per (sub-user, hour).

The calls go through `orders.providers.upstream_client` with the `UPSTREAM_*` settings. This
module holds no locks and writes no rows of its own beyond the fields it is handed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.utils import timezone

from core.errors import UpstreamError
from orders.models import Order
from orders.providers.upstream_client import UpstreamStatsRow, UpstreamSubUser, upstream_client

from .models import SubUserProxy

logger = logging.getLogger(__name__)
NAME_MAX_LENGTH = SubUserProxy._meta.get_field("name").max_length

UPSTREAM_PROVIDER = "upstream"


def is_upstream_order(order: Order) -> bool:
    return order.provider == UPSTREAM_PROVIDER


def _refused(exc: UpstreamError, doing: str) -> UpstreamError:
    """The customer's error: what failed, and the upstream's own reason when it gave one (its
    status and type stay on the exception for the caller and the log)."""
    logger.warning("upstream sub-user call failed (%s): %s", doing, exc.message)
    said = f" It answered: {exc.upstream_message}" if exc.upstream_message else ""
    return UpstreamError(
        f"The proxy provider could not {doing}; nothing was changed.{said}",
        upstream_status=exc.upstream_status, upstream_error_type=exc.upstream_error_type,
        upstream_message=exc.upstream_message, upstream_meta=exc.upstream_meta, retry_after=exc.retry_after,
    )


def _upstream_order_id(order: Order) -> str:
    if not order.provider_ref:
        raise UpstreamError("The order is not placed at the proxy provider yet; try again in a minute.")
    return order.provider_ref


def upstream_name(proxy: SubUserProxy) -> str:
    """The sub-user's name upstream: the customer's, with this portal's id of it. Every customer's
    sub-users live in this portal's one account there, where a name is one sub-user's."""
    suffix = f" ({proxy.public_id})"
    return proxy.name[: NAME_MAX_LENGTH - len(suffix)] + suffix


def mirror_state(proxy: SubUserProxy) -> dict:
    """The fields the upstream keeps for a sub-user, as its `PATCH /proxy/{id}` takes them."""
    return {
        "name": upstream_name(proxy),
        "order_id": proxy.order.provider_ref,
        "protocol": proxy.protocol,
        "country": proxy.country or None,
        "state": proxy.state or None,
        "city": proxy.city or None,
        "zip": proxy.zip or None,
        "rotation": proxy.rotation,
        "sticky_ttl_minutes": proxy.sticky_ttl_minutes,
        "traffic_limit_gb": proxy.traffic_limit_gb,
        "whitelist": list(proxy.whitelist or []),
        "status": proxy.status,
    }


GEO_FIELDS = ("country", "state", "city", "zip")


def changed_fields(before: dict, after: dict) -> dict:
    """What to send: the fields that differ (all four geo fields when one does, so the upstream
    narrows exactly as here)."""
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if any(k in changed for k in GEO_FIELDS):
        changed.update({k: after[k] for k in GEO_FIELDS})
    return changed


def _adopt(proxy: SubUserProxy, remote: UpstreamSubUser) -> None:
    proxy.upstream_id = remote.id
    proxy.upstream_host, proxy.upstream_port = remote.host, remote.port
    proxy.upstream_username = remote.username
    if remote.password:
        proxy.password = remote.password


def remote_create(proxy: SubUserProxy) -> UpstreamSubUser:
    """Creates the sub-user upstream under the order's upstream order and takes its credentials
    onto `proxy` (not saved)."""
    state = mirror_state(proxy)
    fields = {k: v for k, v in state.items() if k not in ("name", "order_id", "status")}
    try:
        remote = upstream_client().subuser_create(
            order_id=_upstream_order_id(proxy.order), name=upstream_name(proxy), **fields,
        )
    except UpstreamError as exc:
        raise _refused(exc, "create the proxy") from exc
    _adopt(proxy, remote)
    return remote


def remote_forget(upstream_id: str) -> None:
    """Best effort: removes a sub-user created upstream whose local row was not kept."""
    try:
        upstream_client().subuser_delete(upstream_id)
    except UpstreamError as exc:
        logger.error("upstream sub-user %s was created but not kept here, and deleting it failed: %s",
                     upstream_id, exc.message)


def remote_update(proxy: SubUserProxy, changes: dict) -> None:
    """Sends `changes` (a part of `mirror_state`) upstream; takes the answered connection details."""
    if not changes:
        return
    try:
        remote = upstream_client().subuser_update(proxy.upstream_id, **changes)
    except UpstreamError as exc:
        raise _refused(exc, "change the proxy") from exc
    _adopt(proxy, remote)
    proxy.upstream_pending = False


def remote_delete(proxy: SubUserProxy) -> None:
    """Deletes the sub-user upstream (already gone there counts as done)."""
    try:
        upstream_client().subuser_delete(proxy.upstream_id, missing_ok=True)
    except UpstreamError as exc:
        raise _refused(exc, "delete the proxy") from exc


def remote_push(proxy: SubUserProxy) -> bool:
    """Quietly pushes the whole local state upstream (after a change the system made here);
    True when the upstream took it. Saves only the fields it changes."""
    try:
        remote = upstream_client().subuser_update(proxy.upstream_id, **mirror_state(proxy))
    except UpstreamError as exc:
        logger.warning("pushing sub-user %s to the upstream failed (tried again by the next pull): %s",
                       proxy.public_id, exc.message)
        return False
    _adopt(proxy, remote)
    SubUserProxy.objects.filter(pk=proxy.pk).update(
        upstream_pending=False, upstream_host=proxy.upstream_host, upstream_port=proxy.upstream_port,
        upstream_username=proxy.upstream_username, password=proxy.password, updated_at=timezone.now(),
    )
    return True


def remote_hours(proxy: SubUserProxy, *, since: datetime) -> list[UpstreamStatsRow]:
    """The sub-user's traffic upstream by hour, from the day of `since` to today (UTC)."""
    today = timezone.now().date()
    return upstream_client().stats(date_from=since.date(), date_to=today, proxy_id=proxy.upstream_id,
                                   group_by="hour")


def usage_record_id(proxy: SubUserProxy, period_start: datetime) -> str:
    """One stable id per (upstream sub-user, hour): pulled again, the same hour is the same record."""
    return f"upstream:{proxy.upstream_id}:{period_start.strftime('%Y-%m-%dT%H')}"
