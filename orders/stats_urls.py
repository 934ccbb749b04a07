from django.shortcuts import render
from django.urls import path

from accounts.permissions import dashboard_view


@dashboard_view("view")
def page(request):
    return render(request, "placeholder/page.html", {"title": "Statistics"})


urlpatterns = [path("", page, name="stats")]
