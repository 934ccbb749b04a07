"""The authorized IPs' dashboard actions (their list and form live on the Proxies page)."""

from django.urls import path

from orders import views

urlpatterns = [
    path("add", views.authorized_ip_add, name="authorized_ip_add"),
    path("<str:ip_id>/remove", views.authorized_ip_remove, name="authorized_ip_remove"),
]
