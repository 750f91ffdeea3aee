"""Recipe ablation on one snapshot: baseline BCE, + repeat-factor sampling, + focal loss.

Each recipe trains into ``OUT/<recipe>/`` with the same configuration apart from its changes
and is compared on the val split by:

- ``mAP`` (raw scores, as in metrics.json) and ``mAP_relations`` (after relation post-processing);
- ``P@R0.5``: per label the highest precision among operating points with recall >= 0.5, averaged
  over labels with val positives;
- ``head mAP`` / ``tail mAP``: mean AP over the third of labels most / least frequent in the
  training split (by image count; labels without val positives are left out of the means).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from training import checkpoint as ckpt
from training.config import TrainConfig
from training.engine import ProgressCallback
from training.metrics import PRCurve, average_precision, pr_curves
from training.runs import train_run

RECIPES: list[tuple[str, dict[str, Any]]] = [
    ("baseline", {"loss": "bce", "sampler": "none"}),
    ("rfs", {"loss": "bce", "sampler": "rfs"}),
    ("rfs_focal", {"loss": "focal", "sampler": "rfs"}),
]
HEAD_TAIL_NOTE = (
    "head = the third of labels most frequent in the training split, tail = the least frequent third "
    "(by training image count); P@R0.5 = highest precision at recall >= 0.5, mean over labels with val positives; "
    "mAP on the raw scores, mAP_relations after relation post-processing"
)


def precision_at_recall(curves: list[PRCurve | None], recall: float = 0.5) -> np.ndarray:
    """Per label: the highest precision among points with recall >= ``recall`` (NaN without positives)."""
    values = np.full(len(curves), np.nan)
    for j, curve in enumerate(curves):
        if curve is not None:
            reached = curve.recall[:-1] >= recall
            values[j] = float(curve.precision[:-1][reached].max()) if reached.any() else 0.0
    return values


def head_tail(train_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the most frequent third and the least frequent third of labels."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    third = max(1, len(order) // 3)
    return order[:third], order[-third:]


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def summarize(evaluation: ckpt.Evaluation, train_counts: np.ndarray) -> dict[str, Any]:
    """The ablation row of one trained recipe."""
    ap = average_precision(evaluation.scores, evaluation.targets)
    head, tail = head_tail(train_counts)
    return {
        "mAP": evaluation.metrics["mAP"],
        "mAP_relations": evaluation.metrics["mAP_relations"],
        "P@R0.5": _mean(precision_at_recall(pr_curves(evaluation.scores, evaluation.targets))),
        "head_mAP": _mean(ap[head]),
        "tail_mAP": _mean(ap[tail]),
        "head_labels": len(head),
        "tail_labels": len(tail),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of the ablation rows, followed by the definitions."""
    columns = ["mAP", "mAP_relations", "P@R0.5", "head_mAP", "tail_mAP"]
    lines = ["| recipe | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        cells = [
            "-" if row[c] is None or (isinstance(row[c], float) and math.isnan(row[c])) else f"{row[c]:.4f}"
            for c in columns
        ]
        lines.append(f"| {row['recipe']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{HEAD_TAIL_NOTE}.\n"


def run_ablation(
    config: TrainConfig,
    *,
    manifest: str | Path,
    taxonomy: str | Path,
    images_root: str | Path,
    out_dir: str | Path,
    callback_for: Callable[[str], ProgressCallback | None] = lambda recipe: None,
) -> list[dict[str, Any]]:
    """Train every recipe of :data:`RECIPES`, write ``ablation.json`` and ``ablation.md``, return the rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for name, changes in RECIPES:
        result = train_run(
            config.replace(**changes),
            manifest=manifest,
            taxonomy=taxonomy,
            images_root=images_root,
            run_dir=out_dir / name,
            callback=callback_for(name),
        )
        if result.evaluation is None:
            continue  # not rank 0, or no val split (train_run has logged why)
        rows.append({"recipe": name, **changes, **summarize(result.evaluation, result.train_label_counts)})
    if rows:
        ckpt.write_json(out_dir / "ablation.json", {"note": HEAD_TAIL_NOTE, "rows": rows})
        (out_dir / "ablation.md").write_text(format_table(rows), encoding="utf-8")
    return rows
