"""Orders background work. Thin: ids in, services do the work; every task is safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.errors import UpstreamError

from . import services
from .models import Order, OrderStatus
from .providers import ProvisioningPending

# A pending order whose task never ran (broker outage) is picked up by the beat after this.
STALE_PENDING_AFTER = timedelta(minutes=2)
UPSTREAM = "upstream"


@shared_task(name="orders.tasks.provision_order", soft_time_limit=120, time_limit=150)
def provision_order(order_id: int) -> str:
    """Provisions one pending order through its provider (fails and refunds on error). A provider
    not done yet (an upstream order still being filled, an upstream down for now) has the task
    queued again after the delay it asks for, instead of a worker sleeping on it."""
    try:
        return services.order_provision(order=Order(pk=order_id)).status  # it reads the order itself
    except Order.DoesNotExist:
        return "missing"
    except ProvisioningPending as wait:
        provision_order.apply_async((order_id,), countdown=wait.retry_in)
        return "pending"


@shared_task(name="orders.tasks.expire_orders", soft_time_limit=240, time_limit=300)
def expire_orders() -> dict:
    """Every minute: expire due orders (releasing their proxies), send expiry reminders, and
    provision pending orders whose task got lost (upstream orders have a sweep of their own)."""
    expired = services.orders_expire_due()
    reminded = services.orders_send_expiry_reminders()
    stale = Order.objects.filter(
        status=OrderStatus.PENDING, created_at__lte=timezone.now() - STALE_PENDING_AFTER
    ).exclude(provider=UPSTREAM).values_list("pk", flat=True)[:100]
    for pk in stale:
        provision_order.delay(pk)
    return {"expired": expired, "reminded": reminded, "stale_pending": len(stale)}


@shared_task(name="orders.tasks.renew_orders", soft_time_limit=240, time_limit=300)
def renew_orders() -> dict:
    """Every few minutes: renews the auto-renew orders expiring within a day. Safe beside a
    second beat or a retried run: each renewal re-reads its order under the account's lock."""
    results: dict[str, int] = {}
    for pk in services.orders_due_for_renewal():
        outcome = services.order_renew(order_pk=pk)
        results[outcome] = results.get(outcome, 0) + 1
    return results


@shared_task(name="orders.tasks.sweep_upstream_orders", soft_time_limit=50, time_limit=60)
def sweep_upstream_orders() -> int:
    """Every minute: drives again each pending upstream order no worker has looked at for
    `UPSTREAM_SWEEP_STALE_S` (its task died with a killed worker, or never reached the broker).
    A second run beside a live one is harmless: placement is idempotent upstream and the
    activation takes the order's row lock."""
    stale_before = timezone.now() - timedelta(seconds=settings.UPSTREAM_SWEEP_STALE_S)
    stale = Order.objects.filter(status=OrderStatus.PENDING, provider=UPSTREAM).filter(
        Q(provider_checked_at__lte=stale_before) | Q(provider_checked_at__isnull=True, created_at__lte=stale_before)
    ).order_by("created_at").values_list("pk", flat=True)[:200]
    for pk in stale:
        provision_order.delay(pk)
    return len(stale)


@shared_task(name="orders.tasks.sync_upstream_authorized_ips", soft_time_limit=50, time_limit=60,
             autoretry_for=(UpstreamError,), retry_backoff=30, retry_backoff_max=900, max_retries=8)
def sync_upstream_authorized_ips() -> dict:
    """After a change of authorized IPs or an upstream order's activation: the upstream account's
    list made the union of the local accounts' (see `upstream_authorized_ips_sync`)."""
    from .providers.upstream import upstream_authorized_ips_sync, upstream_in_use

    if not upstream_in_use():
        return {}
    return upstream_authorized_ips_sync()


@shared_task(name="orders.tasks.check_upstream_balance", soft_time_limit=50, time_limit=60)
def check_upstream_balance() -> str:
    """Keeps the upstream balance for the admin and e-mails the staff when it runs low (once a day)."""
    from .providers.upstream import upstream_balance_check, upstream_in_use

    if not upstream_in_use():
        return "unused"
    check = upstream_balance_check()
    if check is None:
        return "unreachable"
    return f"{check.balance} {check.currency}{' (alerted)' if check.alerted else ''}"


@shared_task(name="orders.tasks.check_stock_thresholds", soft_time_limit=50, time_limit=60)
def check_stock_thresholds() -> dict:
    """E-mails the staff once when stock falls below a low-stock threshold (admin: Stock thresholds)."""
    return services.stock_thresholds_check()
