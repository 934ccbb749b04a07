from accounts.models import Membership, Role

SESSION_ACCOUNT_KEY = "current_account"
SKIP_PREFIXES = ("/api/", "/static/", "/webhooks/", "/judge", "/healthz")


def resolve_membership(request) -> Membership | None:
    """The signed-in user's membership in the session's chosen account (checked every request)."""
    user = request.user
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("account", "user").filter(user=user)
    chosen = request.session.get(SESSION_ACCOUNT_KEY)
    if chosen:
        membership = memberships.filter(account__public_id=chosen).first()
        if membership is not None:
            return membership
    ordered = sorted(memberships, key=lambda m: (m.role != Role.OWNER, m.created_at))
    return ordered[0] if ordered else None


class CurrentAccountMiddleware:
    """Sets `request.membership` and `request.account` for dashboard requests."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = None
        request.account = None
        if not request.path_info.startswith(SKIP_PREFIXES):
            request.membership = resolve_membership(request)
            request.account = request.membership.account if request.membership else None
        return self.get_response(request)
