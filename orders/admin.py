"""Operator tools for orders: the catalogue and price list (with the provider per type), orders
(cancel and refund; cost, price and margin), stock, and the upstream seller (its balance, its
failed calls)."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from accounts.services import audit_log
from core.errors import PortalError, UpstreamError
from core.forms import form_add_service_error
from core.http import client_ip
from core.money import money_str

from . import services
from .models import (
    AuthorizedIP,
    Country,
    InventoryProxy,
    Order,
    OrderExtension,
    OrderListLink,
    OrderProxy,
    OrderStatus,
    Period,
    PeriodDiscount,
    PriceRule,
    ProxyReplacement,
    ProxyType,
    ProxyTypeCode,
    StockStatus,
    StockThreshold,
    UpstreamBalanceCheck,
    UpstreamCallFailure,
    VolumeTier,
)
from .providers import ProvisioningPending, provider_name_for_type

# --- catalogue --------------------------------------------------------------------------------


@admin.register(ProxyType)
class ProxyTypeAdmin(admin.ModelAdmin):
    """The provider per type: `provider` (blank: the environment's) and, for upstream types,
    `markup_percent` (blank: UPSTREAM_MARKUP_PERCENT). The list also shows the balance held at
    the upstream seller when a type buys there."""

    # Quantities and units are on each type's page; the list fits a laptop screen.
    list_display = ["code", "name", "is_active", "sort_order", "provider", "markup_percent", "supplied_by"]
    list_editable = ["name", "is_active", "sort_order", "provider", "markup_percent"]
    list_filter = ["unit", "is_active"]

    @admin.display(description="Supplied now by")
    def supplied_by(self, obj):
        return provider_name_for_type(obj.code)

    def changelist_view(self, request, extra_context=None):
        from .providers.upstream import upstream_account, upstream_in_use

        if request.method == "GET" and upstream_in_use():
            try:
                account = upstream_account()
            except UpstreamError as exc:
                self.message_user(request, f"Upstream seller: {exc.message}", messages.WARNING)
            else:
                low = account.balance < settings.UPSTREAM_LOW_BALANCE_USD
                self.message_user(
                    request,
                    f"Balance at the upstream seller ({account.name}): {money_str(account.balance)} {account.currency}"
                    + (f" — under UPSTREAM_LOW_BALANCE_USD ({settings.UPSTREAM_LOW_BALANCE_USD})" if low else "."),
                    messages.WARNING if low else messages.INFO,
                )
        return super().changelist_view(request, extra_context)


@admin.register(Period)
class PeriodAdmin(admin.ModelAdmin):
    list_display = ["days", "label", "is_active"]
    list_editable = ["label", "is_active"]


@admin.register(Country)
class CountryAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "type_list", "is_active"]
    list_editable = ["is_active"]
    list_filter = ["is_active", "types"]
    search_fields = ["code", "name"]
    filter_horizontal = ["types"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("types")

    @admin.display(description="Types")
    def type_list(self, obj):
        return ", ".join(t.code for t in obj.types.all())


class VolumeTierInline(admin.TabularInline):
    model = VolumeTier
    extra = 1


class PeriodDiscountInline(admin.TabularInline):
    model = PeriodDiscount
    extra = 1


@admin.register(PriceRule)
class PriceRuleAdmin(admin.ModelAdmin):
    list_display = ["proxy_type", "country", "unit_price", "base_period_days", "tiers", "is_active"]
    list_editable = ["unit_price", "is_active"]
    list_filter = ["proxy_type", "is_active"]
    search_fields = ["country__code", "country__name"]
    list_select_related = ["proxy_type", "country"]
    autocomplete_fields = ["country"]
    inlines = [VolumeTierInline, PeriodDiscountInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("volume_tiers", "period_discounts")

    @admin.display(description="Volume tiers / period discounts")
    def tiers(self, obj):
        volume = ", ".join(f"≥{t.min_quantity.normalize():f}: −{t.discount_percent.normalize():f}%" for t in obj.volume_tiers.all())
        period = ", ".join(f"{d.period_days}d: −{d.discount_percent.normalize():f}%" for d in obj.period_discounts.all())
        return " | ".join(x for x in (volume, period) if x) or "—"


# --- orders -----------------------------------------------------------------------------------


class OrderProxyInline(admin.TabularInline):
    model = OrderProxy
    extra = 0
    fields = ["host", "port", "username", "password", "protocol", "country", "released_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class OrderExtensionInline(admin.TabularInline):
    model = OrderExtension
    extra = 0
    fields = ["number", "period_days", "total", "provider_cost", "created_at", "created_by"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class CancelOrderForm(forms.Form):
    REFUNDS = [
        ("full", "Refund everything paid (charge and extensions)"),
        ("prorata", "Refund the unused part (remaining time, or unused residential traffic)"),
        ("none", "No refund"),
    ]
    refund = forms.ChoiceField(choices=REFUNDS, initial="full", widget=forms.RadioSelect)
    reason = forms.CharField(max_length=255, help_text="Kept on the order and in the audit log.")


@admin.action(description="Cancel and refund", permissions=["change"])
def cancel_and_refund(modeladmin, request, queryset):
    form = CancelOrderForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        refund, reason = form.cleaned_data["refund"], form.cleaned_data["reason"]
        for order in queryset.select_related("account"):
            try:
                amount = services.order_cancel(order=order, refund=refund, created_by=request.user, reason=reason)
            except PortalError as exc:
                modeladmin.message_user(request, f"{order.public_id}: {exc.message}", messages.ERROR)
                continue
            audit_log(
                account=order.account, action="order.cancelled", actor=request.user, actor_label="operator",
                target=order.public_id, ip=client_ip(request),
                details={"refund": refund, "refunded": money_str(amount), "reason": reason},
            )
            modeladmin.message_user(
                request, f"{order.public_id}: cancelled, {money_str(amount)} USD refunded.", messages.SUCCESS
            )
        return None
    return TemplateResponse(request, "orders/admin/cancel_orders.html", {
        **modeladmin.admin_site.each_context(request),
        "title": "Cancel and refund orders",
        "form": form,
        "orders": queryset,
        "opts": modeladmin.model._meta,
        "action_name": "cancel_and_refund",
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
    })


@admin.action(description="Retry provisioning of pending orders", permissions=["change"])
def retry_provisioning(modeladmin, request, queryset):
    for order in queryset.filter(status=OrderStatus.PENDING):
        try:
            result = services.order_provision(order=order).status
        except ProvisioningPending as wait:
            result = f"still pending ({wait.why}); the task and the sweep look again"
        modeladmin.message_user(request, f"{order.public_id}: {result}")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["public_id", "account", "type", "quantity", "status", "total", "provider_cost", "margin_display",
                    "created_at"]
    list_filter = ["status", "type", "provider", "auto_renew", "created_at"]
    search_fields = ["public_id", "provider_ref", "account__name", "account__public_id", "country"]
    list_select_related = ["account"]
    date_hierarchy = "created_at"
    actions = [cancel_and_refund, retry_provisioning]
    inlines = [OrderProxyInline, OrderExtensionInline]
    readonly_fields = [
        "public_id", "account", "type", "quantity", "period_days", "country", "status", "unit_price", "subtotal",
        "discount", "total", "created_at", "activated_at", "expires_at", "ended_at", "traffic_gb",
        "traffic_used_gb", "provider", "provider_ref", "provider_cost", "margin_display", "paid_cost_margin",
        "provider_checked_at", "failure_reason", "extension_count", "auto_renew", "renewal_failed_at",
        "reminded_7d_at", "reminded_3d_at", "reminded_1d_at", "created_by",
    ]
    fields = readonly_fields

    @admin.display(description="Margin")
    def margin_display(self, obj):
        """The placement's price less its cost (what the provider charged); — without a cost."""
        return "—" if obj.margin is None else money_str(obj.margin)

    @admin.display(description="With extensions: price / cost / margin")
    def paid_cost_margin(self, obj):
        extensions = list(obj.extensions.all())
        price = obj.total + sum((e.total for e in extensions), start=0)
        if obj.provider_cost is None:
            return f"{money_str(price)} / — / —"
        cost = obj.provider_cost + sum((e.provider_cost or 0 for e in extensions), start=0)
        return f"{money_str(price)} / {money_str(cost)} / {money_str(price - cost)}"

    def has_add_permission(self, request, obj=None):
        return False  # orders are placed through the order service, which charges the ledger

    def has_delete_permission(self, request, obj=None):
        return False


# --- the upstream seller ------------------------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UpstreamCallFailure)
class UpstreamCallFailureAdmin(ReadOnlyAdmin):
    """Every failed call to the upstream with what it answered (its key is never stored)."""

    list_display = ["created_at", "operation", "order", "upstream_status", "error_type", "message", "retry_after"]
    list_filter = ["operation", "upstream_status", "error_type"]
    search_fields = ["order__public_id", "message", "error_type"]
    list_select_related = ["order"]
    date_hierarchy = "created_at"


@admin.register(UpstreamBalanceCheck)
class UpstreamBalanceCheckAdmin(ReadOnlyAdmin):
    """The upstream balance as the beat read it (`orders.tasks.check_upstream_balance`)."""

    list_display = ["checked_at", "balance", "currency", "alerted"]
    list_filter = ["alerted"]
    date_hierarchy = "checked_at"


# --- stock ---------------------------------------------------------------------------------------


class StockUploadForm(forms.Form):
    type = forms.ChoiceField(choices=[c for c in ProxyTypeCode.choices if c[0] != ProxyTypeCode.RESIDENTIAL])
    country = forms.CharField(max_length=2, help_text="ISO code, e.g. US")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), required=False, label="Proxies")
    file = forms.FileField(required=False, help_text="Or a text file, one proxy a line")

    def clean(self):
        data = super().clean()
        chunks = [data.get("text") or ""]
        if data.get("file"):
            chunks.append(data["file"].read().decode("utf-8", "replace"))
        data["all_text"] = "\n".join(chunks)
        if not data["all_text"].strip():
            raise forms.ValidationError("Paste proxies or choose a file.")
        return data


@admin.action(description="Disable (stop selling) selected free stock", permissions=["change"])
def disable_stock(modeladmin, request, queryset):
    count = queryset.filter(status=StockStatus.AVAILABLE).update(status=StockStatus.DISABLED)
    modeladmin.message_user(request, f"{count} proxies disabled.")


@admin.action(description="Make selected disabled stock available", permissions=["change"])
def enable_stock(modeladmin, request, queryset):
    count = queryset.filter(status=StockStatus.DISABLED, order__isnull=True).update(status=StockStatus.AVAILABLE)
    modeladmin.message_user(request, f"{count} proxies available again.")


@admin.register(InventoryProxy)
class InventoryProxyAdmin(admin.ModelAdmin):
    list_display = ["host", "port", "type", "country", "status", "order", "quarantined_until"]
    list_filter = ["type", "status", "country", "protocol"]
    search_fields = ["host", "username", "order__public_id"]
    list_select_related = ["order"]
    raw_id_fields = ["order"]
    readonly_fields = ["order", "allocated_at", "created_at"]
    actions = [disable_stock, enable_stock]
    change_list_template = "orders/admin/inventoryproxy_changelist.html"

    def get_urls(self):
        custom = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="orders_inventoryproxy_upload"),
        ]
        return custom + super().get_urls()

    def upload_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = StockUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = services.inventory_import(type=data["type"], country=data["country"], text=data["all_text"])
            except PortalError as exc:
                form_add_service_error(form, exc)
            else:
                self.message_user(
                    request,
                    f"{data['type']} / {data['country'].upper()}: {result['imported']} imported, "
                    f"{result['skipped']} skipped, {result['invalid']} invalid lines."
                    + ("" if result["orderable"] else " Note: the catalogue does not sell this type in this country."),
                    messages.SUCCESS if result["orderable"] else messages.WARNING,
                )
                return redirect("admin:orders_inventoryproxy_changelist")
        return TemplateResponse(request, "orders/admin/upload.html", {
            **self.admin_site.each_context(request),
            "title": "Upload stock",
            "form": form,
            "opts": self.model._meta,
        })


@admin.register(StockThreshold)
class StockThresholdAdmin(admin.ModelAdmin):
    """Low-stock thresholds: the beat (`orders.tasks.check_stock_thresholds`) e-mails the staff
    once when the stock that can be sold falls below one; the console lists them beside the stock."""

    list_display = ["type", "country_label", "minimum", "alerted_at"]
    list_editable = ["minimum"]
    list_filter = ["type"]
    readonly_fields = ["alerted_at"]

    @admin.display(description="Country", ordering="country")
    def country_label(self, obj):
        return obj.country or "all countries"


# --- order tools ----------------------------------------------------------------------------------


@admin.action(description="Export every authorized IP with its account's stock proxies (CSV)")
def export_authorized_ips_csv(modeladmin, request, queryset):
    """The whole list, whatever is selected: the operator's proxy servers need all of it."""
    from django.http import HttpResponse
    from django.utils import timezone

    from .exports import write_authorized_ips_csv
    from .selectors import authorized_ip_export_rows

    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="authorized-ips-{timezone.now():%Y%m%d-%H%M%S}.csv"'
    write_authorized_ips_csv(response, authorized_ip_export_rows())
    return response


@admin.register(AuthorizedIP)
class AuthorizedIPAdmin(admin.ModelAdmin):
    list_display = ["ip", "account", "created_at", "last_used_at", "created_by"]
    search_fields = ["ip", "account__name", "account__public_id"]
    list_select_related = ["account", "created_by"]
    readonly_fields = ["public_id", "account", "ip", "created_at", "last_used_at", "created_by"]
    actions = [export_authorized_ips_csv]

    def has_add_permission(self, request):
        return False  # customers add them (API, Proxies page), within their limit


@admin.register(ProxyReplacement)
class ProxyReplacementAdmin(admin.ModelAdmin):
    list_display = ["order", "old_proxy", "new_proxy", "created_at", "actor_label"]
    search_fields = ["order__public_id", "old_proxy__host", "new_proxy__host"]
    list_select_related = ["order", "old_proxy", "new_proxy"]
    readonly_fields = ["public_id", "order", "old_proxy", "new_proxy", "created_at", "created_by", "actor_label"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OrderListLink)
class OrderListLinkAdmin(admin.ModelAdmin):
    list_display = ["public_id", "order", "token_hint", "created_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["public_id", "order__public_id"]
    list_select_related = ["order"]
    readonly_fields = ["public_id", "order", "token_hash", "token_hint", "created_at", "created_by"]

    def has_add_permission(self, request):
        return False  # the token is shown once, to the customer who creates the link
