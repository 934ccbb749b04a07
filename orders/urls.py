from django.urls import path

from orders import order_views

urlpatterns = [
    path("", order_views.orders_page, name="orders"),
    path("price", order_views.order_price, name="orders_price"),
    path("<str:order_id>/", order_views.order_detail, name="order_detail"),
    path("<str:order_id>/extend", order_views.order_extend, name="order_extend"),
    path("<str:order_id>/download.<str:fmt>", order_views.order_download, name="order_download"),
]
