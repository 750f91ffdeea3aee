"""Dataset pages and API: imports (admins only) and snapshots.

Pages render server-side; the import page's live progress polls ``ImportJobApi``
(static/js/import_progress.js). Every view names the roles it admits.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import HasRole, role_required
from annotator.accounts.roles import Role
from annotator.dataset.forms import IMPORT_FORMS
from annotator.dataset.models import IMPORT_STALE_AFTER, ImportJob
from annotator.dataset.selectors import (
    import_job_get_for_user,
    import_job_rerunnable,
    import_jobs_page,
    snapshots_page,
)
from annotator.dataset.tasks import import_job_requeue, snapshot_create_enqueue

STALE_MINUTES = int(IMPORT_STALE_AFTER.total_seconds() // 60)

# --- pages ---------------------------------------------------------------------------------


#: What each import count means, for the job page (unknown names are shown as they are).
COUNT_LABELS = {
    "rows": gettext_lazy("rows read"),
    "files": gettext_lazy("files found"),
    "tasks": gettext_lazy("tasks read"),
    "annotated_tasks": gettext_lazy("tasks with an annotation"),
    "human_rows": gettext_lazy("human-verified rows"),
    "machine_rows": gettext_lazy("machine-generated rows"),
    "images": gettext_lazy("images in the file"),
    "images_checked": gettext_lazy("image files checked"),
    "images_created": gettext_lazy("new images"),
    "images_existing": gettext_lazy("images already known"),
    "truth_created": gettext_lazy("labels added"),
    "truth_changed": gettext_lazy("labels changed"),
    "truth_unchanged": gettext_lazy("labels already so"),
    "truth_implied": gettext_lazy("labels added by the label tree and relations"),
    "kept_decisions": gettext_lazy("annotator decisions kept"),
    "conflicts": gettext_lazy("conflicts (a positive over a verified negative)"),
    "evidence_created": gettext_lazy("evidence added"),
    "evidence_updated": gettext_lazy("evidence updated"),
    "evidence_unchanged": gettext_lazy("evidence already so"),
    "labels_created": gettext_lazy("labels created in the taxonomy"),
    "relations_created": gettext_lazy("relations created in the taxonomy"),
    "mappings_created": gettext_lazy("label mappings recorded"),
    "mapping_rows_unused": gettext_lazy("mapping rows not used"),
    "unmapped_classes": gettext_lazy("classes without a mapping"),
    "unmapped_rows": gettext_lazy("rows of classes without a mapping"),
}


def _count_label(name: str) -> str:
    label = COUNT_LABELS.get(name)
    return f"{label} ({name})" if label else name


@role_required(Role.ADMIN)
def import_list(request: HttpRequest) -> HttpResponse:
    page = import_jobs_page(user=request.user, page=request.GET.get("page"))
    return render(request, "dataset/import_list.html", {"page": page, "jobs": page.object_list})


@role_required(Role.ADMIN)
def import_new(request: HttpRequest) -> HttpResponse:
    """Choose a kind (``?kind=``), then fill its form; a valid POST creates and queues the job."""
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    form_class = IMPORT_FORMS.get(kind)
    kinds = [(value, ImportJob.Kind(value).label) for value in IMPORT_FORMS]
    if form_class is None:
        return render(request, "dataset/import_new.html", {"kinds": kinds, "kind": "", "form": None})
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        if form.is_valid():
            job = form.save(user=request.user)  # type: ignore[arg-type]  # role_required: logged in
            return redirect("dataset:import_detail", job_id=job.id)
    else:
        form = form_class()
    context = {"kinds": kinds, "kind": kind, "kind_label": ImportJob.Kind(kind).label, "form": form}
    return render(request, "dataset/import_new.html", context, status=400 if form.errors else 200)


@role_required(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """The job's parameters, live progress and outcome; POST ``action=rerun`` queues it again.

    Re-running is offered for a failed job and for a running one whose worker was lost (no
    heartbeat for IMPORT_STALE_AFTER). The POST goes to this page (CSRF-checked like every
    POST) and redirects back to it.
    """
    job = import_job_get_for_user(user=request.user, job_id=job_id)
    if request.method == "POST":
        if request.POST.get("action") != "rerun":
            return HttpResponseBadRequest("unknown action")
        if import_job_requeue(job_id=job.id):
            messages.success(request, _("Import %(id)d queued again.") % {"id": job.id})
        else:
            messages.warning(
                request,
                _(
                    "Import %(id)d was not re-run: only a failed import, or a running one whose worker "
                    "has given no sign of life for %(minutes)d minutes, can be re-run."
                )
                % {"id": job.id, "minutes": STALE_MINUTES},
            )
        return redirect("dataset:import_detail", job_id=job.id)
    context = {
        "job": job,
        "counts": [(_count_label(name), value) for name, value in sorted(job.counts.items())],
        "rerunnable": import_job_rerunnable(job_id=job.id),
        "stale_minutes": STALE_MINUTES,
    }
    return render(request, "dataset/import_detail.html", context)


class ImportJobOutputSerializer(serializers.ModelSerializer):
    """What the progress bar polls: status, phase, done/total, percent; counts or error at the end."""

    percent = serializers.IntegerField(read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    finished = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "kind_display",
            "status",
            "status_display",
            "finished",
            "phase",
            "progress_done",
            "progress_total",
            "percent",
            "counts",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_finished(self, job: ImportJob) -> bool:
        return job.status in (ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED)


class ImportJobApi(APIView):
    permission_classes = [HasRole(Role.ADMIN)]

    def get(self, request: Request, job_id: int) -> Response:
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        return Response(ImportJobOutputSerializer(job).data)


@role_required(Role.ADMIN)
def snapshot_list(request: HttpRequest) -> HttpResponse:
    page = snapshots_page(user=request.user, page=request.GET.get("page"))
    return render(request, "dataset/snapshot_list.html", {"page": page, "snapshots": page.object_list})


@role_required(Role.ADMIN)
@require_POST
def snapshot_new(request: HttpRequest) -> HttpResponse:
    """Queue a snapshot of the dataset as it is now; it appears in the list when written."""
    note = request.POST.get("note", "").strip()[:300]
    snapshot_create_enqueue(user_id=request.user.pk, note=note)
    messages.info(
        request, _("A snapshot is being written; it appears here when done (about a minute per million images).")
    )
    return redirect("dataset:snapshots")
