from accounts.models import Membership
from accounts.permissions import CAPABILITY_MIN_ROLE, has_capability


def current_account(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "current_account": membership.account,
        "current_membership": membership,
        "can": {cap: has_capability(membership, cap) for cap in CAPABILITY_MIN_ROLE},
        "all_memberships": Membership.objects.filter(user=request.user).select_related("account").order_by(
            "account__name"
        ),
    }
