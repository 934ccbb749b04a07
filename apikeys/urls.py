from django.urls import path

from apikeys import views

urlpatterns = [
    path("", views.apikeys_page, name="apikeys"),
    path("<str:key_id>/revoke/", views.apikey_revoke_view, name="apikey_revoke"),
]
