"""The wing's dashboard pages: Proxies and Statistics (mounted at the dashboard's root)."""

from django.urls import path

from orders.residential import views

urlpatterns = [
    path("proxies/", views.proxies_page, name="proxies"),
    path("proxies/geo/states", views.geo_states, name="proxies_geo_states"),
    path("proxies/geo/cities", views.geo_cities, name="proxies_geo_cities"),
    path("proxies/<str:proxy_id>/", views.proxy_detail, name="proxy_detail"),
    path("proxies/<str:proxy_id>/status", views.proxy_status, name="proxy_status"),
    path("proxies/<str:proxy_id>/delete", views.proxy_delete, name="proxy_delete"),
    path("stats/", views.stats_page, name="stats"),
    path("stats/export.<str:fmt>", views.stats_export, name="stats_export"),
]
