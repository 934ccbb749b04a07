"""The brand in the admin: one record, opened straight from the admin's index."""

from django.contrib import admin
from django.db import models
from django.shortcuts import redirect
from django.urls import reverse

from branding.models import SINGLETON_PK, Brand
from branding.selectors import brand_defaults
from branding.services import brand_save


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "logo_url", "favicon_url", "primary_color"]}),
        ("Support and legal", {"fields": ["support_email", "support_url", "terms_url", "privacy_url"]}),
    ]

    def changelist_view(self, request, extra_context=None):
        """There is only one brand: its form (or, before the first save, the add form)."""
        if Brand.objects.filter(pk=SINGLETON_PK).exists():
            return redirect(reverse("admin:branding_brand_change", args=[SINGLETON_PK]))
        return redirect(reverse("admin:branding_brand_add"))

    def get_changeform_initial_data(self, request):
        return brand_defaults()

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Brand.objects.filter(pk=SINGLETON_PK).exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = SINGLETON_PK
        brand_save(brand=obj)

    def response_post_save_add(self, request, obj):
        return redirect(reverse("admin:branding_brand_change", args=[SINGLETON_PK]))

    def response_post_save_change(self, request, obj):
        return redirect(reverse("admin:branding_brand_change", args=[SINGLETON_PK]))
