"""Operator tools: customers' webhook endpoints (the secret never shown) and delivery attempts,
read-only; an endpoint can be disabled or enabled again."""

from django.contrib import admin

from events.models import Delivery, Endpoint


@admin.action(description="Disable selected endpoints")
def disable_endpoints(modeladmin, request, queryset):
    queryset.update(enabled=False, disabled_reason="Disabled by an operator")


@admin.action(description="Enable selected endpoints (forgets their failures)")
def enable_endpoints(modeladmin, request, queryset):
    queryset.update(enabled=True, failing_since=None, disabled_reason="")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["public_id", "account", "url", "enabled", "failing_since", "disabled_reason", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["=public_id", "url", "account__name", "=account__public_id"]
    list_select_related = ["account"]
    fields = ["public_id", "account", "url", "events", "enabled", "failing_since", "disabled_reason", "created_at"]
    readonly_fields = fields
    actions = [disable_endpoints, enable_endpoints]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None  # the actions, not the form: customers own their endpoints


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["public_id", "endpoint", "event", "attempt", "status_code", "error", "created_at"]
    search_fields = ["=public_id", "=endpoint__public_id", "=event__public_id"]
    list_select_related = ["endpoint", "event"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
