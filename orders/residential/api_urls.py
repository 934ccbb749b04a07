from django.urls import path

from orders.residential import api

urlpatterns = [
    path("geo/countries", api.GeoCountriesView.as_view(), name="api-geo-countries"),
    path("geo/states", api.GeoStatesView.as_view(), name="api-geo-states"),
    path("geo/cities", api.GeoCitiesView.as_view(), name="api-geo-cities"),
    path("geo/zip", api.GeoZipView.as_view(), name="api-geo-zip"),
    path("proxy", api.SubUserListView.as_view(), name="api-proxies"),
    path("proxy/<str:proxy_id>", api.SubUserDetailView.as_view(), name="api-proxy"),
    path("stats", api.StatsView.as_view(), name="api-stats"),
    path("stats/export", api.StatsExportView.as_view(), name="api-stats-export"),
]
