from django.urls import path

from events import api

urlpatterns = [
    path("webhooks/endpoints", api.EndpointListView.as_view(), name="api-webhook-endpoints"),
    path("webhooks/endpoints/<str:endpoint_id>", api.EndpointDetailView.as_view(), name="api-webhook-endpoint"),
    path("webhooks/endpoints/<str:endpoint_id>/test", api.EndpointTestView.as_view(), name="api-webhook-endpoint-test"),
    path("webhooks/endpoints/<str:endpoint_id>/deliveries", api.EndpointDeliveriesView.as_view(),
         name="api-webhook-endpoint-deliveries"),
]
