"""A run interrupted after epoch 2 and resumed to epoch 4 equals an uninterrupted 4-epoch run, bit for bit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.training.test_data import make_tiny_dataset, one_thread, tiny_config  # noqa: F401 (fixture)
from training import checkpoint as ckpt
from training.runs import train_run

pytestmark = pytest.mark.usefixtures("one_thread")


class JobCancelledError(Exception):
    """Raised from the progress callback, as a cancelled job would."""


def _interrupt_in_epoch(epoch: int) -> Any:
    def callback(progress: dict[str, Any]) -> None:
        if progress["epoch"] == epoch and progress["step"] == 2:
            raise JobCancelledError

    return callback


def _assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_is_bit_identical(tmp_path: Path, num_workers: int) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=40)
    # RFS, EMA and AdamW put state in the sampler, the EMA copy and the optimizer.
    config = tiny_config(
        epochs=4,
        num_workers=num_workers,
        sampler="rfs",
        rfs_threshold=0.5,
        ema=True,
        ema_decay=0.9,
        optimizer="adamw",
        lr=0.003,
    )
    paths: dict[str, Any] = {"manifest": data.manifest, "taxonomy": data.taxonomy, "images_root": data.root}

    train_run(config, run_dir=tmp_path / "straight", **paths)
    with pytest.raises(JobCancelledError):
        train_run(config, run_dir=tmp_path / "resumed", callback=_interrupt_in_epoch(2), **paths)
    assert ckpt.load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")["epoch"] == 2
    result = train_run(config, run_dir=tmp_path / "resumed", resume=True, **paths)

    straight = ckpt.load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = ckpt.load_checkpoint(tmp_path / "resumed" / "checkpoint.pt")
    assert straight["epoch"] == resumed["epoch"] == 4
    _assert_same_state(straight["model"], resumed["model"])
    _assert_same_state(straight["ema"], resumed["ema"])
    assert [h["loss"] for h in straight["history"]] == [h["loss"] for h in resumed["history"]]
    assert len(result.history) == 4
    straight_metrics = ckpt.read_json(tmp_path / "straight" / "metrics.json")
    assert ckpt.read_json(tmp_path / "resumed" / "metrics.json")["mAP"] == straight_metrics["mAP"]


def test_checkpoint_roundtrips_rng_state(tmp_path: Path) -> None:
    import random

    import numpy as np

    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    state = ckpt.capture_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.save_checkpoint(tmp_path / "c.pt", {"rng": state})
    torch.rand(5), np.random.rand(5), random.random()
    ckpt.restore_rng_state(ckpt.load_checkpoint(tmp_path / "c.pt")["rng"])
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]
    assert not list(tmp_path.glob(".*.tmp"))  # nothing half-written left behind
