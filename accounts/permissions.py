"""Role rights in the dashboard (SPEC §2), checked in one place."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from accounts.models import Role

ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.ADMIN: 3, Role.OWNER: 4}

# What each dashboard capability needs at least.
CAPABILITY_MIN_ROLE = {
    "view": Role.VIEWER,  # read pages: overview, orders, billing (read), proxies, stats, checker
    "operate": Role.MEMBER,  # place orders, manage proxies, run checks
    "manage_keys": Role.ADMIN,  # API keys
    "manage_deposits": Role.ADMIN,  # deposit addresses, premium upgrade
    "manage_team": Role.ADMIN,  # invite, change roles, remove
    "manage_ownership": Role.OWNER,
}


def has_capability(membership, capability: str) -> bool:
    if membership is None:
        return False
    return ROLE_RANK[membership.role] >= ROLE_RANK[CAPABILITY_MIN_ROLE[capability]]


def dashboard_view(capability: str = "view"):
    """Login required, an account chosen, and the member's role allows `capability`."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if request.membership is None:
                return redirect("dashboard:no_account")
            if not has_capability(request.membership, capability):
                raise PermissionDenied("Your role in this account does not allow this.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
