"""The residential wing's dashboard pages, parse → call a service → render or redirect.

- Proxies (sub-users): list, create with geo targeting, detail with connection strings, edit
  limits/whitelist/targeting, enable/disable, delete. Works without JavaScript; the cascading
  country → state → city pickers call the small JSON endpoints below the page's views.
- Statistics: a traffic chart (Chart.js, vendored), per-day and per-proxy breakdowns, and
  CSV/JSON export of the same figures as GET /stats/export.
"""

import re
from datetime import UTC
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import dashboard_view, has_capability
from core import dates
from core.errors import Conflict, DomainValidationError, NotFound, PortalError, UpstreamError
from core.files import download_response
from core.forms import form_add_service_error
from orders.snippets import TEST_URL as SNIPPETS_TEST_URL
from orders.snippets import connection_snippets

from . import geo, selectors, services
from .exports import EXPORT_FORMATS, stats_file
from .forms import SubUserCreateForm, SubUserEditForm
from .models import BYTES_PER_GB
from .serializers import parse_stats_query

# --- Proxies page -------------------------------------------------------------------------------

PROXIES_PER_PAGE = 25
GEO_OPTIONS_MAX = 200


def _render_list(request, *, form=None, status=200, open_create=False):
    account = request.account
    page = Paginator(selectors.subusers_list(account=account), PROXIES_PER_PAGE).get_page(request.GET.get("page"))
    form = form or SubUserCreateForm(account=account, initial={"rotation": "rotating", "protocol": "http"})
    return render(request, "proxies/page.html", {
        "page": page,
        "proxies": page.object_list,
        "form": form,
        "has_orders": bool(form.fields["order"].choices),
        "open_create": open_create,
        "can_operate": has_capability(request.membership, "operate"),
        "count": selectors.subusers_list(account=account).count(),
        "limit": selectors.max_subusers(account),
    }, status=status)


@dashboard_view("view")
@require_http_methods(["GET", "POST"])
def proxies_page(request):
    if request.method == "POST":
        return _create(request)
    return _render_list(request, open_create=bool(request.GET.get("create")))


@dashboard_view("operate")
def _create(request):
    form = SubUserCreateForm(request.POST, account=request.account)
    if form.is_valid():
        d = form.cleaned_data
        try:
            proxy = services.subuser_create(
                account=request.account, order_id=d["order"], name=d["name"], protocol=d["protocol"],
                country=d.get("country") or "", state=d.get("state") or "", city=d.get("city") or "",
                zip=d.get("zip") or "", rotation=d["rotation"], sticky_ttl_minutes=d["sticky_ttl_minutes"],
                traffic_limit_gb=d.get("traffic_limit_gb"), whitelist=d.get("whitelist") or [],
            )
        except (DomainValidationError, Conflict, NotFound, UpstreamError) as exc:
            form_add_service_error(form, exc, renamed={"order_id": "order"})
        else:
            messages.success(request, f"Proxy “{proxy.name}” was created.")
            return redirect("dashboard:proxy_detail", proxy_id=proxy.public_id)
    return _render_list(request, form=form, status=400, open_create=True)


def _get(request, proxy_id):
    try:
        return selectors.subuser_get(account=request.account, public_id=proxy_id)
    except NotFound:
        raise Http404("No such proxy.") from None


def _render_detail(request, proxy, *, form=None, status=200, confirm_delete=False):
    connection = selectors.connection(proxy)
    return render(request, "proxies/detail.html", {
        "proxy": proxy,
        "host": connection.host,
        "port": connection.port,
        "connection_username": connection.username,
        "connection": connection.strings,
        "snippets": connection_snippets(
            host=connection.host, port=connection.port, username=connection.username, password=proxy.password,
            protocol=proxy.protocol,
        ),
        "snippets_test_url": SNIPPETS_TEST_URL,
        "form": form or SubUserEditForm.for_proxy(proxy),
        "confirm_delete": confirm_delete,
        "can_operate": has_capability(request.membership, "operate"),
    }, status=status)


@dashboard_view("view")
@require_http_methods(["GET", "POST"])
def proxy_detail(request, proxy_id: str):
    proxy = _get(request, proxy_id)
    if request.method == "POST":
        return _edit(request, proxy)
    return _render_detail(request, proxy, confirm_delete=bool(request.GET.get("delete")))


@dashboard_view("operate")
def _edit(request, proxy):
    form = SubUserEditForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        limit = d.get("traffic_limit_gb")
        changes = services.SubUserInput(
            name=d["name"], protocol=d["protocol"], country=d.get("country") or "", state=d.get("state") or "",
            city=d.get("city") or "", zip=d.get("zip") or "", rotation=d["rotation"],
            sticky_ttl_minutes=d["sticky_ttl_minutes"], whitelist=d.get("whitelist") or [],
            traffic_limit_gb=limit if limit is not None else Decimal(0),
        )
        try:
            proxy = services.subuser_update(account=request.account, public_id=proxy.public_id, changes=changes)
        except (DomainValidationError, Conflict, NotFound, UpstreamError) as exc:
            form_add_service_error(form, exc, renamed={"order_id": "order"})
        else:
            messages.success(request, f"Proxy “{proxy.name}” was saved.")
            return redirect("dashboard:proxy_detail", proxy_id=proxy.public_id)
    return _render_detail(request, proxy, form=form, status=400)


@dashboard_view("operate")
@require_POST
def proxy_status(request, proxy_id: str):
    proxy = _get(request, proxy_id)
    wanted = request.POST.get("status")
    if wanted not in ("active", "disabled"):
        messages.error(request, "Choose enable or disable.")
        return redirect("dashboard:proxy_detail", proxy_id=proxy.public_id)
    try:
        proxy = services.subuser_update(
            account=request.account, public_id=proxy.public_id, changes=services.SubUserInput(status=wanted)
        )
    except PortalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Proxy “{proxy.name}” is {'enabled' if proxy.status == 'active' else 'disabled'}.")
    if request.POST.get("next") == "list":
        return redirect("dashboard:proxies")
    return redirect("dashboard:proxy_detail", proxy_id=proxy.public_id)


@dashboard_view("operate")
@require_POST
def proxy_delete(request, proxy_id: str):
    proxy = _get(request, proxy_id)
    try:
        services.subuser_delete(account=request.account, public_id=proxy.public_id)
    except PortalError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:proxy_detail", proxy_id=proxy.public_id)
    messages.success(request, f"Proxy “{proxy.name}” was deleted.")
    return redirect("dashboard:proxies")


# --- JSON for the cascading pickers ---------------------------------------------------------


@dashboard_view("view")
@require_GET
def geo_states(request):
    try:
        states = geo.search_states(country=request.GET.get("country"), q=request.GET.get("q", ""))
    except DomainValidationError as exc:
        return JsonResponse({"error": exc.message, "items": []}, status=400)
    return JsonResponse({"items": [{"code": s.code, "name": s.name} for s in states]})


@dashboard_view("view")
@require_GET
def geo_cities(request):
    try:
        cities = geo.search_cities(
            country=request.GET.get("country"), state=request.GET.get("state") or None, q=request.GET.get("q", "")
        )
    except DomainValidationError as exc:
        return JsonResponse({"error": exc.message, "items": []}, status=400)
    return JsonResponse({
        "items": [{"name": c.name, "state": c.state} for c in cities[:GEO_OPTIONS_MAX]],
        "total": len(cities),
    })


# --- Statistics page ----------------------------------------------------------------------------


STATS_FILTER_LABELS = {"from": "From", "to": "To", "group_by": "Group by", "proxy_id": "Proxy"}


def _filter_message(message: str) -> str:
    """A parameter's error in the words of the page's filters ("from must…" → "From must…")."""
    for name, label in STATS_FILTER_LABELS.items():
        message = re.sub(rf"(^|after ){re.escape(name)}\b", rf"\g<1>{label}", message)
    return message


def _query(request):
    """(query, errors): the page shows the default range with the errors beside the filters."""
    try:
        return parse_stats_query(account=request.account, params=request.GET), {}
    except DomainValidationError as exc:
        errors = {
            name: [_filter_message(str(m)) for m in ([ms] if isinstance(ms, str) else ms)]
            for name, ms in exc.meta["fields"].items()
        }
        return parse_stats_query(account=request.account, params={}), errors
    except NotFound:
        raise Http404("No such proxy.") from None


def _gb(value: int) -> float:
    return round(value / BYTES_PER_GB, 6)


@dashboard_view("view")
@require_GET
def stats_page(request):
    query, errors = _query(request)
    totals = selectors.stats_totals(account=request.account, query=query)
    by_proxy = selectors.stats_by_proxy(account=request.account, query=query)

    # The chart has every day (or hour) of the range, one without traffic as 0; the table
    # lists the periods with traffic.
    every_period = selectors.stats_periods(account=request.account, query=query)
    periods = [p for p in every_period if p["bytes_total"] or p["requests"]]
    fmt = "%Y-%m-%d %H:00" if query.group_by == "hour" else "%Y-%m-%d"
    chart = {
        "labels": [p["period_start"].strftime(fmt) for p in every_period],
        "datasets": [
            {"label": "Downloaded (GB)", "data": [_gb(p["bytes_in"]) for p in every_period]},
            {"label": "Uploaded (GB)", "data": [_gb(p["bytes_out"]) for p in every_period]},
        ],
        "unit": "GB",
    }
    params = {"from": query.start.isoformat(), "to": query.end.isoformat(), "group_by": query.group_by}
    if query.proxy:
        params["proxy_id"] = query.proxy.public_id
    return render(request, "stats/page.html", {
        "query": query,
        "errors": errors,
        "chart": chart,
        "periods": periods,
        "by_proxy": by_proxy,
        "totals": totals,
        "proxies": selectors.subusers_list(account=request.account).order_by("name"),
        "params": params,
        "export_qs": urlencode(params),
        "period_format": "Y-m-d H:00" if query.group_by == "hour" else "Y-m-d",
        "date_min": dates.EARLIEST.isoformat(),
        "date_max": dates.latest(timezone.now().astimezone(UTC).date()).isoformat(),
    })


@dashboard_view("view")
@require_GET
def stats_export(request, fmt: str):
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown format.")
    try:
        query = parse_stats_query(account=request.account, params=request.GET)
    except DomainValidationError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    except NotFound:
        raise Http404("No such proxy.") from None
    body = stats_file(selectors.stats_rows(account=request.account, query=query, times_as_text=True), fmt)
    return download_response(body, fmt=fmt, filename=f"usage-{query.start}-{query.end}")
