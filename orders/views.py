"""Dashboard Orders pages: the order form with its live price, the list, an order's detail."""

import uuid

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import dashboard_view, has_capability
from api.errors import http_error
from core.errors import (
    Conflict,
    DomainValidationError,
    InsufficientFunds,
    NotFound,
    UpstreamError,
)
from core.files import DOWNLOAD_FORMATS, download_response
from core.forms import form_add_service_error
from core.money import money_str

from . import pricing, selectors, services
from .exports import proxy_list_file
from .forms import ExtendForm, OrderFilterForm, OrderForm

ORDERS_PER_PAGE = 20
PLACED_TOKENS_KEPT = 20


def _quote_dict(quote) -> dict:
    return {
        "type": quote.type,
        "quantity": pricing.format_quantity(quote.quantity, quote.spec.proxy_type.unit),
        "period": quote.period,
        "country": quote.country or None,
        "unit_price": money_str(quote.unit_price),
        "subtotal": money_str(quote.subtotal),
        "discount": money_str(quote.discount),
        "total": money_str(quote.total),
        "currency": quote.currency,
    }


def _render_orders(request, *, form=None, status=200, review=None):
    account = request.account
    account.refresh_from_db(fields=["balance"])
    filters = OrderFilterForm(request.GET or None, auto_id="filter_%s")
    type_code = status_code = None
    if filters.is_valid():
        type_code = filters.cleaned_data.get("type") or None
        status_code = filters.cleaned_data.get("status") or None
    orders = Paginator(
        selectors.orders_list(account=account, type=type_code, status=status_code), ORDERS_PER_PAGE
    ).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "orders/page.html",
        {
            "account": account,
            "form": form or OrderForm(initial={"type": "datacenter", "quantity": "1", "period": "30"}),
            "form_token": uuid.uuid4().hex,
            "review": review,
            "filters": filters,
            "orders": orders,
            "filter_query": query.urlencode(),
            "types": list(selectors.proxy_types()),
        },
        status=status,
    )


@dashboard_view("view")
def orders_page(request):
    if request.method == "POST":
        return _order_post(request)
    return _render_orders(request)


def _order_post(request):
    if not has_capability(request.membership, "operate"):
        messages.error(request, "Your role in this account can view orders but not place them.")
        return redirect("dashboard:orders")
    form = OrderForm(request.POST)
    if not form.is_valid():
        return _render_orders(request, form=form, status=400)
    if request.POST.get("action") != "place":  # "Calculate price": the review step, no JS needed
        return _render_orders(request, form=form, review=_quote_dict(form.quote))
    token = (request.POST.get("form_token") or "")[:64]
    placed = request.session.get("orders_placed_tokens", {})
    if token and token in placed:  # a double submission of the same form
        return redirect("dashboard:order_detail", order_id=placed[token])
    try:
        order = services.order_place(account=request.account, created_by=request.user, **form.order_kwargs())
    except DomainValidationError as exc:
        form_add_service_error(form, exc)
        return _render_orders(request, form=form, status=400)
    except InsufficientFunds as exc:
        form.add_error(None, f"{exc.message} Top up your balance on the Billing page.")
        return _render_orders(request, form=form, status=402, review=_quote_dict(form.quote))
    except Conflict as exc:
        form.add_error(None, exc.message)
        return _render_orders(request, form=form, status=409, review=_quote_dict(form.quote))
    except UpstreamError as exc:
        messages.error(request, exc.message)
        order_id = exc.meta.get("order_id")
        return redirect("dashboard:order_detail", order_id=order_id) if order_id else redirect("dashboard:orders")
    if token:
        placed[token] = order.public_id
        request.session["orders_placed_tokens"] = dict(list(placed.items())[-PLACED_TOKENS_KEPT:])
    messages.success(request, f"Order {order.public_id} placed: {money_str(order.total)} USD charged.")
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("view")
@require_GET
def order_price(request):
    """The live price for the order form (static/js/orders.js); the same `quote` as the API."""
    try:
        quote = pricing.quote(
            type=request.GET.get("type") or None, quantity=request.GET.get("quantity") or None,
            period=request.GET.get("period") or None, country=request.GET.get("country") or None,
        )
    except DomainValidationError as exc:
        return JsonResponse({"ok": False, "fields": exc.meta["fields"]}, status=200)
    return JsonResponse({"ok": True, "quote": _quote_dict(quote)})


def _get_order(request, order_id):
    try:
        return selectors.order_get(account=request.account, public_id=order_id)
    except NotFound:
        raise Http404("Order not found") from None


@dashboard_view("view")
def order_detail(request, order_id: str, *, extend_form=None, status=200):
    order = _get_order(request, order_id)
    can_extend = order.status == "active" and not order.is_residential
    if can_extend and extend_form is None:
        extend_form = ExtendForm(order=order)
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "quantity": pricing.format_quantity(order.quantity, "GB" if order.is_residential else "IP"),
            "proxies": list(selectors.order_proxies(account=request.account, order=order)),
            "extensions": list(order.extensions.all()),
            "formats": DOWNLOAD_FORMATS,
            "can_extend": can_extend,
            "extend_form": extend_form,
            "refresh": order.status == "pending",
        },
        status=status,
    )


@dashboard_view("operate")
@require_POST
def order_extend(request, order_id: str):
    order = _get_order(request, order_id)
    form = ExtendForm(request.POST, order=order)
    if not form.is_valid():
        return order_detail(request, order_id, extend_form=form, status=400)
    try:
        services.order_extend(
            account=request.account, order_id=order.public_id, period=form.cleaned_data["period"],
            created_by=request.user,
        )
    except DomainValidationError as exc:
        form_add_service_error(form, exc)
        return order_detail(request, order_id, extend_form=form, status=400)
    except (InsufficientFunds, Conflict, UpstreamError) as exc:
        form.add_error(None, exc.message)
        return order_detail(request, order_id, extend_form=form, status=http_error(exc)[0])
    messages.success(request, f"Order {order.public_id} extended by {form.cleaned_data['period']} days.")
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("view")
@require_GET
def order_download(request, order_id: str, fmt: str):
    if fmt not in DOWNLOAD_FORMATS:
        raise Http404("Unknown format")
    order = _get_order(request, order_id)
    proxies = selectors.order_proxies(account=request.account, order=order)
    return download_response("".join(proxy_list_file(proxies, fmt)), fmt=fmt, filename=order.public_id)
