"""Operator tools: the ledger (read-only), balances with the credit/debit action,
deposit addresses (with a CSV export), deposits and webhook deliveries."""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.admin import account_admin_add_action
from billing.exports import write_addresses_csv
from billing.models import (
    AccountBalance,
    Deposit,
    DepositAddress,
    DepositDelivery,
    DerivationCounter,
    LedgerEntry,
)
from billing.services import balance_adjust
from core.errors import PortalError
from core.http import client_ip
from core.money import money_str


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the operator may inspect but never add, edit or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "account", "type", "amount", "balance_after", "created_at"]
    list_filter = ["type", "created_at"]
    search_fields = ["public_id", "reference", "description", "account__name", "account__public_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account", "created_by"]


class AdjustBalanceForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2,
        help_text="Signed, in USD: 25.00 credits the balance, -10.00 debits it.",
    )
    reason = forms.CharField(max_length=255, help_text="Shown in the customer's transactions and the audit log.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("The amount must not be zero.")
        return amount


@admin.action(description="Credit or debit balance", permissions=["change"])
def credit_or_debit_balance(modeladmin, request, queryset):
    """Intermediate form (amount, reason), then one `adjustment` per selected account.

    Usable from any Account admin: `actions = [credit_or_debit_balance]`.
    """
    form = AdjustBalanceForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
        for account in queryset:
            try:
                entry = balance_adjust(account=account, amount=amount, reason=reason, actor=request.user,
                                       ip=client_ip(request))
            except PortalError as exc:
                modeladmin.message_user(request, f"{account}: {exc.message}", messages.ERROR)
            else:
                modeladmin.message_user(
                    request, f"{account}: adjusted by {money_str(entry.amount)} USD, balance now {money_str(entry.balance_after)} USD.",
                    messages.SUCCESS,
                )
        return None
    return TemplateResponse(request, "billing/admin/adjust_balance.html", {
        **modeladmin.admin_site.each_context(request),
        "title": "Credit or debit balance",
        "form": form,
        "accounts": queryset,
        "opts": modeladmin.model._meta,
        "action_name": "credit_or_debit_balance",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })


account_admin_add_action(credit_or_debit_balance)


@admin.register(AccountBalance)
class AccountBalanceAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "balance", "tier_label", "premium_until", "is_active", "created_at"]
    list_filter = ["is_active", "premium_until"]
    search_fields = ["name", "public_id", "memberships__user__email"]
    readonly_fields = ["name", "public_id", "balance", "premium_until", "is_active", "suspended_reason", "created_at"]
    fields = readonly_fields
    actions = [credit_or_debit_balance]
    ordering = ["-balance"]

    @admin.display(description="Tier")
    def tier_label(self, obj):
        return obj.tier

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Export selected addresses as CSV")
def export_addresses_csv(modeladmin, request, queryset):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="deposit-addresses-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    write_addresses_csv(response, queryset)
    return response


@admin.register(DepositAddress)
class DepositAddressAdmin(ReadOnlyAdmin):
    list_display = ["address", "currency", "network", "account", "used_at", "created_at"]
    list_filter = ["currency", "network", "chain", ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["address", "public_id", "account__name", "account__public_id"]
    list_select_related = ["account"]
    actions = [export_addresses_csv]


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "account", "currency", "network", "amount_usd", "confirmations", "status"]
    list_filter = ["status", "currency", "network"]
    search_fields = ["txid", "address__address", "account__name", "account__public_id"]
    list_select_related = ["account"]


@admin.register(DepositDelivery)
class DepositDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "status_code", "signature_ok", "outcome", "remote_ip", "deposit"]
    list_filter = ["status_code", "signature_ok"]
    search_fields = ["raw_body", "outcome"]
    date_hierarchy = "received_at"


@admin.register(DerivationCounter)
class DerivationCounterAdmin(ReadOnlyAdmin):
    list_display = ["key_id", "chain", "next_index"]
