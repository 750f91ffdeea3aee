"""Per-label decision thresholds chosen on the validation set, and their file format.

A label's operating point is one threshold of its PR curve (predicted = ``score >= threshold``):

- ``precision`` mode: among thresholds whose precision is >= target, the one with the highest
  recall; at equal recall, the highest threshold (same true positives, fewest predictions, so the
  highest precision).
- ``recall`` mode: among thresholds whose recall is >= target, the one with the highest precision;
  at equal precision, the highest recall (the lower threshold).
- ``f1`` mode: the highest F1 (``2PR / (P + R)``); at equal F1, the highest threshold. With a
  target, a best F1 below it disables the label.

The curve's extra last point (precision 1, recall 0) has no threshold and is never chosen. A label
with no positives, or whose curve never meets the target, is disabled, with the reason spelled out.
Disabled labels have ``threshold`` None and are left out by :func:`load`, i.e. never predicted on
their own (see ``training.relations`` for how a disabled label can still be implied).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from training.metrics import PRCurve, pr_curves

Mode = Literal["precision", "recall", "f1"]
MODES: tuple[str, ...] = get_args(Mode)


def _check_mode(mode: str, target: float | None) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown threshold mode {mode!r}; expected one of {', '.join(MODES)}")
    if target is None:
        if mode != "f1":
            raise ValueError(f"mode {mode!r} needs a target between 0 and 1")
        return
    if not 0.0 <= float(target) <= 1.0:
        raise ValueError(f"target must be between 0 and 1, got {target!r}")


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    total = precision + recall
    return np.divide(2.0 * precision * recall, total, out=np.zeros_like(total), where=total > 0)


def _last_argmax(values: np.ndarray, candidates: np.ndarray) -> int:
    """Index of the largest value among ``candidates`` (ascending indices); last one on ties."""
    chosen = values[candidates]
    return int(candidates[np.flatnonzero(chosen == chosen.max())[-1]])


def operating_point(curve: PRCurve, *, mode: Mode, target: float | None) -> dict[str, float] | None:
    """The operating point of one label's PR curve for ``mode`` and ``target`` (module docstring).

    Returns ``{"threshold", "precision", "recall", "f1"}`` as plain floats, or ``None`` when no
    threshold of the curve meets the target. Used for the batch selection below and, later, for
    interactive threshold picking in the web app.
    """
    _check_mode(mode, target)
    precision = curve.precision[:-1]
    recall = curve.recall[:-1]
    thresholds = curve.thresholds
    if thresholds.shape[0] == 0:
        return None
    f1 = _f1(precision, recall)
    if mode == "precision":
        candidates = np.flatnonzero(precision >= target)
        if candidates.size == 0:
            return None
        index = _last_argmax(recall, candidates)
    elif mode == "recall":
        candidates = np.flatnonzero(recall >= target)
        if candidates.size == 0:
            return None
        best = precision[candidates].max()
        candidates = candidates[precision[candidates] == best]
        # Thresholds ascend, so the first candidate has the highest recall (recall never rises).
        index = int(candidates[0])
    else:
        index = _last_argmax(f1, np.arange(thresholds.shape[0]))
        if target is not None and f1[index] < target:
            return None
    return {
        "threshold": float(thresholds[index]),
        "precision": float(precision[index]),
        "recall": float(recall[index]),
        "f1": float(f1[index]),
    }


def _unreachable_reason(curve: PRCurve, mode: str, target: float | None) -> str:
    precision = curve.precision[:-1]
    recall = curve.recall[:-1]
    best = {"precision": precision, "recall": recall, "f1": _f1(precision, recall)}[mode]
    return f"{mode} >= {target} not reachable (best {mode} {float(best.max()):.4f})"


def select_from_curves(
    curves: Sequence[PRCurve | None], label_keys: Sequence[str], *, mode: Mode, target: float | None
) -> dict[str, dict[str, Any]]:
    """Like :func:`select`, from PR curves already computed (one per label, ``None`` = no positives)."""
    _check_mode(mode, target)
    if len(curves) != len(label_keys):
        raise ValueError(f"{len(label_keys)} label keys for {len(curves)} curves")
    selection: dict[str, dict[str, Any]] = {}
    for key, curve in zip(label_keys, curves, strict=True):
        entry: dict[str, Any] = {"threshold": None, "precision": None, "recall": None, "f1": None}
        point = None if curve is None else operating_point(curve, mode=mode, target=target)
        if curve is None:
            entry.update(enabled=False, reason="no positives in the evaluation set")
        elif point is None:
            entry.update(enabled=False, reason=_unreachable_reason(curve, mode, target))
        else:
            entry.update(point)
            goal = "best f1" if target is None else f"{mode} >= {target}"
            entry.update(enabled=True, reason=f"{goal}: {mode} {point[mode]:.4f}")
        selection[key] = entry
    return selection


def select(
    scores: np.ndarray,
    targets: np.ndarray,
    label_keys: Sequence[str],
    *,
    mode: Mode,
    target: float | None,
) -> dict[str, dict[str, Any]]:
    """Choose every label's threshold on (N, L) ``scores`` / 0-1 ``targets``; see the module docstring.

    Returns ``{key: {"threshold", "precision", "recall", "f1", "enabled", "reason"}}``, where the
    numbers are those of the chosen point (all ``None`` for a disabled label) and ``reason`` says
    why the label is enabled or disabled. ``target`` is required for the precision and recall
    modes and optional for f1.
    """
    _check_mode(mode, target)
    if len(label_keys) != np.shape(scores)[-1]:
        raise ValueError(f"{len(label_keys)} label keys for {np.shape(scores)[-1]} score columns")
    return select_from_curves(pr_curves(scores, targets), label_keys, mode=mode, target=target)


def save(
    path: str | os.PathLike[str], selection: dict[str, dict[str, Any]], *, mode: Mode, target: float | None
) -> None:
    """Write ``{"mode", "target", "labels": selection}`` as JSON, atomically (temp file + ``os.replace``)."""
    _check_mode(mode, target)
    path = Path(path)
    document = {"mode": mode, "target": None if target is None else float(target), "labels": selection}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, ensure_ascii=False, allow_nan=False)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> dict[str, float]:
    """Read a thresholds file written by :func:`save`: ``{key: threshold}`` of enabled labels only."""
    with open(path, encoding="utf-8") as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
    labels = document.get("labels") if isinstance(document, dict) else None
    if not isinstance(labels, dict):
        raise ValueError(f"{path}: missing 'labels' object")
    loaded: dict[str, float] = {}
    for key, entry in labels.items():
        if not isinstance(entry, dict) or not entry.get("enabled"):
            continue
        threshold = entry.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ValueError(f"{path}: label {key!r} is enabled but has no numeric 'threshold'")
        loaded[key] = float(threshold)
    return loaded


def to_array(thresholds: dict[str, float], label_keys: Sequence[str]) -> np.ndarray:
    """(L,) float64 thresholds in column order, ``np.inf`` for labels without one (disabled).

    The form :func:`training.relations.apply` takes. Keys not in ``label_keys`` raise ValueError.
    """
    unknown = sorted(set(thresholds) - set(label_keys))
    if unknown:
        raise ValueError(f"thresholds given for unknown labels: {', '.join(unknown)}")
    return np.array([thresholds.get(key, np.inf) for key in label_keys], dtype=np.float64)
