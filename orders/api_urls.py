from django.urls import path

from orders import api

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
    path("orders/<str:order_id>/replace", api.OrderReplaceView.as_view(), name="api-order-replace"),
    path("orders/<str:order_id>/list-links", api.OrderListLinksView.as_view(), name="api-order-list-links"),
    path("orders/<str:order_id>/list-links/<str:link_id>", api.OrderListLinkDetailView.as_view(),
         name="api-order-list-link"),
    path("account/authorized-ips", api.AuthorizedIPListView.as_view(), name="api-authorized-ips"),
    path("account/authorized-ips/<str:ip_id>", api.AuthorizedIPDetailView.as_view(), name="api-authorized-ip"),
]
