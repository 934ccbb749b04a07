"""The Django admin behind the dashboard's sign-in: allauth's form, its rate limits and TOTP.

The stock admin has a password form of its own, with neither. Here `/admin/login/` never
takes a password: allauth signs the visitor in and sends them back. A staff session then
opens the admin only once it has passed TOTP in allauth, when the user has an authenticator
or when `ADMIN_REQUIRE_MFA` is on (the default with DEBUG off). The same rule guards every
admin page, so a session opened any other way (an old admin session, a login after an
invitation or a reset) is asked for the code first.
"""

from allauth.account.authentication import get_authentication_records
from allauth.account.decorators import secure_admin_login
from allauth.account.utils import get_next_redirect_url
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from branding.selectors import brand_current

SET_UP_TOTP = "set up TOTP"
ENTER_CODE = "enter a TOTP code"


def admin_mfa_missing(request) -> str:
    """What the signed-in user's session still lacks to open the admin ("" for nothing)."""
    user = request.user
    if any(record.get("method") == "mfa" for record in get_authentication_records(request, user)):
        return ""
    if is_mfa_enabled(user):
        return ENTER_CODE
    return SET_UP_TOTP if settings.ADMIN_REQUIRE_MFA else ""


# One "Accounts" section: the models of allauth ("Accounts" too: e-mail addresses), allauth's
# MFA (authenticators) and django.contrib.auth (groups) join this app's, in this order.
ACCOUNTS_SECTION = "accounts"
JOINS_ACCOUNTS = ("account", "mfa", "auth")
ACCOUNTS_ORDER = ("Account", "User", "Membership", "Invitation", "Plan", "AuditLogEntry", "EmailAddress",
                  "Authenticator", "Group")


class PortalAdminSite(admin.AdminSite):
    index_template = "admin/portal_index.html"  # the index links the operator console (/console/)

    def get_app_list(self, request, app_label=None):
        """The stock list, with the account-related apps gathered under one "Accounts" section
        (their own app pages, /admin/account/ and the like, still list them alone)."""
        if app_label is not None and app_label != ACCOUNTS_SECTION:
            return super().get_app_list(request, app_label)
        apps = super().get_app_list(request)
        section = next((a for a in apps if a["app_label"] == ACCOUNTS_SECTION), None)
        if section is not None:
            for joining in [a for a in apps if a["app_label"] in JOINS_ACCOUNTS]:
                section["models"].extend(joining["models"])
                apps.remove(joining)
            rank = {name: i for i, name in enumerate(ACCOUNTS_ORDER)}
            section["models"].sort(key=lambda m: (rank.get(m["object_name"], len(rank)), m["name"]))
        if app_label is not None:
            return [a for a in apps if a["app_label"] == app_label]
        return apps

    def each_context(self, request):
        """The header and the window title carry the operator's brand."""
        context = super().each_context(request)
        name = brand_current().name
        context.update(site_header=f"{name} administration", site_title=f"{name} admin")
        return context

    def has_permission(self, request) -> bool:
        return super().has_permission(request) and not admin_mfa_missing(request)

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """allauth's login for visitors, 403 for customers, the TOTP step for staff, then `next`."""
        return secure_admin_login(self._signed_in_staff)(request)

    def _signed_in_staff(self, request):
        next_url = get_next_redirect_url(request) or reverse("admin:index", current_app=self.name)
        missing = admin_mfa_missing(request)
        if missing == SET_UP_TOTP:
            messages.warning(
                request,
                "The admin requires two-factor authentication. Set up an authenticator app "
                "(after confirming your password), then open the admin again.",
            )
            return redirect("mfa_activate_totp")
        if missing == ENTER_CODE:
            messages.info(request, "Enter a code from your authenticator app to open the admin.")
            return HttpResponseRedirect(f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}")
        return HttpResponseRedirect(next_url)

    def password_change(self, request, extra_context=None):
        """One password form for everyone: allauth's (current password, limits, notice e-mail)."""
        return redirect("account_change_password")

    def password_change_done(self, request, extra_context=None):
        return redirect("account_change_password")
