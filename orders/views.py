"""Dashboard Orders pages: the order form with its live price, the list, an order's detail."""

import uuid
from decimal import Decimal

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import dashboard_view, has_capability
from api.errors import http_error
from api.ratelimit import consume_keyless_quota, limit_for
from core.errors import (
    Conflict,
    DomainValidationError,
    InsufficientFunds,
    NotFound,
    OutOfStock,
    UpstreamError,
)
from core.files import DOWNLOAD_CONTENT_TYPES, DOWNLOAD_FORMATS, download_format, download_response
from core.forms import form_add_service_error
from core.http import client_ip
from core.money import money_str

from . import pricing, selectors, services
from .exports import download_auth, proxy_list_file
from .forms import AuthorizedIPForm, ExtendForm, OrderFilterForm, OrderForm
from .snippets import TEST_URL as SNIPPETS_TEST_URL
from .snippets import connection_snippets

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


def _stock_shortage(availability, review) -> str | None:
    """Why the reviewed order cannot be sold from stock (said before any word on the balance:
    topping up would not help), None when it can."""
    if not review:
        return None
    entry = next((a for a in availability if a["code"] == review["type"]), None)
    if entry is None or not entry["stock_backed"]:
        return None
    country = review["country"] or ""
    if country:
        free = next((c["in_stock"] for c in entry["countries"] if c["code"] == country), 0)
    else:
        free = entry["total"]
    wanted = int(Decimal(review["quantity"]))
    if free >= wanted:
        return None
    where = f" in {country}" if country else ""
    if not free:
        return f"{entry['name']} proxies{where} are out of stock."
    return f"Only {free:,} {entry['name']} {'proxy is' if free == 1 else 'proxies are'} in stock{where}; you asked for {wanted:,}."


def _balance_short(account, review) -> str | None:
    """How much the balance lacks for the reviewed price ("12.50"), None when it is enough."""
    if not review:
        return None
    total = Decimal(review["total"])
    return money_str(total - account.balance) if account.balance < total else None


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
    availability = selectors.order_availability()
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
            "availability": availability,
            "availability_data": {
                a["code"]: {
                    "stock_backed": a["stock_backed"], "total": a["total"],
                    "countries": {c["code"]: c["in_stock"] for c in a["countries"]},
                }
                for a in availability
            },
            "nothing_to_sell": not any(a["available"] for a in availability),
            "stock_shortage": _stock_shortage(availability, review),
            "balance_short": _balance_short(account, review),
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
    except OutOfStock as exc:
        # Placement reserves stock before it charges, so a short stock is what the customer
        # hears of even when the balance is short too: topping up would not help.
        review = _quote_dict(form.quote)
        form.add_error(None, _stock_shortage(selectors.order_availability(), review) or exc.message)
        return _render_orders(request, form=form, status=409, review=review)
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
    proxies = list(selectors.order_proxies(account=request.account, order=order))
    snippets = snippets_note = None
    if len(proxies) > 1:
        snippets_note = (
            f"For the first of your {len(proxies):,} proxies, {proxies[0].host}:{proxies[0].port}; the others "
            "connect the same way with their own host, port and credentials (Download TXT lists them all)."
        )
    if proxies:
        first = proxies[0]
        snippets = connection_snippets(
            host=first.host, port=first.port, username=first.username, password=first.password,
            protocol=first.protocol,
        )
    return render(
        request,
        "orders/detail.html",
        {
            "order": order,
            "quantity": pricing.format_quantity(order.quantity, "GB" if order.is_residential else "IP"),
            "proxies": proxies,
            "extensions": list(order.extensions.all()),
            "formats": DOWNLOAD_FORMATS,
            "can_extend": can_extend,
            "extend_form": extend_form,
            "can_auto_renew": not order.is_residential and order.status in ("pending", "active"),
            "renew_period": selectors.order_renewal_period(order=order),
            "refresh": order.status == "pending",
            "snippets": snippets,
            "snippets_note": snippets_note,
            "snippets_test_url": SNIPPETS_TEST_URL,
            **_order_tools_context(request, order, proxies),
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


@dashboard_view("operate")
@require_POST
def order_auto_renew(request, order_id: str):
    order = _get_order(request, order_id)
    wanted = request.POST.get("auto_renew") == "on"
    try:
        services.order_auto_renew_set(
            account=request.account, order_id=order.public_id, auto_renew=wanted, actor=request.user,
            client_ip=client_ip(request),
        )
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Auto-renew is {'on' if wanted else 'off'} for order {order.public_id}.")
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("view")
@require_GET
def order_download(request, order_id: str, fmt: str):
    if fmt not in DOWNLOAD_FORMATS:
        raise Http404("Unknown format")
    order = _get_order(request, order_id)
    auth = "ip" if request.GET.get("auth") == "ip" else "credentials"
    proxies = selectors.order_proxies(account=request.account, order=order)
    return download_response("".join(proxy_list_file(proxies, fmt, auth)), fmt=fmt, filename=order.public_id)


# --- order tools: replacement, list links, authorized IPs ----------------------------------------

NEW_LIST_LINK_SESSION_KEY = "orders_new_list_link"
AUTHORIZED_IP_SESSION_KEY = "orders_authorized_ip_form"
REPLACEMENTS_SHOWN = 100


def _order_tools_context(request, order, proxies) -> dict:
    can_replace = order.status == "active" and not order.is_residential
    new_link = request.session.pop(NEW_LIST_LINK_SESSION_KEY, None)
    if new_link and new_link.get("order_id") != order.public_id:
        new_link = None
    target = request.GET.get("replace") or ""
    return {
        "can_replace": can_replace,
        "replacements_left": selectors.replacements_left(order=order, live_count=len(proxies)) if can_replace else 0,
        "replace_pk": next((p.pk for p in proxies if f"{p.host}:{p.port}" == target), None),
        "replacements": list(selectors.order_replacements(account=request.account, order=order)[:REPLACEMENTS_SHOWN]),
        "list_links": list(selectors.order_list_links(account=request.account, order=order)),
        "new_list_link": new_link,
    }


@dashboard_view("operate")
@require_POST
def order_replace(request, order_id: str):
    order = _get_order(request, order_id)
    proxy = (request.POST.get("proxy") or "")[:300]
    try:
        pairs = services.order_proxies_replace(
            account=request.account, order_id=order.public_id, proxies=[proxy], created_by=request.user,
            client_ip=client_ip(request),
        )
    except DomainValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.meta["fields"].values() for m in ms))
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        old, new = pairs[0]
        messages.success(request, f"Replaced {old.host}:{old.port} with {new.host}:{new.port}.")
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("operate")
@require_POST
def order_list_link_create(request, order_id: str):
    order = _get_order(request, order_id)
    try:
        link, url = services.order_list_link_create(
            account=request.account, order_id=order.public_id, created_by=request.user, client_ip=client_ip(request),
        )
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        # Shown once, on the next page: the server keeps only the token's hash.
        request.session[NEW_LIST_LINK_SESSION_KEY] = {"order_id": order.public_id, "id": link.public_id, "url": url}
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("operate")
@require_POST
def order_list_link_revoke(request, order_id: str, link_id: str):
    order = _get_order(request, order_id)
    try:
        services.order_list_link_revoke(
            account=request.account, order_id=order.public_id, link_id=link_id, actor=request.user,
            client_ip=client_ip(request),
        )
    except NotFound:
        raise Http404("List link not found") from None
    messages.success(request, "List link revoked: its URL no longer answers.")
    return redirect("dashboard:order_detail", order_id=order.public_id)


@dashboard_view("operate")
@require_POST
def authorized_ip_add(request):
    form = AuthorizedIPForm(request.POST)
    if form.is_valid():
        try:
            row = services.authorized_ip_add(
                account=request.account, ip=form.cleaned_data["ip"], created_by=request.user,
                client_ip=client_ip(request),
            )
        except DomainValidationError as exc:
            form_add_service_error(form, exc)
        except Conflict as exc:
            form.add_error("ip", exc.message)
        else:
            messages.success(request, f"{row.ip} is authorized.")
            return redirect(reverse("dashboard:proxies") + "#authorized-ips-title")
    # The Proxies page shows the form again with its error beside the field (orders_tools tag).
    request.session[AUTHORIZED_IP_SESSION_KEY] = {
        "ip": (request.POST.get("ip") or "")[:100],
        "errors": [str(e) for e in form.errors.get("ip", [])] or ["Enter an IP address."],
    }
    return redirect(reverse("dashboard:proxies") + "#authorized-ips-title")


@dashboard_view("operate")
@require_POST
def authorized_ip_remove(request, ip_id: str):
    try:
        services.authorized_ip_remove(
            account=request.account, authorized_ip_id=ip_id, actor=request.user, client_ip=client_ip(request),
        )
    except NotFound:
        raise Http404("Authorized IP not found") from None
    messages.success(request, "Authorized IP removed.")
    return redirect(reverse("dashboard:proxies") + "#authorized-ips-title")


# --- list links: the public URL --------------------------------------------------------------

LIST_LINK_REQUESTS_PER_IP_PER_HOUR = 60


def _plain(text: str, status: int, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _over_limit(usage) -> HttpResponse:
    return _plain("Too many requests for this list; try again later.", 429,
                  {"Retry-After": str(usage.retry_after), **usage.headers()})


@require_GET
def list_link_serve(request, token: str):
    """`/l/<token>`: the order's proxy list without an API key, limited per client address and
    per link like the API's exports, never cached. Unknown or revoked tokens answer 404."""
    by_ip = consume_keyless_quota(
        request, subject=f"ip:{client_ip(request)}", limit=LIST_LINK_REQUESTS_PER_IP_PER_HOUR, category="export",
    )
    if by_ip.exceeded:
        return _over_limit(by_ip)
    try:
        link = selectors.list_link_resolve(token=token)
    except NotFound:
        return _plain("Not found.", 404)
    account = link.order.account
    if not account.is_active:
        return _plain("This account is suspended.", 403)
    by_link = consume_keyless_quota(
        request, subject=f"link:{link.pk}", limit=limit_for(account.tier, "export"), category="export",
    )
    if by_link.exceeded:
        return _over_limit(by_link)
    try:
        fmt = download_format(request.GET.get("format"))
        auth = download_auth(request.GET.get("auth"))
    except DomainValidationError as exc:
        return _plain(" ".join(f"{k}: {' '.join(v)}" for k, v in exc.meta["fields"].items()), 400)
    proxies = selectors.order_proxies(account=account, order=link.order)
    response = HttpResponse("".join(proxy_list_file(proxies, fmt, auth)), content_type=DOWNLOAD_CONTENT_TYPES[fmt])
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    for name, value in by_link.headers().items():
        response[name] = value
    return response
