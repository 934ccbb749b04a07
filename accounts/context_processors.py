from accounts.models import Membership
from accounts.permissions import CAPABILITY_MIN_ROLE, has_capability


def current_account(request):
    """`can`: what the pages offer (nothing but reading while the account is suspended);
    `role_can`: what the member's role allows, for links to pages that stay readable."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    role_can = {cap: has_capability(membership, cap) for cap in CAPABILITY_MIN_ROLE}
    active = membership.account.is_active
    return {
        "current_account": membership.account,
        "current_membership": membership,
        "role_can": role_can,
        "can": {cap: allowed and (active or cap == "view") for cap, allowed in role_can.items()},
        "all_memberships": Membership.objects.filter(user=request.user).select_related("account").order_by(
            "account__name"
        ),
    }
