"""Orders background work. Thin: ids in, services do the work; every task is safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from . import services
from .models import Order, OrderStatus

# A pending order whose task never ran (broker outage) is picked up by the beat after this.
STALE_PENDING_AFTER = timedelta(minutes=2)


@shared_task(name="orders.tasks.provision_order", soft_time_limit=120, time_limit=150)
def provision_order(order_id: int) -> str:
    """Provisions one pending order through its provider (fails and refunds on error)."""
    try:
        return services.order_provision(order=Order(pk=order_id)).status  # it reads the order itself
    except Order.DoesNotExist:
        return "missing"


@shared_task(name="orders.tasks.expire_orders", soft_time_limit=240, time_limit=300)
def expire_orders() -> dict:
    """Every minute: expire due orders (releasing their proxies), send expiry reminders, and
    provision pending orders whose task got lost."""
    expired = services.orders_expire_due()
    reminded = services.orders_send_expiry_reminders()
    stale = Order.objects.filter(
        status=OrderStatus.PENDING, created_at__lte=timezone.now() - STALE_PENDING_AFTER
    ).values_list("pk", flat=True)[:100]
    for pk in stale:
        provision_order.delay(pk)
    return {"expired": expired, "reminded": reminded, "stale_pending": len(stale)}
