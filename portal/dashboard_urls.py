"""Every dashboard page lives in the `dashboard` namespace; each app contributes its pages."""

from django.urls import include, path

from portal import views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("", include("accounts.urls")),
    path("keys/", include("apikeys.urls")),
    path("billing/", include("billing.urls")),
    path("orders/", include("orders.urls")),
    path("authorized-ips/", include("orders.authorized_ip_urls")),
    path("", include("orders.residential.urls")),  # proxies/ and stats/
    path("checker/", include("checker.urls")),
    # Outgoing events; /webhooks/ is where the portal receives calls.
    path("settings/webhooks/", include("events.urls")),
]
