"""Shared helpers of the modeling tests: a small synthetic dataset, tiny training settings.

The dataset is the demo's (``training.synth`` rendered, imported as a CSV through the real
import path, split 9:1); the settings keep a CPU training run to a second or two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from annotator.dataset.models import Snapshot
from annotator.dataset.snapshots import snapshot_create
from annotator.modeling.services import JobRequest, job_start

#: Tiny, deterministic CPU training: every key is checked by training.config before queuing.
TINY_YAML = (
    "backbone: tiny_cnn\n"
    "image_size: 32\n"
    "batch_size: 16\n"
    "num_workers: 0\n"
    "progress_every: 1\n"
    "device: cpu\n"
    "lr: 0.05\n"
    "warmup_epochs: 0\n"
)


def demo_dataset(folder: Path, *, images: int = 80) -> None:
    """Load ``images`` synthetic demo images (33 labels, noisy labels, splits) into the test database."""
    from annotator.accounts.management.demo import demo_load

    result = demo_load(images=images, out=folder)
    assert result.status == "loaded", result


def snapshot_make(folder: Path) -> Snapshot:
    return snapshot_create(out_dir=folder)


def train_job(user: Any, snapshot: Snapshot, *, epochs: int = 1, recipe: str = "custom", yaml: str = TINY_YAML) -> Any:
    return job_start(
        user=user,
        request=JobRequest(kind="train", snapshot_id=snapshot.pk, recipe=recipe, custom_yaml=yaml, epochs=epochs),
    )


def version_make(
    *,
    snapshot: Snapshot,
    major: int,
    minor: int,
    aps: dict[str, float | None],
    parent: Any = None,
    curves: dict[str, Any] | None = None,
    margin: float = 0.02,
) -> Any:
    """A ModelVersion row with the given per-label APs (no training), regressions found as a run would."""
    from annotator.dataset.models import EvidenceSource
    from annotator.modeling.models import ModelVersion
    from annotator.modeling.versions import regressions_find

    name = f"v{major}.{minor}"
    metrics: dict[str, Any] = {
        "mAP": sum(a for a in aps.values() if a is not None) / max(1, sum(a is not None for a in aps.values())),
        "labels": {
            key: {"ap": ap, "support": 5, "threshold": 0.5, "precision": 0.5, "recall": 0.5} for key, ap in aps.items()
        },
    }
    return ModelVersion.objects.create(
        name=name,
        major=major,
        minor=minor,
        parent=parent,
        snapshot=snapshot,
        source=EvidenceSource.objects.create(kind="model", name=name),
        label_keys=list(aps),
        metrics=metrics,
        map=metrics["mAP"],
        train_counts={key: 10 for key in aps},
        pr_curves=curves or {},
        regressions=regressions_find(metrics=metrics, parent=parent, margin=margin),
        regression_margin=margin,
        run_dir="/nonexistent",
    )
