"""Per-label ranking metrics for multi-label models: PR curves, average precision, evaluation.

Every number here is defined to be *exactly* what scikit-learn 1.9.1 computes label by label
(``precision_recall_curve`` with its default ``drop_intermediate=False`` and
``average_precision_score``), but for all labels in one pass, which is what makes a 400-label
evaluation fast (see ``bench/metrics.py``).

Why it can be exact: scikit-learn sorts scores descending and keeps, for every distinct score
``t``, the counts of predictions and of true positives with ``score >= t``. Those counts do not
depend on how tied scores are ordered, so we are free to use a plain (unstable, SIMD) ascending
sort of each label's scores, plus a small sort of its positive scores, and read the same integer
counts off them. Precision and recall are then the same float64 divisions of the same integers,
and the AP is the same step-wise sum over the same arrays, so the results match bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Labels are processed in blocks: a block of scores is transposed into a contiguous
# (labels, images) copy and sorted in place. ~4M elements keeps the working set of a block
# (copy + a boolean mask + the per-label temporaries) around 50-100 MB whatever N and L are.
_BLOCK_ELEMENTS = 4_000_000
# The transposed copy is made a few thousand images at a time, so that what is read and written
# stays in cache: ~2.5x faster than one strided ascontiguousarray() of the block.
_TRANSPOSE_ROWS = 4096


@dataclass(frozen=True, eq=False)
class PRCurve:
    """One label's precision-recall curve, laid out exactly like scikit-learn's.

    ``thresholds`` are the distinct scores in increasing order; ``precision[i]`` and
    ``recall[i]`` are those of the prediction ``score >= thresholds[i]``. Both have one extra
    last point, precision 1 and recall 0, which has no threshold.
    """

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        """Plain lists of floats, ready for ``json.dump``."""
        return {
            "precision": self.precision.tolist(),
            "recall": self.recall.tolist(),
            "thresholds": [float(t) for t in self.thresholds.tolist()],
        }


def _check_inputs(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    targets = np.asarray(targets)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a 2-D (images, labels) array, got shape {scores.shape}")
    if targets.shape != scores.shape:
        raise ValueError(f"targets shape {targets.shape} does not match scores shape {scores.shape}")
    if not (np.issubdtype(scores.dtype, np.floating) or np.issubdtype(scores.dtype, np.integer)):
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if targets.dtype != np.bool_ and not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"targets must be 0/1 integers or booleans, got dtype {targets.dtype}")
    return scores, targets


def _transposed_block(scores: np.ndarray, targets: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``start:stop`` as contiguous (labels, images) arrays: scores (own dtype) and positives (bool)."""
    n = scores.shape[0]
    score_block = np.empty((stop - start, n), dtype=scores.dtype)
    positive = np.empty((stop - start, n), dtype=bool)
    for row in range(0, n, _TRANSPOSE_ROWS):
        rows = slice(row, min(n, row + _TRANSPOSE_ROWS))
        score_block[:, rows] = scores[rows, start:stop].T
        positive[:, rows] = (targets[rows, start:stop] != 0).T
    return score_block, positive


def _label_curve(sorted_scores: np.ndarray, positive_scores: np.ndarray) -> PRCurve | None:
    """The curve of one label from its scores sorted ascending and its positives' scores."""
    n_positive = positive_scores.shape[0]
    if n_positive == 0:
        return None
    n = sorted_scores.shape[0]
    # Start of each run of equal scores in the ascending order = the last element of that run in
    # scikit-learn's descending order, i.e. its threshold index.
    starts = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]) + 1
    starts = np.concatenate((np.zeros(1, dtype=starts.dtype), starts))
    thresholds = sorted_scores[starts]
    predicted = (n - starts).astype(np.float64)  # images with score >= threshold
    positive_scores = np.sort(positive_scores)
    true_positives = (n_positive - np.searchsorted(positive_scores, thresholds, side="left")).astype(np.float64)
    precision = np.empty(thresholds.shape[0] + 1, dtype=np.float64)
    recall = np.empty(thresholds.shape[0] + 1, dtype=np.float64)
    np.divide(true_positives, predicted, out=precision[:-1])
    np.divide(true_positives, true_positives[0], out=recall[:-1])
    precision[-1] = 1.0
    recall[-1] = 0.0
    return PRCurve(precision=precision, recall=recall, thresholds=thresholds)


def average_precision_from_curve(curve: PRCurve | None) -> float:
    """Step-wise AP of one curve, ``sum_k (R_k - R_{k-1}) * P_k``; NaN for ``None``.

    Written as scikit-learn writes it (same operations on the same arrays) so the float result
    is identical, not merely close.
    """
    if curve is None:
        return math.nan
    return float(max(0.0, -np.sum(np.diff(curve.recall) * curve.precision[:-1])))


def pr_curves_and_ap(scores: np.ndarray, targets: np.ndarray) -> tuple[list[PRCurve | None], np.ndarray]:
    """PR curve and average precision of every label, from one sort of each label's scores.

    ``scores`` is (N, L) float (kept in its dtype, so float32 stays float32), ``targets`` is
    (N, L) 0/1 int or bool. Returns the L curves (``None`` for a label without positives) and an
    (L,) float64 array of APs (NaN for a label without positives). Raises ValueError on
    mismatched shapes, non-binary targets or non-finite scores.
    """
    scores, targets = _check_inputs(scores, targets)
    n, n_labels = scores.shape
    curves: list[PRCurve | None] = [None] * n_labels
    ap = np.full(n_labels, np.nan, dtype=np.float64)
    if n == 0:
        return curves, ap
    if targets.dtype != np.bool_ and (targets.min() < 0 or targets.max() > 1):
        raise ValueError("targets must contain only 0 and 1")
    block = max(1, _BLOCK_ELEMENTS // n)
    for start in range(0, n_labels, block):
        stop = min(n_labels, start + block)
        score_block, positive = _transposed_block(scores, targets, start, stop)
        positive_scores = [score_block[j][positive[j]] for j in range(stop - start)]
        score_block.sort(axis=1)
        # After an ascending sort, -inf sits first and NaN / +inf last: checking the ends suffices.
        if not (np.isfinite(score_block[:, 0]).all() and np.isfinite(score_block[:, -1]).all()):
            raise ValueError(f"scores contain NaN or infinity (labels {start}..{stop - 1})")
        for j in range(stop - start):
            curve = _label_curve(score_block[j], positive_scores[j])
            curves[start + j] = curve
            ap[start + j] = average_precision_from_curve(curve)
    return curves, ap


def pr_curves(scores: np.ndarray, targets: np.ndarray) -> list[PRCurve | None]:
    """Per-label PR curves, each equal to ``sklearn.metrics.precision_recall_curve``.

    ``None`` for a label without positives (scikit-learn would warn and return a recall of 1).
    """
    return pr_curves_and_ap(scores, targets)[0]


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-label AP, (L,) float64, equal to ``sklearn.metrics.average_precision_score`` per label.

    NaN for a label without positives (scikit-learn would return 0 with a warning).
    """
    return pr_curves_and_ap(scores, targets)[1]


def _counts_at(score_column: np.ndarray, positive_column: np.ndarray, threshold: float) -> tuple[int, int]:
    # Compare in float64 (exact for any score dtype), as relations.apply does with its (L,) array;
    # a Python float would be rounded to float32 against float32 scores.
    predicted = score_column >= np.float64(threshold)
    return int(np.count_nonzero(predicted)), int(np.count_nonzero(predicted & positive_column))


def _ratio(numerator: int, denominator: int) -> float:
    # scikit-learn's zero_division=0 convention: an empty denominator gives 0, never NaN.
    return numerator / denominator if denominator else 0.0


def evaluate(
    scores: np.ndarray,
    targets: np.ndarray,
    label_keys: Sequence[str],
    thresholds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Evaluate a model's scores against targets; the JSON-ready content of ``metrics.json``.

    Returns ``{"mAP": float | None, "labels": {key: {"ap", "support", "threshold", "precision",
    "recall", "f1", "no_positives"}}}``. ``mAP`` is the mean AP over labels with at least one
    positive (``None`` when there is none). ``precision``/``recall``/``f1`` are measured at the
    label's threshold (predicted = ``score >= threshold``) and are ``None`` for a label without a
    threshold in ``thresholds``; an empty denominator counts as 0 (scikit-learn's
    ``zero_division=0``), so a label without positives has recall 0. Every value is a plain
    Python float/int/bool/None.
    """
    scores, targets = _check_inputs(scores, targets)
    if len(label_keys) != scores.shape[1]:
        raise ValueError(f"{len(label_keys)} label keys for {scores.shape[1]} score columns")
    if len(set(label_keys)) != len(label_keys):
        raise ValueError("label keys must be unique")
    thresholds = thresholds or {}
    unknown = sorted(set(thresholds) - set(label_keys))
    if unknown:
        raise ValueError(f"thresholds given for unknown labels: {', '.join(unknown)}")
    _, ap = pr_curves_and_ap(scores, targets)
    labels: dict[str, dict[str, Any]] = {}
    for j, key in enumerate(label_keys):
        positive_column = targets[:, j] != 0
        support = int(np.count_nonzero(positive_column))
        entry: dict[str, Any] = {
            "ap": None if math.isnan(ap[j]) else float(ap[j]),
            "support": support,
            "threshold": None,
            "precision": None,
            "recall": None,
            "f1": None,
            "no_positives": support == 0,
        }
        if key in thresholds and thresholds[key] is not None:
            threshold = float(thresholds[key])
            predicted, true_positives = _counts_at(scores[:, j], positive_column, threshold)
            entry["threshold"] = threshold
            entry["precision"] = _ratio(true_positives, predicted)
            entry["recall"] = _ratio(true_positives, support)
            entry["f1"] = _ratio(2 * true_positives, predicted + support)
        labels[key] = entry
    valid = ap[~np.isnan(ap)]
    return {"mAP": float(valid.mean()) if valid.size else None, "labels": labels}
