from django.urls import path

from billing import views

urlpatterns = [
    path("", views.billing_page, name="billing"),
    path("addresses/", views.address_create, name="billing_address_create"),
    path("premium/", views.premium_upgrade, name="billing_premium_upgrade"),
]
