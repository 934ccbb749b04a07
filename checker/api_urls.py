from django.urls import path

from checker import api

urlpatterns = [
    path("check", api.CheckCreateView.as_view(), name="api-check"),
    path("jobs", api.JobListView.as_view(), name="api-jobs"),
    path("jobs/<str:job_id>", api.JobDetailView.as_view(), name="api-job"),
    path("jobs/<str:job_id>/items", api.JobItemsView.as_view(), name="api-job-items"),
    path("jobs/<str:job_id>/export", api.JobExportView.as_view(), name="api-job-export"),
    path("public-proxies", api.PublicProxyListView.as_view(), name="api-public-proxies"),
    path("public-proxies/export", api.PublicProxyExportView.as_view(), name="api-public-proxies-export"),
    path("premium/proxies", api.PremiumProxyListView.as_view(), name="api-premium-proxies"),
    path("premium/proxies/export", api.PremiumProxyExportView.as_view(), name="api-premium-proxies-export"),
]
