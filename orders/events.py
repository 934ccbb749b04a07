"""Order events for customers' webhooks: the order as `GET /orders/{id}` shows it."""

from events.services import event_emit

from .models import Order


def order_event_emit(*, order: Order, type: str) -> None:  # noqa: A002
    """Emits `type` with the order's API object, in the caller's transaction."""
    from .api import OrderOut  # the API module imports the services, which import this one

    event_emit(account=order.account_id, type=type, data=dict(OrderOut(order).data))
