"""Role rights in the dashboard (`CAPABILITY_MIN_ROLE` below) and the suspension guard (a
suspended account reads but changes nothing), checked in one place."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from accounts.models import Role

ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}

# What each dashboard capability needs at least.
CAPABILITY_MIN_ROLE = {
    "view": Role.VIEWER,  # read pages: overview, orders, billing (read), proxies, stats, checker
    "operate": Role.MEMBER,  # place orders, manage proxies, run checks
    "manage_keys": Role.ADMIN,  # API keys
    "manage_webhooks": Role.ADMIN,  # webhook endpoints
    "manage_deposits": Role.ADMIN,  # deposit addresses, premium upgrade
    "manage_team": Role.ADMIN,  # invite, change roles, remove
    "manage_ownership": Role.OWNER,
}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Dashboard routes not wrapped by `dashboard_view`, and why; every other dashboard route must be
# (tests/security/test_suspension.py enumerates the URL conf and checks it).
DASHBOARD_GUARD_EXEMPT = {
    "dashboard:switch_account": "the user's own session (which account to look at), not the account's state",
    "dashboard:no_account": "a read-only page for users without any account",
    "dashboard:invitation_accept": "no membership yet: it refuses a suspended account's invitation itself",
}


def has_capability(membership, capability: str) -> bool:
    if membership is None:
        return False
    return ROLE_RANK[membership.role] >= ROLE_RANK[CAPABILITY_MIN_ROLE[capability]]


def suspended_refusal(request, account):
    """The 403 page for a state-changing request (any method but GET, HEAD, OPTIONS, TRACE) on a
    suspended account, or None when the request may go on. Reading stays possible."""
    if account is None or account.is_active or request.method in SAFE_METHODS:
        return None
    context = {"suspended_account": account}  # whom to contact: the brand's support_email
    return render(request, "accounts/suspended.html", context, status=403)


def dashboard_view(capability: str = "view"):
    """Login required, an account chosen, the account not suspended unless the request only reads,
    and the member's role allows `capability`."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if request.membership is None:
                return redirect("dashboard:no_account")
            refusal = suspended_refusal(request, request.account)
            if refusal is not None:
                return refusal
            if not has_capability(request.membership, capability):
                raise PermissionDenied("Your role in this account does not allow this.")
            return view(request, *args, **kwargs)

        wrapper.dashboard_capability = capability
        return wrapper

    return decorator
