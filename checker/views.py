"""Checker pages: submit a list, follow a job's progress, read and export its results,
browse the public pool."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import dashboard_view, has_capability
from checker import selectors
from checker.api import (
    EXPORT_FORMATS,
    job_export_response,
    pool_dict,
    pool_export_response,
    pool_rows,
)
from checker.forms import CheckForm, PoolFilterForm
from checker.models import Pool
from checker.reasons import reason_for
from checker.services import jobs as job_services
from core.errors import BadRequest, Conflict, DomainValidationError, NotFound
from core.forms import form_add_service_error

JOBS_PER_PAGE = 20
ITEMS_PER_PAGE = 50
POOL_PER_PAGE = 50


def _job_or_404(request, job_id):
    try:
        return selectors.job_get(account=request.account, job_id=job_id)
    except NotFound:
        raise Http404("No such job.") from None


NO_VALID_PROXY = (
    "No valid proxy in the list: no line reads as a proxy. Write one proxy a line: ip:port, "
    "ip:port:user:pass, user:pass@ip:port, or with a scheme such as socks5://ip:port."
)


def _render_index(request, form, status=200):
    jobs = Paginator(selectors.jobs(account=request.account), JOBS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "jobs": jobs,
        "max_job_size": job_services.max_job_size(account=request.account),
        "can_submit": has_capability(request.membership, "operate"),
    }
    return render(request, "checker/index.html", context, status=status)


@dashboard_view("view")
@require_http_methods(["GET", "POST"])
def checker_page(request):
    if request.method == "GET":
        return _render_index(request, CheckForm())
    if not has_capability(request.membership, "operate"):
        messages.error(request, "Viewers can read check results but not start checks.")
        return redirect("dashboard:checker")
    form = CheckForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            job = job_services.job_create(
                account=request.account, proxies_text=data["text"],
                include_anonymity=data["include_anonymity"], target_url=data["target_url"],
                expect_text=data["expect_text"], created_by=request.user,
            )
        except DomainValidationError as exc:
            form_add_service_error(form, exc)
        except BadRequest:
            form.add_error("proxies_text", NO_VALID_PROXY)
        else:
            return redirect("dashboard:checker_job", job_id=job.job_id)
    return _render_index(request, form, status=400)


def _progress(job) -> dict:
    return {
        "job_id": str(job.job_id), "status": job.status, "status_label": job.get_status_display(),
        "total": job.total, "done": job.done,
        "live": job.live, "dead": job.done - job.live, "percent": job.percent, "finished": job.is_finished,
    }


@dashboard_view("view")
@require_GET
def job_page(request, job_id):
    job = _job_or_404(request, job_id)
    status = request.GET.get("status") or ""
    if status not in ("", "live", "dead"):
        status = ""
    items = selectors.job_items(account=request.account, job=job, status=status or None)
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    for item in page.object_list:
        item.reason = reason_for(item.error)
    filters = [
        {"label": label, "value": value, "url": "?" + urlencode({"status": value}) if value else "?",
         "active": value == status}
        for label, value in (("All", ""), ("Live", "live"), ("Dead", "dead"))
    ]
    context = {
        "job": job, "progress": _progress(job), "page": page, "status": status, "filters": filters,
        "formats": EXPORT_FORMATS, "can_cancel": has_capability(request.membership, "operate"),
        "page_query": urlencode({"status": status}) + "&" if status else "",
    }
    response = render(request, "checker/job.html", context)
    response["Cache-Control"] = "no-store"
    return response


@dashboard_view("view")
@require_GET
def job_progress(request, job_id):
    job = _job_or_404(request, job_id)
    response = JsonResponse(_progress(job))
    response["Cache-Control"] = "no-store"
    return response


@dashboard_view("view")
@require_GET
def job_export(request, job_id):
    job = _job_or_404(request, job_id)
    fmt = request.GET.get("format", "txt")
    if fmt not in EXPORT_FORMATS:
        raise Http404("Unknown format.")
    status = request.GET.get("status") or None
    if status not in (None, "live", "dead"):
        status = None
    return job_export_response(account=request.account, job=job, fmt=fmt, status=status)


@dashboard_view("operate")
@require_POST
def job_cancel(request, job_id):
    job = _job_or_404(request, job_id)
    try:
        job_services.job_cancel(job=job)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The job was cancelled.")
    return redirect("dashboard:checker_job", job_id=job.job_id)


def _pool_filters(request):
    form = PoolFilterForm(request.GET or None)
    try:
        filters = selectors.parse_pool_filters(request.GET)
    except DomainValidationError as exc:
        if form.is_bound:
            form.is_valid()
            for field, errors in exc.meta["fields"].items():
                if field in form.fields and field not in form.errors:
                    form.add_error(field, errors)
        return form, None
    return form, filters


@dashboard_view("view")
@require_GET
def public_page(request):
    form, filters = _pool_filters(request)
    rows, page = [], None
    if filters is not None:
        qs = pool_rows(selectors.pool_proxies(pool=Pool.PUBLIC, filters=filters))
        page = Paginator(qs, POOL_PER_PAGE).get_page(request.GET.get("page"))
        rows = [pool_dict(r) for r in page.object_list]
    query = {k: v for k, v in request.GET.items() if k != "page" and v}
    context = {
        "form": form, "rows": rows, "page": page,
        "refreshed_at": selectors.pool_refreshed_at(pool=Pool.PUBLIC),
        "query": urlencode(query), "formats": EXPORT_FORMATS,
    }
    return render(request, "checker/public.html", context, status=200 if filters is not None else 400)


@dashboard_view("view")
@require_GET
def public_export(request):
    _, filters = _pool_filters(request)
    fmt = request.GET.get("format", "txt")
    if filters is None or fmt not in EXPORT_FORMATS:
        return redirect(reverse("dashboard:checker_public") + "?" + request.GET.urlencode())
    return pool_export_response(pool=Pool.PUBLIC, filters=filters, fmt=fmt)
