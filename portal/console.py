"""The operator console's reads: the business at a glance for staff, across every account.
Like the Overview, it gathers figures from several apps, each through its own selectors."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from billing import selectors as billing_selectors
from orders import selectors as orders_selectors
from orders.models import OrderStatus

DAYS = 30


def console_figures(*, now=None) -> dict:
    now = now or timezone.now()
    revenue = billing_selectors.revenue_by_day(days=DAYS, now=now)
    all_time = orders_selectors.order_status_counts()
    recent = orders_selectors.order_status_counts(since=now - timedelta(days=DAYS))
    return {
        "days": DAYS,
        "revenue": [{"day": day, "amount": amount} for day, amount in revenue],
        "revenue_total": sum((amount for _, amount in revenue), start=Decimal(0)),
        "revenue_chart": {
            "labels": [day.isoformat() for day, _ in revenue],
            "data": [float(amount) for _, amount in revenue],
            "label": "Revenue (USD)",
        },
        "orders_by_status": [
            {"status": status, "label": label, "all_time": all_time[status], "recent": recent[status]}
            for status, label in OrderStatus.choices
        ],
        "failed_orders": list(orders_selectors.failed_orders()),
        "upstream_failures": list(orders_selectors.upstream_call_failures()),
        "stock": orders_selectors.stock_levels(now=now),
        "pending_deposits": billing_selectors.pending_deposits(),
        "top_accounts": billing_selectors.top_spenders(days=DAYS, now=now),
        "upstream": {**orders_selectors.upstream_balance(), "low_below": settings.UPSTREAM_LOW_BALANCE_USD},
    }
