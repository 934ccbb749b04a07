from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.forms import (
    AccountSettingsForm,
    InvitationSignupForm,
    InviteForm,
    LowBalanceAlertForm,
    RoleForm,
)
from accounts.middleware import SESSION_ACCOUNT_KEY
from accounts.models import AuditLogEntry, Membership, User
from accounts.permissions import dashboard_view, has_capability, suspended_refusal
from accounts.services import (
    account_low_balance_threshold_set,
    account_rename,
    invitation_accept,
    invitation_by_token,
    invitation_create,
    invitation_revoke,
    membership_change_role,
    membership_remove,
)
from core.errors import DomainValidationError, NotFound
from core.forms import form_add_service_error
from core.http import client_ip
from core.money import money_str


@login_required
def no_account(request):
    if request.membership is not None:
        return redirect("dashboard:overview")
    return render(request, "accounts/no_account.html")


@login_required
@require_POST
def switch_account(request):
    public_id = request.POST.get("account", "")
    if "\x00" not in public_id and Membership.objects.filter(user=request.user, account__public_id=public_id).exists():
        request.session[SESSION_ACCOUNT_KEY] = public_id
    else:
        messages.error(request, "You are not a member of that account.")
    return redirect("dashboard:overview")


@dashboard_view("view")
def team(request):
    account = request.account
    form = InviteForm()
    if request.method == "POST":
        if not has_capability(request.membership, "manage_team"):
            messages.error(request, "Only owners and admins can invite members.")
            return redirect("dashboard:team")
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                invitation_create(
                    account=account, email=form.cleaned_data["email"], role=form.cleaned_data["role"],
                    invited_by=request.user, ip=client_ip(request),
                )
            except DomainValidationError as exc:
                form_add_service_error(form, exc)
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
                return redirect("dashboard:team")
    members = account.memberships.select_related("user").order_by("created_at")
    invitations = [i for i in account.invitations.order_by("-created_at") if i.is_pending]
    return render(
        request, "accounts/team.html",
        {"members": members, "invitations": invitations, "form": form, "role_form": RoleForm()},
    )


@dashboard_view("manage_team")
@require_POST
def member_role(request, membership_id: int):
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            target = membership_change_role(
                acting=request.membership, membership_id=membership_id, role=form.cleaned_data["role"],
                ip=client_ip(request),
            )
            messages.success(request, f"{target.user.email} is now {target.get_role_display().lower()}.")
        except DomainValidationError as exc:
            messages.error(request, exc.message)
        except NotFound as exc:
            raise_404(exc)
    else:
        messages.error(request, "Choose a valid role.")
    return redirect("dashboard:team")


@dashboard_view("manage_team")
@require_POST
def member_remove(request, membership_id: int):
    try:
        membership_remove(acting=request.membership, membership_id=membership_id, ip=client_ip(request))
        messages.success(request, "Member removed.")
    except DomainValidationError as exc:
        messages.error(request, exc.message)
    except NotFound as exc:
        raise_404(exc)
    return redirect("dashboard:team")


@dashboard_view("manage_team")
@require_POST
def invitation_revoke_view(request, invitation_id: int):
    try:
        invitation = invitation_revoke(acting=request.membership, invitation_id=invitation_id, ip=client_ip(request))
    except NotFound as exc:
        raise_404(exc)
    messages.success(request, f"Invitation to {invitation.email} revoked.")
    return redirect("dashboard:team")


def raise_404(exc):
    from django.http import Http404

    raise Http404(str(exc))


def invitation_accept_view(request, token: str):
    try:
        invitation = invitation_by_token(token)
    except NotFound:
        return render(request, "accounts/invitation_invalid.html", status=404)
    refusal = suspended_refusal(request, invitation.account)
    if refusal is not None:
        return refusal
    existing_user = User.objects.filter(email__iexact=invitation.email).first()
    signup_form = InvitationSignupForm()
    if request.method == "POST":
        if request.user.is_authenticated:
            try:
                membership = invitation_accept(token=token, user=request.user, ip=client_ip(request))
            except DomainValidationError as exc:
                messages.error(request, exc.message)
                return redirect(request.path)
            request.session[SESSION_ACCOUNT_KEY] = membership.account.public_id
            messages.success(request, f"Welcome to {membership.account.name}.")
            return redirect("dashboard:overview")
        if existing_user is None:
            signup_form = InvitationSignupForm(request.POST)
            if signup_form.is_valid():
                try:
                    validate_password(signup_form.cleaned_data["password1"], User(email=invitation.email))
                except ValidationError as exc:
                    signup_form.add_error("password1", exc)
                else:
                    user = _create_invited_user(invitation.email, signup_form.cleaned_data["password1"])
                    membership = invitation_accept(token=token, user=user, ip=client_ip(request))
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                    request.session[SESSION_ACCOUNT_KEY] = membership.account.public_id
                    messages.success(request, f"Welcome to {membership.account.name}.")
                    return redirect("dashboard:overview")
    return render(
        request, "accounts/invitation.html",
        {"invitation": invitation, "existing_user": existing_user, "signup_form": signup_form},
    )


@transaction.atomic
def _create_invited_user(email: str, password: str) -> User:
    """The invitation link proves the address, so the e-mail is recorded as verified."""
    from allauth.account.models import EmailAddress

    user = User.objects.create_user(email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    return user


@dashboard_view("view")
def audit(request):
    entries = AuditLogEntry.objects.filter(account=request.account).select_related("actor")
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "accounts/audit.html", {"page": page})


def _low_balance_form(account) -> LowBalanceAlertForm:
    threshold = account.low_balance_threshold
    return LowBalanceAlertForm(initial={"low_balance_threshold": "" if threshold is None else money_str(threshold)})


def _render_settings(request, *, form=None, alert_form=None, status=200):
    return render(request, "accounts/settings.html", {
        "form": form or AccountSettingsForm(initial={"name": request.account.name}),
        "alert_form": alert_form or _low_balance_form(request.account),
        "can_manage": has_capability(request.membership, "manage_team"),
    }, status=status)


@dashboard_view("view")
def account_settings(request):
    if request.method != "POST":
        return _render_settings(request)
    if not has_capability(request.membership, "manage_team"):
        messages.error(request, "Only owners and admins can change the account's settings.")
        return redirect("dashboard:settings")
    if "low_balance_threshold" in request.POST:
        return _low_balance_alert_save(request)
    form = AccountSettingsForm(request.POST)
    if form.is_valid():
        try:
            account_rename(
                account=request.account, name=form.cleaned_data["name"], actor=request.user,
                ip=client_ip(request),
            )
        except DomainValidationError as exc:
            form_add_service_error(form, exc)
        else:
            messages.success(request, "Account settings saved.")
            return redirect("dashboard:settings")
    return _render_settings(request, form=form, status=400)


def _low_balance_alert_save(request):
    form = LowBalanceAlertForm(request.POST)
    if form.is_valid():
        typed = form.cleaned_data["low_balance_threshold"].strip()
        try:
            account = account_low_balance_threshold_set(
                account=request.account, threshold=typed or None, actor=request.user, client_ip=client_ip(request),
            )
        except DomainValidationError:  # the API's wording says "null"; the page says "empty"
            form.add_error("low_balance_threshold", "Enter an amount in USD such as 10.00 (at most two decimals), "
                                                    "or leave it empty to turn the alert off.")
        else:
            threshold = account.low_balance_threshold
            messages.success(request, "Low-balance alert turned off." if threshold is None
                             else f"We will tell you when the balance falls under {money_str(threshold)} USD.")
            return redirect("dashboard:settings")
    return _render_settings(request, alert_form=form, status=400)
