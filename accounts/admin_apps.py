from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """django.contrib.admin on the portal's site (accounts/admin_site.py): allauth's sign-in."""

    default_site = "accounts.admin_site.PortalAdminSite"
