"""The Webhooks page (owners and admins): endpoints, the secret shown once, test events, deliveries.

The secret never travels through the session: after a creation the session holds only the new
endpoint's id, and the redirected GET reads the secret from the database once, then forgets it.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.permissions import dashboard_view
from core.errors import Conflict, DomainValidationError, NotFound

from . import selectors, services
from .forms import EndpointCreateForm
from .models import Endpoint

REVEAL_SESSION_KEY = "events:new-endpoint"
DELIVERIES_SHOWN = 50


def _endpoint(request, endpoint_id: str) -> Endpoint:
    try:
        return services.endpoint_get(account=request.account, public_id=endpoint_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _render(request, *, form=None, status=200, open_dialog=None):
    new_endpoint = None
    new_id = request.session.pop(REVEAL_SESSION_KEY, None) if request.method == "GET" else None
    if new_id:
        new_endpoint = selectors.endpoints_list(account=request.account).filter(public_id=new_id).first()
    response = render(request, "events/page.html", {
        "endpoints": selectors.endpoints_list(account=request.account),
        "form": form or EndpointCreateForm(),
        "new_endpoint": new_endpoint,
        "open_dialog": open_dialog,
    }, status=status)
    response["Cache-Control"] = "no-store"
    return response


@dashboard_view("manage_webhooks")
@require_http_methods(["GET", "POST"])
def webhooks_page(request):
    if request.method == "GET":
        return _render(request, open_dialog="create" if request.GET.get("create") else None)
    form = EndpointCreateForm(request.POST)
    if form.is_valid():
        try:
            endpoint = services.endpoint_create(account=request.account, url=form.cleaned_data["url"],
                                                events=form.cleaned_data["events"])
        except DomainValidationError as exc:
            form.add_error("url" if "url" in exc.meta.get("fields", {}) else None, exc.message)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            request.session[REVEAL_SESSION_KEY] = endpoint.public_id
            return redirect("dashboard:webhooks")
    return _render(request, form=form, status=400, open_dialog="create")


@dashboard_view("manage_webhooks")
@require_http_methods(["GET"])
def webhook_detail(request, endpoint_id: str):
    endpoint = _endpoint(request, endpoint_id)
    deliveries = selectors.deliveries_list(account=request.account, endpoint=endpoint)[:DELIVERIES_SHOWN]
    response = render(request, "events/detail.html", {"endpoint": endpoint, "deliveries": deliveries})
    response["Cache-Control"] = "no-store"
    return response


@dashboard_view("manage_webhooks")
@require_POST
def webhook_toggle(request, endpoint_id: str):
    endpoint = _endpoint(request, endpoint_id)
    endpoint = services.endpoint_update(account=request.account, public_id=endpoint.public_id,
                                        enabled=not endpoint.enabled)
    messages.success(request, f"Endpoint {endpoint.url} {'enabled' if endpoint.enabled else 'disabled'}.")
    if request.POST.get("next") == "detail":
        return redirect("dashboard:webhook", endpoint.public_id)
    return redirect("dashboard:webhooks")


@dashboard_view("manage_webhooks")
@require_http_methods(["GET", "POST"])
def webhook_delete(request, endpoint_id: str):
    """GET: the confirmation (the no-JavaScript path). POST: delete."""
    endpoint = _endpoint(request, endpoint_id)
    if request.method == "GET":
        return render(request, "events/delete.html", {"endpoint": endpoint})
    services.endpoint_delete(account=request.account, public_id=endpoint.public_id)
    messages.success(request, f"Endpoint {endpoint.url} was deleted.")
    return redirect("dashboard:webhooks")


@dashboard_view("manage_webhooks")
@require_POST
def webhook_test(request, endpoint_id: str):
    endpoint = _endpoint(request, endpoint_id)
    event = services.endpoint_ping(account=request.account, public_id=endpoint.public_id)
    messages.success(request, f"Test event {event.public_id} sent; its delivery appears below.")
    return redirect("dashboard:webhook", endpoint.public_id)


@dashboard_view("manage_webhooks")
@require_POST
def webhook_resend(request, endpoint_id: str, delivery_id: str):
    try:
        services.delivery_resend(account=request.account, endpoint_id=endpoint_id, delivery_id=delivery_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    messages.success(request, "The event was sent again; its delivery appears below.")
    return redirect("dashboard:webhook", endpoint_id)
