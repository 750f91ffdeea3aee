"""Benchmark: per-label PR curves, AP and thresholds, training.metrics vs scikit-learn per label.

Budget (DESIGN.md): for 400 labels x 100k images, the same numbers as scikit-learn, at least 10x
faster than calling it once per label. Both sides produce the same outputs: every label's PR
curve, its AP and its threshold in each of the three modes (chosen with the same
``training.thresholds.operating_point`` on each side's curve). Every output is compared exactly.

    python bench/metrics.py                                  # small check (50k x 200, seconds)
    python bench/metrics.py --images 100000 --labels 400     # the budgeted size

Exits non-zero when a number differs or the speed-up is below --min-ratio (default 10).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.metrics import PRCurve, pr_curves_and_ap  # noqa: E402
from training.thresholds import Mode, operating_point, select_from_curves  # noqa: E402

MODES: tuple[tuple[Mode, float | None], ...] = (("precision", 0.9), ("recall", 0.8), ("f1", None))


def make_data(n_images: int, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 scores with ties (3 decimals) and sparse targets with a long tail of frequencies."""
    rng = np.random.default_rng(seed)
    # Zipf-like label frequencies: 30% for the head label, ~0.25% for the 400th (~3.6 labels per
    # image at 400 labels, as in DESIGN.md), never fewer than ~5 positives.
    frequency = np.maximum(0.3 / (1 + np.arange(n_labels)) ** 0.8, 5 / n_images)
    targets = rng.random((n_images, n_labels), dtype=np.float32) < frequency.astype(np.float32)
    scores = rng.random((n_images, n_labels), dtype=np.float32)
    scores += targets * rng.random((n_images, n_labels), dtype=np.float32)  # positives rank higher
    scores = np.round(scores / 2, 3).astype(np.float32)
    return scores, targets.astype(np.int8)


def run_ours(scores: np.ndarray, targets: np.ndarray, keys: list[str]) -> tuple[float, tuple]:
    """All labels at once: one pass for curves + AP, then the three threshold selections."""
    start = time.perf_counter()
    curves, ap = pr_curves_and_ap(scores, targets)
    selections = [select_from_curves(curves, keys, mode=mode, target=target) for mode, target in MODES]
    return time.perf_counter() - start, (curves, ap, selections)


def run_sklearn(scores: np.ndarray, targets: np.ndarray, keys: list[str]) -> tuple[float, tuple]:
    """scikit-learn once per label, with the same threshold choice made on its curve."""
    start = time.perf_counter()
    curves: list[PRCurve | None] = []
    ap = np.full(len(keys), np.nan)
    points: list[list[dict | None]] = [[] for _ in MODES]
    for label in range(len(keys)):
        y_true, y_score = targets[:, label], scores[:, label]
        if not y_true.any():  # scikit-learn warns and returns a meaningless curve; we report None
            curves.append(None)
            for m in range(len(MODES)):
                points[m].append(None)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curve = PRCurve(*precision_recall_curve(y_true, y_score))
            ap[label] = average_precision_score(y_true, y_score)
        curves.append(curve)
        for m, (mode, target) in enumerate(MODES):
            points[m].append(operating_point(curve, mode=mode, target=target))
    return time.perf_counter() - start, (curves, ap, points)


def compare(ours: tuple, theirs: tuple, keys: list[str]) -> list[str]:
    """Every difference between the two sides, as readable lines (empty when identical)."""
    our_curves, our_ap, selections = ours
    their_curves, their_ap, points = theirs
    problems = []
    for label, key in enumerate(keys):
        a, b = our_curves[label], their_curves[label]
        if (a is None) != (b is None):
            problems.append(f"{key}: curve presence differs")
            continue
        if a is not None and b is not None:
            for field in ("precision", "recall", "thresholds"):
                if not np.array_equal(getattr(a, field), getattr(b, field)):
                    problems.append(f"{key}: {field} differs")
        if not (our_ap[label] == their_ap[label] or (math.isnan(our_ap[label]) and math.isnan(their_ap[label]))):
            problems.append(f"{key}: AP {our_ap[label]!r} != {their_ap[label]!r}")
        for m, (mode, _) in enumerate(MODES):
            entry, point = selections[m][key], points[m][label]
            mine = None
            if entry["enabled"]:
                mine = {name: entry[name] for name in ("threshold", "precision", "recall", "f1")}
            if mine != point:
                problems.append(f"{key}: {mode} operating point {mine} != {point}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print both times and the speed ratio; non-zero exit on any difference."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--labels", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="run both sides this many times, report the best")
    parser.add_argument("--min-ratio", type=float, default=10.0, help="fail below this speed-up (0: never)")
    args = parser.parse_args(argv)

    scores, targets = make_data(args.images, args.labels, args.seed)
    keys = [f"label_{i:03d}" for i in range(args.labels)]
    positives = targets.sum(axis=0)
    print(
        f"{args.images} images x {args.labels} labels, seed {args.seed}: "
        f"positives per label min {positives.min()}, median {int(np.median(positives))}, max {positives.max()}; "
        f"{len(np.unique(scores))} distinct scores"
    )
    our_times, their_times = [], []
    for _ in range(max(1, args.repeat)):  # interleaved, so both sides see the same machine load
        our_time, ours = run_ours(scores, targets, keys)
        their_time, theirs = run_sklearn(scores, targets, keys)
        our_times.append(our_time)
        their_times.append(their_time)
    our_time, their_time = min(our_times), min(their_times)
    for name, times in (
        ("training.metrics (all labels at once)", our_times),
        ("scikit-learn (once per label)", their_times),
    ):
        runs = ", ".join(f"{t:.3f}" for t in times)
        print(f"{name + ':':39s}{min(times):8.3f} s  (runs: {runs})")
    ratio = their_time / our_time
    print(f"speed ratio: {ratio:.1f}x (budget >= 10x)")

    problems = compare(ours, theirs, keys)
    if problems:
        print(f"MISMATCH in {len(problems)} places, first ones:")
        for line in problems[:20]:
            print("  " + line)
        return 1
    print(f"identical: {args.labels} curves, APs and {len(MODES)} x {args.labels} operating points")
    if ratio < args.min_ratio:
        print(f"TOO SLOW: {ratio:.1f}x < {args.min_ratio}x")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
