"""Reads on the dataset, and the access-checked getters the dataset pages use."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.http import Http404

from annotator.accounts.roles import Role, user_has_role
from annotator.dataset.models import Evidence, EvidenceSource, Image, ImageLabel, ImportJob, LabelState, Snapshot

#: Rows per page on the import and snapshot lists.
LIST_PAGE_SIZE = 50


def dataset_overview() -> dict[str, object]:
    """Headline counts for the home page (a handful of aggregate queries)."""
    splits = Image.objects.aggregate(
        images=Count("id"),
        train=Count("id", filter=Q(split=Image.Split.TRAIN)),
        val=Count("id", filter=Q(split=Image.Split.VAL)),
    )
    truth = ImageLabel.objects.aggregate(
        positives=Count("id", filter=Q(state=LabelState.POSITIVE)),
        negatives=Count("id", filter=Q(state=LabelState.NEGATIVE)),
    )
    return {
        **splits,
        **truth,
        "evidence": Evidence.objects.count(),
        "recent_imports": list(ImportJob.objects.order_by("-id")[:5]),
        "latest_snapshot": Snapshot.objects.order_by("-id").first(),
    }


def evidence_source_current_model() -> EvidenceSource | None:
    """The model version source the queues rank with: the one whose evidence was refreshed last."""
    return (
        EvidenceSource.objects.filter(kind=EvidenceSource.Kind.MODEL, refreshed_at__isnull=False)
        .order_by("-refreshed_at", "-id")
        .first()
    )


def import_job_get_for_user(*, user: AbstractBaseUser | AnonymousUser, job_id: int) -> ImportJob:
    """The ImportJob ``job_id`` if ``user`` may see it (admins only): PermissionDenied, else Http404."""
    if not user_has_role(user, Role.ADMIN):
        raise PermissionDenied
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404("no such import")
    return job


def import_job_rerunnable(*, job_id: int) -> bool:
    """Whether the job may be queued again: failed, or running with a lost worker (one query)."""
    return ImportJob.objects.rerunnable().filter(pk=job_id).exists()


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
