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
