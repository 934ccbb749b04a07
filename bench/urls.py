"""The portal's URLs plus a bare view, for the API-overhead benchmark only."""

from django.http import JsonResponse
from django.urls import path

from portal.urls import handler400, handler403, handler404, handler500  # noqa: F401
from portal.urls import urlpatterns as portal_urlpatterns


def bare(request):
    return JsonResponse({"ok": True, "value": 42})


urlpatterns = [path("bench/bare", bare), *portal_urlpatterns]
