"""The scopes (docs/api.md#scopes), grouped by area for the creation form."""

SCOPE_GROUPS: dict[str, dict[str, str]] = {
    "Proxies": {
        "proxies:read": "List and retrieve sub-user proxies",
        "proxies:write": "Create, update and delete sub-user proxies; limits and whitelists",
        "geo:read": "Geo directory (countries, states, cities, ZIP codes)",
    },
    "Statistics": {
        "stats:read": "Traffic statistics and usage export",
    },
    "Account & Billing": {
        "balance:read": "Account, balance, transactions, plans and deposit addresses",
        "balance:write": "Account settings: the low-balance alert",
        "deposits:write": "Create deposit addresses",
    },
    "Orders": {
        "orders:read": "Price calculation, orders, order proxies and downloads",
        "orders:write": "Place and extend orders",
    },
    "Checker": {
        "checker:read": "Public proxy list and export, check jobs, results, premium pool",
        "checker:write": "Submit check jobs",
    },
    "Webhooks": {
        "webhooks:read": "Webhook endpoints and their deliveries",
        "webhooks:write": "Add, change, delete and test webhook endpoints",
    },
}

ALL_SCOPES: tuple[str, ...] = tuple(scope for group in SCOPE_GROUPS.values() for scope in group)
SCOPE_DESCRIPTIONS: dict[str, str] = {s: d for group in SCOPE_GROUPS.values() for s, d in group.items()}
