"""The run folder: atomic checkpoints with RNG state, and the evaluation files read by the web app.

A run folder holds::

    checkpoint.pt      one dict: model, ema, optimizer, scheduler, scaler, epoch, config, metric,
                       label_keys, rng (torch/cuda/numpy/python), sampler; rewritten every epoch
    config.yaml        the resolved configuration
    labels.json        label keys in output-column order
    taxonomy.json      the taxonomy the run was trained with
    train_stats.json   training images, label counts, per-epoch loss / speed / skipped images
    metrics.json       val mAP with and without relations, per-label AP / P / R at threshold
    pr_curves.json     per-label precision-recall curves (at most PR_POINTS points each)
    thresholds.json    per-label thresholds (training.thresholds format)
    val_scores.npz     raw val scores, targets and image paths (for re-choosing thresholds)

Every file is written to a temporary name in the folder and moved into place with
``os.replace``, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
import yaml

from training import metrics as metrics_lib
from training import relations as relations_lib
from training import thresholds as thresholds_lib
from training.config import TrainConfig

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
LABELS = "labels.json"
TAXONOMY = "taxonomy.json"
TRAIN_STATS = "train_stats.json"
METRICS = "metrics.json"
PR_CURVES = "pr_curves.json"
THRESHOLDS = "thresholds.json"
VAL_SCORES = "val_scores.npz"
PR_POINTS = 500
CHECKPOINT_FORMAT = 1
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync it, then ``os.replace``."""
    path = Path(path)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; give the file the permissions a plain open() would (the web app
        # may read run folders as another user).
        os.chmod(temporary, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, document: Any) -> None:
    """Write JSON (UTF-8, indented, no NaN) atomically."""
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def read_json(path: str | Path) -> Any:
    """Read a JSON file of the run folder."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_run_header(
    run_dir: str | Path, config: TrainConfig, label_keys: Sequence[str], taxonomy: dict[str, Any]
) -> None:
    """Write ``config.yaml``, ``labels.json`` and ``taxonomy.json`` at the start of a run."""
    run_dir = Path(run_dir)
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
    atomic_write(run_dir / CONFIG, lambda handle: handle.write(text.encode("utf-8")))
    write_json(run_dir / LABELS, list(label_keys))
    write_json(run_dir / TAXONOMY, taxonomy)


def write_train_stats(
    run_dir: str | Path, label_keys: Sequence[str], counts: np.ndarray, train_images: int, history: list[dict[str, Any]]
) -> None:
    """Write ``train_stats.json``: training images, per-label counts, one entry per finished epoch."""
    write_json(
        Path(run_dir) / TRAIN_STATS,
        {
            "train_images": train_images,
            "label_counts": dict(zip(label_keys, counts.tolist(), strict=True)),
            "epochs_done": len(history),
            "history": history,
        },
    )


def capture_rng_state() -> dict[str, Any]:
    """torch, CUDA, numpy and Python RNG states, as tensors/lists (loadable with ``weights_only``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    version, python_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(python_state), "gauss_next": gauss_next},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["state"]), python_state["gauss_next"]))


def save_checkpoint(path: str | Path, checkpoint: dict[str, Any]) -> None:
    """Write one checkpoint dict atomically (temporary file, fsync, ``os.replace``)."""
    checkpoint = {"format": CHECKPOINT_FORMAT, **checkpoint}
    atomic_write(path, lambda handle: torch.save(checkpoint, handle))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    checkpoint: dict[str, Any] = torch.load(path, map_location=map_location, weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unsupported checkpoint format {checkpoint.get('format')!r}")
    return checkpoint


def _downsample(curve: metrics_lib.PRCurve, max_points: int) -> dict[str, list[float]]:
    """At most ``max_points`` evenly spaced thresholds, plus the curve's final (P=1, R=0) point."""
    count = curve.thresholds.shape[0]
    keep = np.unique(np.linspace(0, count - 1, min(count, max_points)).round().astype(np.int64))
    return {
        "precision": np.round(np.append(curve.precision[keep], curve.precision[-1]), 6).tolist(),
        "recall": np.round(np.append(curve.recall[keep], curve.recall[-1]), 6).tolist(),
        "thresholds": np.round(curve.thresholds[keep].astype(np.float64), 6).tolist(),
    }


@dataclass
class Evaluation:
    """Everything computed on the val split: the metrics document and the arrays behind it."""

    metrics: dict[str, Any]
    scores: np.ndarray  # raw sigmoid scores (N, L)
    final_scores: np.ndarray  # after relations (equal to scores with relations off)
    keep: np.ndarray  # bool (N, L): labels output after thresholds and relations
    targets: np.ndarray
    thresholds: dict[str, float]


def _rate(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate_scores(
    scores: np.ndarray,
    targets: np.ndarray,
    label_keys: Sequence[str],
    taxonomy: dict[str, Any],
    *,
    thresholds: dict[str, float],
    use_relations: bool,
) -> Evaluation:
    """Metrics of raw ``scores`` with and without relation post-processing, at ``thresholds``.

    ``mAP``/``ap`` use the raw scores, the very numbers ``predict`` writes, so an AP recomputed
    from a predictions file equals metrics.json; ``mAP_relations``/``ap_relations`` the scores
    after relation post-processing (equal to the raw ones when relations are off). Precision,
    recall and F1 are those of the labels actually output (``keep``).
    """
    threshold_array = thresholds_lib.to_array(thresholds, label_keys)
    if use_relations:
        index = relations_lib.RelationIndex.from_taxonomy(taxonomy, list(label_keys))
        final_scores, keep = relations_lib.apply(scores, index, threshold_array)
    else:
        final_scores, keep = scores, scores >= threshold_array[None, :]
    raw = metrics_lib.evaluate(scores, targets, label_keys, thresholds)
    final = metrics_lib.evaluate(final_scores, targets, label_keys, thresholds) if use_relations else raw
    positive = targets != 0
    labels: dict[str, dict[str, Any]] = {}
    for j, key in enumerate(label_keys):
        entry = dict(raw["labels"][key])
        entry["ap_relations"] = final["labels"][key]["ap"]
        if key in thresholds:
            predicted = int(keep[:, j].sum())
            hits = int((keep[:, j] & positive[:, j]).sum())
            entry["precision"] = _rate(hits, predicted)
            entry["recall"] = _rate(hits, entry["support"])
            entry["f1"] = _rate(2 * hits, predicted + entry["support"])
        labels[key] = entry
    document = {
        "mAP": raw["mAP"],
        "mAP_relations": final["mAP"],
        "relations": use_relations,
        "images": int(scores.shape[0]),
        "labels": labels,
    }
    return Evaluation(document, scores, final_scores, keep, targets, dict(thresholds))


#: Decimals kept in predictions files and used for every metric (1e-5 is far below any threshold step).
SCORE_DECIMALS = 5


def round_scores(scores: np.ndarray) -> np.ndarray:
    """Scores as float64 rounded to :data:`SCORE_DECIMALS`, as predictions files hold them."""
    return np.round(np.asarray(scores, dtype=np.float64), SCORE_DECIMALS)


def write_evaluation(
    run_dir: str | Path,
    scores: np.ndarray,
    targets: np.ndarray,
    images: Sequence[str],
    label_keys: Sequence[str],
    taxonomy: dict[str, Any],
    *,
    mode: thresholds_lib.Mode,
    target: float | None,
    use_relations: bool,
    reuse_thresholds: bool = False,
) -> Evaluation:
    """Choose thresholds on val (or reuse thresholds.json), then write metrics, PR curves and val scores.

    Returns the :class:`Evaluation`; ``metrics["thresholds"]`` says how thresholds were chosen.
    """
    run_dir = Path(run_dir)
    # Metrics are computed on exactly the numbers ``predict`` writes, so an AP recomputed
    # from a predictions file matches metrics.json to the last digit.
    scores = round_scores(scores)
    threshold_file = run_dir / THRESHOLDS
    if reuse_thresholds and threshold_file.exists():
        chosen = thresholds_lib.load(threshold_file)
        selection = read_json(threshold_file)
        mode, target = selection.get("mode", mode), selection.get("target", target)
    else:
        selection_labels = thresholds_lib.select(scores, targets, label_keys, mode=mode, target=target)
        thresholds_lib.save(threshold_file, selection_labels, mode=mode, target=target)
        chosen = {k: v["threshold"] for k, v in selection_labels.items() if v["enabled"]}
    evaluation = evaluate_scores(scores, targets, label_keys, taxonomy, thresholds=chosen, use_relations=use_relations)
    evaluation.metrics["thresholds"] = {
        "mode": mode,
        "target": target,
        "enabled": len(chosen),
        "disabled": sorted(set(label_keys) - set(chosen)),
    }
    write_json(run_dir / METRICS, evaluation.metrics)
    curves = metrics_lib.pr_curves(evaluation.final_scores, targets)
    write_json(
        run_dir / PR_CURVES,
        {
            key: None if curve is None else _downsample(curve, PR_POINTS)
            for key, curve in zip(label_keys, curves, strict=True)
        },
    )
    save_val_scores(run_dir, scores, targets, images)
    return evaluation


def save_val_scores(run_dir: str | Path, scores: np.ndarray, targets: np.ndarray, images: Sequence[str]) -> None:
    """Write ``val_scores.npz``: ``scores`` float32 (N, L), ``targets`` uint8 (N, L), ``images`` str (N,)."""
    arrays = {
        "scores": scores.astype(np.float32),
        "targets": targets.astype(np.uint8),
        "images": np.asarray(images, dtype=str),
    }
    atomic_write(Path(run_dir) / VAL_SCORES, lambda handle: np.savez_compressed(handle, **arrays))  # type: ignore[arg-type]


def load_val_scores(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``val_scores.npz``: scores, targets and image paths."""
    path = Path(run_dir) / VAL_SCORES
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run `python -m training evaluate` first")
    with np.load(path, allow_pickle=False) as data:
        return data["scores"], data["targets"], [str(s) for s in data["images"]]
