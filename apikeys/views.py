"""The API Keys page: list, search, sort, create (shown once), revoke.

The full key never touches storage. After a successful creation the key is split in two
halves that are each useless alone: a random one-time pad goes to the browser in a short-lived
HttpOnly cookie scoped to this page, the key XOR the pad goes into the session; the redirected
GET joins them, shows the key once and drops both. A reload finds neither.
"""

import base64
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.permissions import dashboard_view
from apikeys import selectors
from apikeys.forms import ApiKeyCreateForm
from apikeys.services import apikey_create, apikey_revoke
from core.errors import Conflict, DomainValidationError, NotFound
from core.forms import form_add_service_error
from core.http import client_ip

REVEAL_SESSION_KEY = "apikeys:new-key"
REVEAL_COOKIE = "apikey_reveal"
REVEAL_MAX_AGE_S = 300
SEARCH_MAX = 200  # longer than any key name (100): still finds nothing, without echoing megabytes back


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _stash_new_key(request, response, *, full_key: str, key_id: str) -> None:
    raw = full_key.encode()
    pad = secrets.token_bytes(len(raw))
    request.session[REVEAL_SESSION_KEY] = {"id": key_id, "sealed": _b64(_xor(raw, pad))}
    response.set_cookie(
        REVEAL_COOKIE, _b64(pad), max_age=REVEAL_MAX_AGE_S, path=reverse("dashboard:apikeys"),
        httponly=True, samesite="Strict", secure=request.is_secure(),
    )


def _pop_new_key(request) -> dict | None:
    stash = request.session.pop(REVEAL_SESSION_KEY, None)
    pad = request.COOKIES.get(REVEAL_COOKIE)
    if not stash or not pad:
        return None
    try:
        full_key = _xor(_unb64(stash["sealed"]), _unb64(pad)).decode("ascii")
    except (ValueError, KeyError, TypeError):
        return None
    return {"id": stash.get("id"), "key": full_key}


def _headers(q: str, sort: str) -> list[dict]:
    headers = []
    for column in selectors.COLUMNS:
        field = sort.lstrip("-")
        active = field == column.key
        descending = sort.startswith("-")
        next_sort = column.key if not active or descending else f"-{column.key}"
        params = {"sort": next_sort}
        if q:
            params["q"] = q
        headers.append({
            "label": column.label,
            "url": f"?{urlencode(params)}",
            "aria_sort": ("descending" if descending else "ascending") if active else "none",
            "active": active,
            "descending": descending,
        })
    return headers


def _render(request, *, form=None, open_dialog: str | None = None, revoke_key=None, new_key=None, status=200):
    q = request.GET.get("q", "").strip()[:SEARCH_MAX]
    sort = selectors.normalise_sort(request.GET.get("sort"))
    show_inactive = request.GET.get("show") == "revoked"
    keys = [] if show_inactive else selectors.apikeys_active(account=request.account, q=q, sort=sort)
    active_count = selectors.apikeys_active_count(account=request.account)
    context = {
        "keys": keys,
        "show_inactive": show_inactive,
        "inactive_keys": selectors.apikeys_inactive(account=request.account, q=q) if show_inactive else [],
        "q": q,
        "sort": sort,
        "headers": _headers(q, sort),
        "form": form or ApiKeyCreateForm(),
        "open_dialog": open_dialog,
        "revoke_key": revoke_key,
        "new_key": new_key,
        "active_count": active_count,
        "limit": settings.API_KEYS_PER_ACCOUNT,
    }
    response = render(request, "apikeys/page.html", context, status=status)
    response["Cache-Control"] = "no-store"
    if new_key is not None or REVEAL_COOKIE in request.COOKIES:
        response.delete_cookie(REVEAL_COOKIE, path=reverse("dashboard:apikeys"), samesite="Strict")
    return response


@dashboard_view("manage_keys")
@require_http_methods(["GET", "POST"])
def apikeys_page(request):
    if request.method == "POST":
        return _create(request)
    return _render(
        request, new_key=_pop_new_key(request), open_dialog="create" if request.GET.get("create") else None
    )


def _create(request):
    form = ApiKeyCreateForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            api_key, full_key = apikey_create(
                account=request.account, name=data["name"], scopes=data["scopes"],
                expiration=data["expiration"], ip_allowlist=data["ip_allowlist"],
                created_by=request.user, ip=client_ip(request),
            )
        except DomainValidationError as exc:
            form_add_service_error(form, exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            response = redirect("dashboard:apikeys")
            _stash_new_key(request, response, full_key=full_key, key_id=api_key.public_id)
            return response
    return _render(request, form=form, open_dialog="create", status=400)


@dashboard_view("manage_keys")
@require_http_methods(["GET", "POST"])
def apikey_revoke_view(request, key_id: str):
    """GET: the page with the confirmation open (the no-JavaScript path). POST: revoke."""
    if request.method == "GET":
        api_key = selectors.apikey_active_get(account=request.account, key_id=key_id)
        if api_key is None:
            raise Http404("No such API key.")
        return _render(request, open_dialog="revoke", revoke_key=api_key)
    try:
        api_key = apikey_revoke(
            account=request.account, key_id=key_id, revoked_by=request.user, ip=client_ip(request)
        )
    except NotFound as exc:
        raise Http404(str(exc)) from None
    messages.success(request, f"API key “{api_key.name}” ({api_key.display_prefix}) was revoked.")
    return redirect("dashboard:apikeys")
