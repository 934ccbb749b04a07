from django.urls import path

from orders import stats_views

urlpatterns = [
    path("", stats_views.stats_page, name="stats"),
    path("export.<str:fmt>", stats_views.stats_export, name="stats_export"),
]
