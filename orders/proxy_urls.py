from django.urls import path

from orders import proxy_views

urlpatterns = [
    path("", proxy_views.proxies_page, name="proxies"),
    path("geo/states", proxy_views.geo_states, name="proxies_geo_states"),
    path("geo/cities", proxy_views.geo_cities, name="proxies_geo_cities"),
    path("<str:proxy_id>/", proxy_views.proxy_detail, name="proxy_detail"),
    path("<str:proxy_id>/status", proxy_views.proxy_status, name="proxy_status"),
    path("<str:proxy_id>/delete", proxy_views.proxy_delete, name="proxy_delete"),
]
