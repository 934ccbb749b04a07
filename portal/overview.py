"""The Overview page's reads: the one place where the dashboard's front page gathers figures
from several apps. Each app answers for its own part through its selectors; no app imports
another to build this page.

Besides the figures, the page guides a new customer through a getting-started checklist
(gone once every step is done), warns of what needs attention soon (alerts) and shows the
last 30 days of residential traffic, a day without traffic as a zero.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from accounts.selectors import user_email_verified
from apikeys.selectors import apikeys_active_count, apikeys_ever_created
from billing.selectors import account_has_topped_up, pending_deposits
from core.money import money_str
from core.templatefilters import BYTES_PER_GB, gb_from_bytes, thousands
from orders.residential.selectors import subusers_ever_created, traffic_by_day
from orders.selectors import (
    account_has_ordered,
    orders_expiring,
    orders_low_traffic,
    overview_figures,
)

CHART_DAYS = 30
EXPIRING_WITHIN = timedelta(days=7)
LOW_TRAFFIC_SHARE = Decimal("0.10")


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    done: bool
    url: str
    action: str  # the link's words while the step is open


@dataclass(frozen=True)
class Alert:
    kind: str  # low_balance | expiring | low_traffic | pending_deposit
    level: str  # danger | warning | info
    message: str
    url: str
    action: str


def checklist(*, account: Account, user, role_can: dict) -> list[Step]:
    """The first steps of a new customer, in the order they are usually taken. A step the
    member's role cannot take has no link (someone else in the account takes it)."""
    def url(capability: str | None, target: str) -> str:
        return target if capability is None or role_can.get(capability) else ""

    return [
        Step("verify_email", "Verify your e-mail address", user_email_verified(user=user),
             reverse("account_email"), "Verify e-mail"),
        Step("top_up", "Top up your balance", account_has_topped_up(account=account),
             reverse("dashboard:billing"), "Top up"),
        Step("first_order", "Place your first order", account_has_ordered(account=account),
             url("operate", reverse("dashboard:orders") + "#new-order-title"), "Order proxies"),
        Step("first_key", "Create an API key", apikeys_ever_created(account=account),
             url("manage_keys", reverse("dashboard:apikeys") + "?create=1"), "Create API key"),
        Step("first_subuser", "Create a sub-user proxy", subusers_ever_created(account=account),
             url("operate", reverse("dashboard:proxies") + "?create=1"), "Create sub-user"),
    ]


def _low_balance_alert(account: Account, *, has_active_orders: bool) -> Alert | None:
    # The threshold is the account's own setting (None: off); without one, an empty balance
    # is worth saying only while something may need paying for (renewals, extensions).
    threshold = getattr(account, "low_balance_threshold", None)
    balance = account.balance
    if threshold is not None and balance < threshold:
        message = (f"Your balance is {money_str(balance)} USD, under the {money_str(threshold)} USD "
                   "you asked to be warned at.")
    elif threshold is None and balance <= 0 and has_active_orders:
        message = "Your balance is 0.00 USD: extensions and renewals of your orders cannot be paid."
    else:
        return None
    return Alert("low_balance", "danger", message, reverse("dashboard:billing"), "Top up")


def alerts(*, account: Account, active_orders: int, now=None) -> list[Alert]:
    """What needs the customer's attention, the most pressing first."""
    now = now or timezone.now()
    found: list[Alert] = []
    for deposit in pending_deposits(account=account):
        found.append(Alert(
            "pending_deposit", "info",
            f"Deposit of {thousands(deposit.amount.normalize())} {deposit.currency} "
            f"(about {money_str(deposit.amount_usd)} USD) on {deposit.network}: "
            f"{deposit.confirmations} of {deposit.confirmations_required} confirmations. "
            "It is credited once confirmed.",
            reverse("dashboard:billing"), "Billing",
        ))
    expiring = orders_expiring(account=account, within=EXPIRING_WITHIN, now=now)
    for order in expiring:
        left = order.expires_at - now
        when = f"in {left.days} day{'s' if left.days != 1 else ''}" if left.days >= 1 else "within a day"
        renews = " It renews automatically." if getattr(order, "auto_renew", False) else ""
        found.append(Alert(
            "expiring", "warning",
            f"Order {order.public_id} ({order.get_type_display()}) expires {when}, "
            f"on {order.expires_at:%Y-%m-%d %H:%M} UTC.{renews}",
            reverse("dashboard:order_detail", args=[order.public_id]), "Extend",
        ))
    for order in orders_low_traffic(account=account, share=LOW_TRAFFIC_SHARE):
        left = order.traffic_left_gb
        percent = (left / order.traffic_gb * 100).quantize(Decimal("0.1"))
        found.append(Alert(
            "low_traffic", "warning",
            f"Order {order.public_id} has {thousands(left, 2)} GB of {thousands(order.traffic_gb, 2)} GB "
            f"of traffic left ({percent} %).",
            reverse("dashboard:orders") + "#new-order-title", "Buy traffic",
        ))
    low = _low_balance_alert(account, has_active_orders=active_orders > 0)
    if low is not None:
        found.insert(0, low)
    return found


def traffic_chart(*, account: Account, today=None) -> dict:
    """The last `CHART_DAYS` days of traffic for the chart (static/js/overview.js), in GB."""
    days = traffic_by_day(account=account, days=CHART_DAYS, today=today)
    total = sum(d["bytes_total"] for d in days)
    return {
        "labels": [d["period_start"].strftime("%Y-%m-%d") for d in days],
        "datasets": [{
            "label": "Traffic (GB)",
            "data": [round(d["bytes_total"] / BYTES_PER_GB, 6) for d in days],
        }],
        "unit": "GB",
        "total_bytes": total,
        "total_gb": gb_from_bytes(total),
    }


def quick_actions(*, role_can: dict) -> list[dict]:
    actions = []
    if role_can.get("operate"):
        actions.append({"label": "New order", "url": reverse("dashboard:orders") + "#new-order-title"})
        actions.append({"label": "Create sub-user", "url": reverse("dashboard:proxies") + "?create=1"})
        actions.append({"label": "Check proxies", "url": reverse("dashboard:checker")})
    actions.append({"label": "Top up", "url": reverse("dashboard:billing")})
    if role_can.get("manage_keys"):
        actions.append({"label": "Create API key", "url": reverse("dashboard:apikeys") + "?create=1"})
    actions.append({"label": "API documentation", "url": reverse("docs")})
    return actions


def overview_summary(*, account: Account, user, role_can: dict | None = None, now=None) -> dict:
    role_can = role_can or {}
    steps = checklist(account=account, user=user, role_can=role_can)
    figures = overview_figures(account=account)
    return {
        "balance": account.balance,
        "tier": account.tier,
        "premium_until": account.premium_until,
        "active_keys": apikeys_active_count(account=account),
        **figures,
        "checklist": steps if not all(s.done for s in steps) else [],
        "checklist_done": sum(s.done for s in steps),
        "checklist_total": len(steps),
        "alerts": alerts(account=account, active_orders=figures["active_orders"], now=now),
        "chart": traffic_chart(account=account),
        "quick_actions": quick_actions(role_can=role_can),
    }
