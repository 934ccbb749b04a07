from accounts.models import Account


def overview_summary(*, account: Account) -> dict:
    """Figures for the Overview page; each feature app contributes its own part."""
    from apikeys.models import ApiKey

    summary = {
        "balance": account.balance,
        "tier": account.tier,
        "premium_until": account.premium_until,
        "active_keys": ApiKey.objects.for_account(account).active().count(),
    }
    try:
        from orders.selectors import overview_figures
    except ImportError:
        overview_figures = None
    if overview_figures is not None:
        summary.update(overview_figures(account=account))
    return summary
