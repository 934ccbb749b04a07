"""The wing's receivers of the orders signals (`orders/signals.py`), connected by
`OrdersConfig.ready()`: the orders services never import the wing."""

from orders.signals import order_activated

from .services import subusers_on_order_activated


def _on_order_activated(sender, order, **kwargs) -> int:
    return subusers_on_order_activated(order=order)


def connect_signals() -> None:
    """A residential order that becomes active is a top-up: the sub-users its traffic can serve
    come back at once (after the activation commits, as the signal is sent on commit)."""
    order_activated.connect(_on_order_activated, dispatch_uid="residential-order-activated")
