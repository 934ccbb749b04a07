from django.contrib import admin, messages
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.services import apikey_revoke
from core.http import client_ip


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.active()
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are listed and revoked here, never created or edited: the secret exists only at creation
    (dashboard or `manage.py createapikey`) and neither it nor its hash is shown."""

    list_display = ("name", "account", "display_prefix", "scope_list", "last_used_at", "expires_at", "revoked_at")
    list_filter = (StateFilter, "expires_at", "created_at", "revoked_at")
    search_fields = ("name", "display_prefix", "public_id", "account__name", "account__public_id")
    list_select_related = ("account", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "public_id", "account", "name", "display_prefix", "scopes", "ip_allowlist", "expires_at", "last_used_at",
        "created_by", "created_at", "revoked_at", "revoked_by",
    )
    readonly_fields = fields
    actions = ["revoke_selected"]

    @admin.display(description="Scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only; revocation goes through the action (and its audit entry)

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay for the record

    @admin.action(description="Revoke selected keys", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True).select_related("account"):
            apikey_revoke(
                account=key.account, key_id=key.public_id, revoked_by=request.user, ip=client_ip(request),
                actor_label=f"operator ({request.user.get_username()})",
            )
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("apikeys.change_apikey")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account")


