from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from portal import views

api_v1 = [
    # Public documentation: no API key needed to read the schema or the Swagger UI.
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
         name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[],
                                                 permission_classes=[AllowAny]), name="docs"),
    path("", include("billing.api_urls")),
    path("", include("orders.api_urls")),
    path("", include("checker.api_urls")),
    re_path(r"^.*$", views.api_not_found),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),  # first: the most frequent requests resolve soonest
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("webhooks/", include("billing.webhook_urls")),
    path("webhooks/", include("orders.webhook_urls")),
    path("judge", include("checker.judge_urls")),
    path("healthz", views.healthz, name="healthz"),
    path("", include("portal.dashboard_urls")),
]

handler400 = "portal.views.handler400"
handler403 = "portal.views.handler403"
handler404 = "portal.views.handler404"
handler500 = "portal.views.handler500"
