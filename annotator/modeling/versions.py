"""Registering a model version from a finished run folder.

Name: the first version is v1.0; a retrain with the same label set as its parent is the
next minor number of that major (v1.1, v1.2 …); a changed label set starts a new major
(v2.0). Regressions: every label present in both versions whose val AP dropped by more than
``settings.MODEL_REGRESSION_AP_MARGIN`` against the parent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from annotator.dataset.models import EvidenceSource
from annotator.modeling.models import Job, ModelVersion

# pg_advisory_xact_lock key ("LLMV"): version numbers are handed out one at a time.
VERSION_LOCK_KEY = 0x4C4C4D56


def _clean(value: Any) -> Any:
    """JSON with NaN / inf replaced by null (PostgreSQL's jsonb refuses them)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def read_run_json(run_dir: Path, name: str) -> Any:
    return _clean(json.loads((run_dir / name).read_text(encoding="utf-8")))


def regressions_find(*, metrics: dict[str, Any], parent: ModelVersion | None, margin: float) -> list[dict[str, Any]]:
    """Labels whose AP fell by more than ``margin`` from ``parent``, biggest drop first."""
    if parent is None:
        return []
    found = []
    old_labels = parent.metrics.get("labels", {})
    for key, entry in metrics.get("labels", {}).items():
        old = old_labels.get(key, {}).get("ap")
        new = entry.get("ap")
        if old is None or new is None:
            continue
        if old - new > margin:
            found.append({"label": key, "parent_ap": old, "ap": new, "drop": old - new})
    return sorted(found, key=lambda row: -row["drop"])


def _next_number(label_keys: list[str], parent: ModelVersion | None) -> tuple[int, int]:
    latest = ModelVersion.objects.order_by("-major", "-minor").values_list("major", flat=True).first()
    if latest is None:
        return 1, 0
    if parent is not None and sorted(parent.label_keys) == sorted(label_keys):
        minor = (
            ModelVersion.objects.filter(major=parent.major).order_by("-minor").values_list("minor", flat=True).first()
        )
        return parent.major, (minor or 0) + 1
    return latest + 1, 0


def version_register(*, job: Job, run_dir: Path) -> ModelVersion:
    """Create the ModelVersion (and its evidence source) of a finished training run.

    Must run inside the transaction that marks the job succeeded, so a job is succeeded
    exactly when its version exists.
    """
    assert job.snapshot_id is not None
    metrics = read_run_json(run_dir, "metrics.json")
    curves = read_run_json(run_dir, "pr_curves.json")
    label_keys = list(read_run_json(run_dir, "labels.json"))
    stats = read_run_json(run_dir, "train_stats.json")
    parent = job.version
    margin = float(settings.MODEL_REGRESSION_AP_MARGIN)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [VERSION_LOCK_KEY])
        major, minor = _next_number(label_keys, parent)
        name = f"v{major}.{minor}"
        source, _ = EvidenceSource.objects.get_or_create(kind=EvidenceSource.Kind.MODEL, name=name)
        return ModelVersion.objects.create(
            name=name,
            major=major,
            minor=minor,
            parent=parent,
            snapshot_id=job.snapshot_id,
            job=job,
            source=source,
            config=job.config,
            label_keys=label_keys,
            metrics=metrics,
            map=metrics.get("mAP"),
            train_counts=stats.get("label_counts", {}),
            pr_curves=curves,
            regressions=regressions_find(metrics=metrics, parent=parent, margin=margin),
            regression_margin=margin,
            run_dir=str(run_dir),
            created_by=job.created_by,
        )
