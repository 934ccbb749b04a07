from django.urls import path

from orders import api, api_geo, api_stats, api_subusers

urlpatterns = [
    path("reference/countries", api.ReferenceCountriesView.as_view(), name="api-reference-countries"),
    path("reference/proxy-types", api.ReferenceProxyTypesView.as_view(), name="api-reference-proxy-types"),
    path("reference/periods", api.ReferencePeriodsView.as_view(), name="api-reference-periods"),
    path("reference/<str:kind>", api.ReferenceKindView.as_view(), name="api-reference-kind"),
    path("orders/calc", api.OrderCalcView.as_view(), name="api-order-calc"),
    path("orders", api.OrderListView.as_view(), name="api-orders"),
    path("orders/<str:order_id>", api.OrderDetailView.as_view(), name="api-order"),
    path("orders/<str:order_id>/proxies", api.OrderProxiesView.as_view(), name="api-order-proxies"),
    path("orders/<str:order_id>/download", api.OrderDownloadView.as_view(), name="api-order-download"),
    path("orders/<str:order_id>/extend", api.OrderExtendView.as_view(), name="api-order-extend"),
    # geo directory, sub-user proxies and statistics (the residential wing)
    path("geo/countries", api_geo.GeoCountriesView.as_view(), name="api-geo-countries"),
    path("geo/states", api_geo.GeoStatesView.as_view(), name="api-geo-states"),
    path("geo/cities", api_geo.GeoCitiesView.as_view(), name="api-geo-cities"),
    path("geo/zip", api_geo.GeoZipView.as_view(), name="api-geo-zip"),
    path("proxy", api_subusers.SubUserListView.as_view(), name="api-proxies"),
    path("proxy/<str:proxy_id>", api_subusers.SubUserDetailView.as_view(), name="api-proxy"),
    path("stats", api_stats.StatsView.as_view(), name="api-stats"),
    path("stats/export", api_stats.StatsExportView.as_view(), name="api-stats-export"),
]
