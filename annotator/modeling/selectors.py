"""Reads on jobs, model versions and threshold profiles, with the access-checked getters.

Who reads what: every role (annotator, QA lead, admin) may read jobs, versions, curves and
profiles; only admins start, cancel or resume jobs and save profiles (the views check).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404

from annotator.accounts.access import ANY_ROLE
from annotator.accounts.roles import user_has_role
from annotator.modeling.models import Job, ModelVersion, ThresholdProfile
from annotator.taxonomy.models import Label

LIST_PAGE_SIZE = 50
User = AbstractBaseUser | AnonymousUser


def _require_reader(user: User) -> None:
    if not user_has_role(user, *ANY_ROLE):
        raise PermissionDenied


def label_ap_latest() -> dict[int, float | None]:
    """AP on the val split of the latest successful model version, by label id.

    Empty while no model version exists. Labels of the taxonomy the version was not trained
    on are absent; labels without val positives map to None.
    """
    version = ModelVersion.objects.only("metrics").order_by("-created_at", "-id").first()
    if version is None:
        return {}
    per_label = version.metrics.get("labels", {})
    ids = dict(Label.objects.filter(key__in=list(per_label)).values_list("key", "id"))
    return {ids[key]: entry.get("ap") for key, entry in per_label.items() if key in ids}


def jobs_page(*, user: User, page: str | int | None) -> Page:
    """One page of jobs, newest first, with creator, snapshot and version (one query for the rows)."""
    _require_reader(user)
    jobs = Job.objects.select_related("created_by", "snapshot", "version").defer(
        "log_tail", "config", "custom_yaml", "version__pr_curves", "version__metrics"
    )
    return Paginator(jobs.order_by("-id"), LIST_PAGE_SIZE).get_page(page)


def job_get_for_user(*, user: User, job_id: int) -> Job:
    """The job if ``user`` may read it (every role): PermissionDenied, else Http404."""
    _require_reader(user)
    job = (
        Job.objects.select_related("created_by", "snapshot", "version")
        .defer("version__pr_curves")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise Http404("no such job")
    return job


def versions_list(*, user: User) -> list[ModelVersion]:
    """Every version, newest first, without curves or per-label metrics (one query)."""
    _require_reader(user)
    return list(
        ModelVersion.objects.select_related("parent", "snapshot", "source", "created_by")
        .defer("pr_curves", "metrics", "train_counts", "config")
        .order_by("-major", "-minor")
    )


def version_get_for_user(*, user: User, version_id: int, curves: bool = False) -> ModelVersion:
    """The version if ``user`` may read it; its PR curves are loaded only when asked for."""
    _require_reader(user)
    query = ModelVersion.objects.select_related("parent", "snapshot", "source", "job", "created_by")
    if not curves:
        query = query.defer("pr_curves")
    version = query.filter(pk=version_id).first()
    if version is None:
        raise Http404("no such model version")
    return version


def profile_get_for_user(*, user: User, profile_id: int) -> ThresholdProfile:
    _require_reader(user)
    profile = (
        ThresholdProfile.objects.select_related("version").defer("version__pr_curves").filter(pk=profile_id).first()
    )
    if profile is None:
        raise Http404("no such threshold profile")
    return profile


def version_label_rows(version: ModelVersion) -> list[dict[str, Any]]:
    """Per label: key, names, AP, threshold, precision / recall there, train and val support, regression."""
    names = {
        row["key"]: row for row in Label.objects.filter(key__in=version.label_keys).values("key", "name_en", "name_zh")
    }
    regressed = {row["label"]: row for row in version.regressions}
    labels = version.metrics.get("labels", {})
    rows = []
    for key in version.label_keys:
        entry = labels.get(key, {})
        name: dict[str, Any] = dict(names.get(key, {}))
        rows.append(
            {
                "key": key,
                "name_en": name.get("name_en", key),
                "name_zh": name.get("name_zh", ""),
                "ap": entry.get("ap"),
                "threshold": entry.get("threshold"),
                "precision": entry.get("precision"),
                "recall": entry.get("recall"),
                "val_support": entry.get("support", 0),
                "train_support": version.train_counts.get(key, 0),
                "regression": regressed.get(key),
            }
        )
    return rows


def versions_compare(*, a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """mAP of both and per-label AP deltas (b − a) on the labels both have, biggest loss first."""
    a_labels = a.metrics.get("labels", {})
    b_labels = b.metrics.get("labels", {})
    rows = []
    for key in sorted(set(a_labels) | set(b_labels)):
        ap_a = a_labels.get(key, {}).get("ap")
        ap_b = b_labels.get(key, {}).get("ap")
        delta = ap_b - ap_a if ap_a is not None and ap_b is not None else None
        rows.append({"key": key, "ap_a": ap_a, "ap_b": ap_b, "delta": delta})
    rows.sort(key=lambda row: (row["delta"] is None, row["delta"] if row["delta"] is not None else 0, row["key"]))
    map_delta = b.map - a.map if a.map is not None and b.map is not None else None
    return {"map_a": a.map, "map_b": b.map, "map_delta": map_delta, "rows": rows}


def profile_export(profile: ThresholdProfile) -> dict[str, Any]:
    """The profile in training's thresholds.json layout (``python -m training predict`` reads it)."""
    labels = {
        key: {
            "threshold": entry["threshold"],
            "precision": entry["precision"],
            "recall": entry["recall"],
            "enabled": True,
            "reason": f"{entry['mode']} >= {entry['target']}",
        }
        for key, entry in sorted(profile.labels.items())
    }
    return {
        "mode": "profile",
        "target": None,
        "version": profile.version.name,
        "profile": profile.name,
        "labels": labels,
    }
