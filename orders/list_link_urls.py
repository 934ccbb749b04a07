"""`/l/<token>`: an order's proxy list behind a secret link, without an API key."""

from django.urls import path

from orders import views

urlpatterns = [
    path("<str:token>", views.list_link_serve, name="list_link"),
]
