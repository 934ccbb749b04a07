"""Operator tools for users, accounts (tenants), memberships, invitations, the audit log and
plans (tiers, rate limits and quotas; `/admin/accounts/plan/`).

Suspension goes through `accounts.services.account_set_active` (audited); the balance is
read-only here and moves only through the ledger (the "Credit or debit balance" action).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import Account, AuditLogEntry, Invitation, Membership, Plan, User
from accounts.selectors import forget_plan_limits
from accounts.services import (
    ACCOUNT_NAME_MAX,
    account_set_active,
    audit_log,
    member_keys_revoke,
    membership_ends_key_right,
    user_delete,
)
from core.http import client_ip
from core.text import validate_plain_text


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(ReadOnlyMixin, admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "account", "role", "created_at"]
    readonly_fields = fields
    show_change_link = True


# --- Users ------------------------------------------------------------------------------


class PlainEmailMixin:
    """An operator's typing is checked like a customer's: no control characters in an address."""

    def clean_email(self):
        email = self.cleaned_data["email"]
        validate_plain_text(email)
        return email


class PortalUserCreationForm(PlainEmailMixin, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class PortalUserChangeForm(PlainEmailMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = PortalUserChangeForm
    add_form = PortalUserCreationForm
    ordering = ["email"]
    list_display = ["email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["email", "first_name", "last_name", "memberships__account__name"]
    readonly_fields = ["date_joined", "last_login"]
    inlines = [MembershipInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),
    )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def delete_model(self, request, obj):
        user_delete(user=obj, operator=request.user, ip=client_ip(request))

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                user_delete(user=user, operator=request.user, ip=client_ip(request))


# --- Accounts ---------------------------------------------------------------------------


class SuspendForm(forms.Form):
    reason = forms.CharField(
        max_length=255, required=False, validators=[validate_plain_text],
        help_text="Kept with the account and in its audit log. The account's API keys get 403 account_inactive.",
    )


@admin.action(description="Suspend selected accounts", permissions=["change"])
def suspend_accounts(modeladmin, request, queryset):
    form = SuspendForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        count = 0
        for account in queryset:
            account_set_active(
                account=account, active=False, reason=form.cleaned_data["reason"], operator=request.user
            )
            count += 1
        modeladmin.message_user(request, f"Suspended {count} account(s).", messages.SUCCESS)
        return None
    return TemplateResponse(request, "accounts/admin/suspend.html", {
        **modeladmin.admin_site.each_context(request),
        "title": "Suspend accounts",
        "form": form,
        "accounts": queryset,
        "opts": modeladmin.model._meta,
        "action_name": "suspend_accounts",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })


@admin.action(description="Reactivate selected accounts", permissions=["change"])
def reactivate_accounts(modeladmin, request, queryset):
    count = 0
    for account in queryset:
        account_set_active(account=account, active=True, operator=request.user)
        count += 1
    modeladmin.message_user(request, f"Reactivated {count} account(s).", messages.SUCCESS)


class AccountAdminForm(forms.ModelForm):
    name = forms.CharField(max_length=ACCOUNT_NAME_MAX, validators=[validate_plain_text])

    class Meta:
        model = Account
        fields = ["name"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "public_id", "owner_email", "balance", "tier", "is_active", "created_at"]
    list_filter = ["is_active", "created_at", "premium_until"]
    search_fields = ["name", "public_id", "memberships__user__email"]
    readonly_fields = ["public_id", "balance", "low_balance_threshold", "premium_until", "is_active",
                       "suspended_reason", "created_at"]
    fields = ["name", "public_id", "balance", "low_balance_threshold", "premium_until", "is_active",
              "suspended_reason", "created_at"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline]
    actions = [suspend_accounts, reactivate_accounts]

    @admin.display(description="Owner")
    def owner_email(self, obj):
        return obj.owner_email

    @admin.display(description="Tier")
    def tier(self, obj):
        return obj.tier

    def has_add_permission(self, request):
        # An account is created with its owner: sign-up or `manage.py createaccount`.
        return False

    def has_delete_permission(self, request, obj=None):
        # The ledger is append-only; suspend instead.
        return False

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


def account_admin_add_action(action) -> None:
    """Adds an action of an app built on accounts to the Accounts admin (billing adds
    "Credit or debit balance"), so that accounts needs no import of the apps above it."""
    AccountAdmin.actions = [*AccountAdmin.actions, action]


# --- Memberships, invitations, audit log ------------------------------------------------


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["user__email", "account__name", "account__public_id"]
    list_select_related = ["user", "account"]
    raw_id_fields = ["user", "account"]
    readonly_fields = ["created_at"]

    # A membership that ends (deleted, or no longer owner/admin) takes its user's API keys in
    # that account with it, as on the Team page (accounts.services.member_keys_revoke).

    def save_model(self, request, obj, form, change):
        before = Membership.objects.select_related("user", "account").filter(pk=obj.pk).first() if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if membership_ends_key_right(before, obj):
                moved = (before.user_id, before.account_id) != (obj.user_id, obj.account_id)
                self._revoke_keys(request, before, "member.removed" if moved else "member.role_changed")
            audit_log(
                account=obj.account, actor=request.user, actor_label=f"operator {request.user.email}",
                action="member.role_changed" if change else "member.added",
                target=f"{obj.user.email}: {obj.role}", ip=client_ip(request),
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._revoke_keys(request, obj, "member.removed")
            audit_log(
                account=obj.account, actor=request.user, actor_label=f"operator {request.user.email}",
                action="member.removed", target=obj.user.email, ip=client_ip(request),
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for membership in queryset.select_related("user", "account"):
                self.delete_model(request, membership)

    def _revoke_keys(self, request, membership, reason: str) -> None:
        member_keys_revoke(
            user=membership.user, account=membership.account, by=request.user, reason=reason,
            ip=client_ip(request), actor_label=f"operator {request.user.email}",
        )


@admin.action(description="Revoke selected invitations", permissions=["change"])
def revoke_invitations(modeladmin, request, queryset):
    count = queryset.filter(accepted_at__isnull=True, revoked_at__isnull=True).update(revoked_at=timezone.now())
    modeladmin.message_user(request, f"Revoked {count} invitation(s).", messages.SUCCESS)


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "account", "role", "invited_by", "created_at", "expires_at", "status"]
    list_filter = ["role", "created_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "account__name", "account__public_id"]
    list_select_related = ["account", "invited_by"]
    readonly_fields = [
        "account", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at",
    ]
    exclude = ["token_hash"]
    actions = [revoke_invitations]

    @admin.display(description="Status")
    def status(self, obj):
        if obj.accepted_at:
            return "accepted"
        if obj.revoked_at:
            return "revoked"
        return "pending" if obj.is_pending else "expired"

    def has_add_permission(self, request):
        return False  # invitations are sent from the Team page, which e-mails the link


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "account", "actor_label", "action", "target", "ip_address"]
    list_filter = ["action", "created_at"]
    search_fields = ["actor_label", "action", "target", "account__name", "account__public_id", "ip_address"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    # The list fits a laptop screen: the other limits and quotas are on each plan's page.
    list_display = ["name", "tier", "price", "period_days", "limit_general", "max_subusers", "is_public"]
    list_editable = ["price", "limit_general"]
    fieldsets = [
        (None, {"fields": ["name", "tier", "price", "period_days", "is_public"]}),
        ("Rate limits", {"fields": ["limit_general", "limit_order_create", "limit_check", "limit_export"]}),
        ("Quotas", {"fields": ["max_check_job_size", "max_subusers"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(forget_plan_limits)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(forget_plan_limits)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        transaction.on_commit(forget_plan_limits)
