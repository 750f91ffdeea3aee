"""Dataset pages and API: imports (admins only) and snapshots.

Pages render server-side; the import page's live progress polls ``ImportJobApi``
(static/js/import_progress.js). Every view names the roles it admits.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.accounts.access import HasRole, role_required
from annotator.accounts.roles import Role, user_has_role
from annotator.dataset.forms import IMPORT_FORMS
from annotator.dataset.models import ImportJob, Snapshot
from annotator.dataset.tasks import snapshot_create_enqueue

#: Rows per page on the import and snapshot lists.
LIST_PAGE_SIZE = 50

# --- reads (access-checked getters; candidates for annotator/dataset/selectors.py) ----------


def import_job_get_for_user(*, user: AbstractBaseUser | AnonymousUser, job_id: int) -> ImportJob:
    """The ImportJob ``job_id`` if ``user`` may see it (admins only): PermissionDenied, else Http404."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404("no such import")
    return job


def import_jobs_page(*, user: AbstractBaseUser | AnonymousUser, page: str | int | None) -> Page:
    """One page of import jobs, newest first, with their creators (one query for the rows)."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    jobs = ImportJob.objects.select_related("created_by").order_by("-id")
    return Paginator(jobs, LIST_PAGE_SIZE).get_page(page)


def snapshots_page(*, user: AbstractBaseUser | AnonymousUser, page: str | int | None) -> Page:
    """One page of snapshots, newest first (admins only)."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    snapshots = Snapshot.objects.select_related("created_by").order_by("-id")
    return Paginator(snapshots, LIST_PAGE_SIZE).get_page(page)


# --- pages ---------------------------------------------------------------------------------


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
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = import_job_get_for_user(user=request.user, job_id=job_id)
    return render(request, "dataset/import_detail.html", {"job": job, "counts": sorted(job.counts.items())})


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
