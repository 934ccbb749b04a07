"""Operator tools for sub-user proxies and their usage, registered by `OrdersConfig.ready()`
(Django's admin discovers `orders/admin.py` only): the same services customers go through."""

from django.contrib import admin, messages

from core.errors import PortalError
from orders.models import format_gb

from . import services
from .models import SubUserProxy, UsageRecord


@admin.action(description="Disable selected sub-user proxies", permissions=["change"])
def subuser_disable(modeladmin, request, queryset):
    count = 0
    for proxy in queryset.filter(deleted_at__isnull=True).select_related("account"):
        try:
            services.subuser_update(
                account=proxy.account, public_id=proxy.public_id,
                changes=services.SubUserInput(status="disabled"),
            )
            count += 1
        except PortalError as exc:
            messages.error(request, f"{proxy.public_id}: {exc.message}")
    messages.success(request, f"{count} sub-user(s) disabled.")


@admin.action(description="Re-evaluate limits (re-enable where traffic is left)", permissions=["change"])
def subuser_reconcile(modeladmin, request, queryset):
    changed = 0
    for account in {p.account for p in queryset.select_related("account")}:
        changed += services.subusers_reconcile(account=account)
    messages.success(request, f"{changed} sub-user(s) changed state.")


@admin.register(SubUserProxy)
class SubUserProxyAdmin(admin.ModelAdmin):
    list_display = ["public_id", "name", "account", "order", "country", "used_gb", "status", "created_at"]
    list_filter = ["status", "disabled_reason", "rotation", "protocol", "country", "upstream_pending",
                   ("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["public_id", "name", "username", "upstream_id", "account__name", "account__public_id",
                     "order__public_id"]
    readonly_fields = ["public_id", "account", "order", "username", "traffic_used_bytes", "created_at", "updated_at",
                       "deleted_at", "upstream_id", "upstream_host", "upstream_port", "upstream_username",
                       "upstream_pending"]
    exclude = ["password"]
    actions = [subuser_disable, subuser_reconcile]
    list_select_related = ["account", "order"]

    @admin.display(description="Used (GB)")
    def used_gb(self, obj):
        return format_gb(obj.traffic_used_gb)

    def has_add_permission(self, request):
        return False  # customers create sub-users; the service checks orders, geo and plan limits


@admin.register(UsageRecord)
class UsageRecordAdmin(admin.ModelAdmin):
    list_display = ["period_start", "proxy", "account", "bytes_in", "bytes_out", "requests", "source"]
    list_filter = ["source", "period_start"]
    search_fields = ["record_id", "proxy__public_id", "proxy__username", "account__name", "order__public_id"]
    list_select_related = ["account", "proxy", "order"]
    date_hierarchy = "period_start"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # usage is what the provider reported; corrections come as new records
