"""The Overview page's reads: the one place where the dashboard's front page gathers figures
from several apps. Each app answers for its own part through its selectors; no app imports
another to build this page."""

from accounts.models import Account
from apikeys.selectors import apikeys_active_count
from orders.selectors import overview_figures


def overview_summary(*, account: Account) -> dict:
    return {
        "balance": account.balance,
        "tier": account.tier,
        "premium_until": account.premium_until,
        "active_keys": apikeys_active_count(account=account),
        **overview_figures(account=account),
    }
