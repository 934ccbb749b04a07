"""Operator tools: check jobs (read, cancel), and the public/premium pools with an upload
form and a re-check action."""

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from checker import selectors
from checker.models import FINISHED_STATUSES, CheckItem, CheckJob, Pool, PoolProxy
from checker.services.jobs import job_cancel
from checker.services.pools import pool_import
from core.errors import PortalError

UPLOAD_MAX_BYTES = 20 * 1024 * 1024


@admin.register(CheckItem)
class CheckItemAdmin(admin.ModelAdmin):
    """Results, read-only; search by job id to see one job's (a job can hold thousands)."""

    list_display = ["proxy_norm", "job", "status", "connect_ms", "country", "anonymity", "error"]
    list_filter = ["status", "protocol", "anonymity"]
    search_fields = ["=job__job_id", "proxy_norm", "exit_ip"]
    list_select_related = ["job"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Cancel selected jobs (queued or running)")
def cancel_jobs(modeladmin, request, queryset):
    cancelled = 0
    for job in queryset.exclude(status__in=FINISHED_STATUSES):
        try:
            job_cancel(job=job)
        except PortalError:
            continue
        cancelled += 1
    modeladmin.message_user(request, f"Cancelled {cancelled} job(s).")


@admin.register(CheckJob)
class CheckJobAdmin(admin.ModelAdmin):
    list_display = ["job_id", "account", "status", "done", "total", "live", "invalid", "created_at", "finished_at"]
    list_filter = ["status", "include_anonymity", "created_at"]
    search_fields = ["job_id", "account__name", "account__public_id"]
    date_hierarchy = "created_at"
    list_select_related = ["account"]
    actions = [cancel_jobs]
    exclude = ["proxies"]
    readonly_fields = [
        "job_id", "account", "status", "total", "done", "live", "invalid", "duplicates", "include_anonymity",
        "target_url", "expect_text", "created_by", "created_at", "started_at", "finished_at", "heartbeat_at", "error",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class PoolUploadForm(forms.Form):
    pool = forms.ChoiceField(choices=Pool.choices)
    file = forms.FileField(required=False, help_text="A text file, one proxy a line (formats of POST /check).")
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
                           help_text="Or paste the list here.")
    source = forms.CharField(max_length=100, initial="admin upload", help_text="Where these proxies come from.")
    check_now = forms.BooleanField(required=False, initial=False,
                                   help_text="Re-check the whole pool in the background after the upload.")

    def clean(self):
        data = super().clean()
        text = data.get("text") or ""
        upload = data.get("file")
        if upload is not None:
            if upload.size > UPLOAD_MAX_BYTES:
                raise forms.ValidationError("The file is over 20 MB; use manage.py importproxies.")
            text += "\n" + upload.read().decode("utf-8", errors="replace")
        if not text.strip():
            raise forms.ValidationError("Upload a file or paste a list.")
        data["all_text"] = text
        return data


@admin.action(description="Re-check the pools of the selected proxies now (background)")
def recheck_pools(modeladmin, request, queryset):
    from checker.tasks import recheck_pool

    pools = sorted(set(queryset.values_list("pool", flat=True)))
    for pool in pools:
        recheck_pool.delay(pool, force=True)
    modeladmin.message_user(request, f"Re-check started for: {', '.join(pools) or 'nothing'}.")


@admin.register(PoolProxy)
class PoolProxyAdmin(admin.ModelAdmin):
    list_display = ["proxy_norm", "pool", "last_status", "country", "latency_ms", "uptime_score", "last_checked_at"]
    list_filter = ["pool", "last_status", "protocol", "anonymity", "country", "source"]
    search_fields = ["proxy_norm", "host", "exit_ip"]
    readonly_fields = [
        "protocol", "country", "anonymity", "exit_ip", "latency_ms", "last_status", "last_error",
        "last_checked_at", "history", "uptime_score", "created_at",
    ]
    actions = [recheck_pools]
    change_list_template = "checker/admin/poolproxy_changelist.html"
    show_full_result_count = False

    # Edits and deletions here change the pools' verified lists: forget their cached totals.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        selectors.pool_changed(pool=obj.pool)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        selectors.pool_changed(pool=obj.pool)

    def delete_queryset(self, request, queryset):
        pools = set(queryset.values_list("pool", flat=True))
        super().delete_queryset(request, queryset)
        for pool in pools:
            selectors.pool_changed(pool=pool)

    def get_urls(self):
        custom = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="checker_poolproxy_upload"),
        ]
        return custom + super().get_urls()

    def upload_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = PoolUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            result = pool_import(pool=data["pool"], text=data["all_text"], source=data["source"])
            self.message_user(
                request,
                f"{data['pool']} pool: {result['imported']} imported, {result['duplicates']} duplicates, "
                f"{result['invalid']} invalid lines.",
                messages.SUCCESS,
            )
            if data["check_now"]:
                from checker.tasks import recheck_pool

                recheck_pool.delay(data["pool"], force=True)
            return redirect(reverse("admin:checker_poolproxy_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload proxies to a pool",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "checker/admin/upload.html", context)
