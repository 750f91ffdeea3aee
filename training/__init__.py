"""LabelLoop training: pure PyTorch, no Django. Files in, files out (see docs/training.md).

The web app and scripts call these (imported lazily, so ``import training`` stays cheap)::

    from training import load_config, train_run, evaluate_run, predict_run, recompute_thresholds

    config = load_config("recipe.yaml", ["epochs=10", "backbone=resnet50"])
    result = train_run(config, manifest=..., taxonomy=..., images_root=..., run_dir=..., callback=report)

The command line is ``python -m training {train,evaluate,predict,thresholds,ablate,synth} ...``.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["TrainConfig", "evaluate_run", "load_config", "predict_run", "recompute_thresholds", "train_run"]

_LAZY = {
    "TrainConfig": "training.config",
    "load_config": "training.config",
    "train_run": "training.runs",
    "evaluate_run": "training.runs",
    "predict_run": "training.runs",
    "recompute_thresholds": "training.runs",
}


def __getattr__(name: str) -> Any:
    """Import the public API on first use (torch is heavy; ``python -m training synth`` needs none of it)."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
