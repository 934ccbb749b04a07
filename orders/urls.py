from django.urls import path

from orders import views

urlpatterns = [
    path("", views.orders_page, name="orders"),
    path("price", views.order_price, name="orders_price"),
    path("<str:order_id>/", views.order_detail, name="order_detail"),
    path("<str:order_id>/extend", views.order_extend, name="order_extend"),
    path("<str:order_id>/auto-renew", views.order_auto_renew, name="order_auto_renew"),
    path("<str:order_id>/download.<str:fmt>", views.order_download, name="order_download"),
    path("<str:order_id>/replace", views.order_replace, name="order_replace"),
    path("<str:order_id>/list-links", views.order_list_link_create, name="order_list_link_create"),
    path("<str:order_id>/list-links/<str:link_id>/revoke", views.order_list_link_revoke,
         name="order_list_link_revoke"),
]
