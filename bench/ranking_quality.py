"""Ranking quality of the cleaning queues: ours against a random order and cleanlab, on known noise.

The data is the synthetic album (``training.synth.generate``): it writes the clean truth
(``manifest_clean.jsonl``) and a noisy copy (``manifest.jsonl``: a share of positives dropped,
a share of images given one false label, then closed under parents and ``implies`` as an
import does). The dataset state of (image, label) is the noisy copy; it is wrong where it
differs from the truth — a *missing* label (truth positive, dataset has nothing) or a *wrong*
one (dataset positive, truth negative).

What each method sees
---------------------
* **model scores** (all three): a baseline trained on the NOISY labels with the ``training``
  package on the CPU. Scores are out-of-sample (2-fold cross-fitting): the images are split in
  two halves by a seeded permutation; a model trained on half A scores half B and the other way
  round, so no image is scored by a model that saw its (noisy) labels. A model that scored its
  own training images would have memorised part of the noise and hide it.
* **a competitor** (ours only): a simulated provider that, like a real image-recognition API,
  is right most of the time and wrong in its own way, independently of the dataset's noise. For
  each image it reports each true leaf-ish label with probability ``--competitor-recall``
  (score ~ Beta(6, 2)), and with probability ``--competitor-false`` one false label (a
  plausible confusion partner two times in three, else any leaf-ish label; score ~ Beta(2, 3)).
  Root labels (people, animal, …) are never reported, as real providers' keywords map to
  specific labels.
* **relations** (ours only): the relation reasons the queues' rerank sets from the dataset
  state — an ``excludes`` pair positive together (indoor with outdoor, portrait with group
  photo), an ancestor or implied label missing (none after the import's closure, but the
  input is there).
* **the dataset state** (all three).

Every method orders the SAME queue per label: every (image, label) that any source flags —
dataset positive, model suggestion (the image's top 5 with score >= 0.5, as the re-predict
writes them), competitor claim, or a broken relation. Errors no source flags are outside every
queue; the table says how many.

* **ours**: ``annotator.cleaning.ranking.priority_array`` (the formula the queues are ranked
  with), fed the per-item arrays above; model scores under the model version's floor count as
  ``MODEL_FLOOR_SCORE``, as in the database. A second row feeds the same formula only the
  dataset state and the model scores — exactly cleanlab's inputs — to separate what the
  formula does from what the extra sources bring.
* **random**: a seeded shuffle of each queue (mean over ``--random-repeats`` shuffles).
* **cleanlab**: ``cleanlab.filter.find_label_issues(labels, pred_probs, multi_label=True,
  return_indices_ranked_by="self_confidence")`` on the dataset's positives and the same
  out-of-sample model scores. It returns images, not (image, label) pairs; to order a label's
  queue by cleanlab we put first the items whose image cleanlab flags AND whose label is one
  cleanlab's per-class quality score (``get_label_quality_scores_per_class``, self-confidence,
  the score find_label_issues ranks with) puts below 0.5, in cleanlab's image order, then the
  rest of the queue by that per-class quality score, lowest first.

Reported per method: precision@k (k = 10, 50: the share of errors among each queue's first k
items, averaged over queues that have k items), and the share of the errors in the queues
found in the first 10 / 20 / 50 % of each queue (pooled over labels).

About 10 minutes on 2 CPU cores at the defaults (2 × training 4,000 × 64 px tiny images);
the trained folds are cached under ``--workdir``, so a rerun takes seconds::

    python bench/ranking_quality.py                       # 4,000 images, resnet18, 64 px, 4 epochs
    python bench/ranking_quality.py --images 1000 --epochs 2 --backbone tiny_cnn   # a quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.cleaning.ranking import MODEL_FLOOR_SCORE  # noqa: E402  (pure numpy, no Django)
from training.synth import generate  # noqa: E402
from training.synth_taxonomy import _CONFUSIONS, KEYS, LABELS, RELATIONS  # noqa: E402

FOLDS = 2
TOP_SHARES = (0.10, 0.20, 0.50)
PRECISION_AT = (10, 50)


# --- data ----------------------------------------------------------------------------------


def _read_manifest(path: Path) -> tuple[list[str], np.ndarray]:
    index = {key: j for j, key in enumerate(KEYS)}
    names: list[str] = []
    rows: list[list[str]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            names.append(record["image"])
            rows.append(record["labels"])
    matrix = np.zeros((len(names), len(KEYS)), dtype=bool)
    for i, labels in enumerate(rows):
        matrix[i, [index[k] for k in labels]] = True
    return names, matrix


def synth_data(workdir: Path, images: int, seed: int, size: int) -> Path:
    out = workdir / f"synth-{images}-{seed}-{size}"
    if not (out / "manifest_clean.jsonl").exists():
        print(f"synth: rendering {images} images into {out} …", flush=True)
        summary = generate(out, images=images, seed=seed, image_size=size)
        for line in summary.lines():
            print("  " + line)
    return out


# --- out-of-sample model scores ------------------------------------------------------------


def _fold_of(n: int, seed: int) -> np.ndarray:
    order = np.random.default_rng([seed, 7]).permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % FOLDS
    return fold


def model_scores(data: Path, workdir: Path, args: argparse.Namespace) -> np.ndarray:
    """(images × labels) scores, each image scored by the fold model that did not train on it."""
    import torch

    from training.config import default_config
    from training.runs import predict_run, train_run

    torch.set_num_threads(max(1, args.threads))
    names, _ = _read_manifest(data / "manifest.jsonl")
    fold = _fold_of(len(names), args.seed)
    config_key = json.dumps(
        [args.images, args.seed, args.image_size, args.backbone, args.epochs, args.batch_size, args.lr], sort_keys=True
    )
    tag = hashlib.sha256(config_key.encode()).hexdigest()[:10]
    scores = np.full((len(names), len(KEYS)), np.nan, dtype=np.float64)
    position = {name: i for i, name in enumerate(names)}
    lines = (data / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    for k in range(FOLDS):
        run_dir = workdir / f"runs-{tag}" / f"fold{k}"
        predictions = run_dir / "predictions_heldout.jsonl"
        if not predictions.exists():
            manifest = run_dir.parent / f"manifest_fold{k}.jsonl"
            manifest.parent.mkdir(parents=True, exist_ok=True)
            with manifest.open("w", encoding="utf-8") as fh:
                for i, line in enumerate(lines):
                    record = json.loads(line)
                    # "val" = the held-out half this fold's model scores; it never trains on it.
                    record["split"] = "val" if fold[i] == k else "train"
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            config = default_config(
                backbone=args.backbone,
                image_size=args.image_size,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                warmup_epochs=0.5,
                device="cpu",
                num_workers=max(0, args.threads - 1),
                seed=args.seed + k,
                progress_every=1000,
            )
            started = time.perf_counter()
            print(f"fold {k + 1}/{FOLDS}: training {args.backbone} on {int((fold != k).sum())} images …", flush=True)
            train_run(
                config,
                manifest=manifest,
                taxonomy=data / "taxonomy.json",
                images_root=data / "images",
                run_dir=run_dir,
            )
            predict_run(run_dir, manifest=manifest, images_root=data / "images", out=predictions, split="val")
            print(f"fold {k + 1}/{FOLDS}: trained and scored in {time.perf_counter() - started:.0f} s", flush=True)
        with predictions.open(encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                scores[position[record["image"]]] = [record["scores"][key] for key in KEYS]
    missing = np.isnan(scores).any(axis=1).sum()
    if missing:
        raise SystemExit(f"{missing} images have no held-out score (unreadable?); delete {workdir} and rerun")
    return scores


# --- the simulated competitor --------------------------------------------------------------


def competitor(truth: np.ndarray, seed: int, recall: float, false_rate: float) -> np.ndarray:
    """Scores of a simulated provider (NaN where it says nothing); its noise is its own."""
    rng = np.random.default_rng([seed, 11])
    n, m = truth.shape
    leafish = np.array([spec.parent is not None for spec in LABELS])
    index = {key: j for j, key in enumerate(KEYS)}
    out = np.full((n, m), np.nan)
    hit = truth & leafish[None, :] & (rng.random((n, m)) < recall)
    out[hit] = rng.beta(6, 2, size=int(hit.sum()))
    for i in np.flatnonzero(rng.random(n) < false_rate):
        present = {KEYS[j] for j in np.flatnonzero(truth[i])}
        partners = sorted({p for key in present for p in _CONFUSIONS.get(key, ()) if p not in present})
        if partners and rng.random() < 2 / 3:
            wrong = partners[int(rng.integers(len(partners)))]
        else:
            pool = [k for k, leaf in zip(KEYS, leafish, strict=True) if leaf and k not in present]
            wrong = pool[int(rng.integers(len(pool)))]
        out[i, index[wrong]] = rng.beta(2, 3)
    return out


# --- relations -----------------------------------------------------------------------------


def relation_reasons(state: np.ndarray) -> np.ndarray:
    """Per (image, label): the ranking's relation Reason bits the dataset state raises.

    As the queues' rerank sets them: PARENT_MISSING on an ancestor missing under a positive
    child, IMPLIED_MISSING on a label missing that a positive label implies, EXCLUDED_PAIR on
    both labels of an excluded pair that are positive together.
    """
    from annotator.cleaning.ranking import Reason

    index = {key: j for j, key in enumerate(KEYS)}
    bits = np.zeros(state.shape, dtype=np.int64)
    for spec in LABELS:
        if spec.parent is not None:
            c, p = index[spec.key], index[spec.parent]
            bits[state[:, c] & ~state[:, p], p] |= int(Reason.PARENT_MISSING)
    for kind, src, dst in RELATIONS:
        s, d = index[src], index[dst]
        if kind == "implies":
            bits[state[:, s] & ~state[:, d], d] |= int(Reason.IMPLIED_MISSING)
        elif kind == "excludes":
            both = state[:, s] & state[:, d]
            bits[both, s] |= int(Reason.EXCLUDED_PAIR)
            bits[both, d] |= int(Reason.EXCLUDED_PAIR)
    return bits


def model_suggested(scores: np.ndarray) -> np.ndarray:
    """As the re-predict writes model evidence: the image's top 5 labels with score >= 0.5."""
    top = np.argsort(-scores, axis=1)[:, :5]
    suggested = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(suggested, top, True, axis=1)
    return suggested & (scores >= 0.5)


# --- the methods ---------------------------------------------------------------------------


@dataclass
class Queues:
    """Flat arrays, one entry per queue item, grouped by label."""

    image: np.ndarray
    label: np.ndarray
    error: np.ndarray
    dataset_state: np.ndarray  # 1 positive, -1 unknown (the synth dataset has no verified negatives)
    model_score: np.ndarray
    model_suggested: np.ndarray
    competitor_score: np.ndarray
    relation_reasons: np.ndarray


def build_queues(state: np.ndarray, truth: np.ndarray, scores: np.ndarray, comp: np.ndarray) -> Queues:
    reasons = relation_reasons(state)
    suggested = model_suggested(scores)
    flagged = state | suggested | ~np.isnan(comp) | (reasons != 0)
    label, image = np.nonzero(flagged.T)  # label-major: each queue's items are contiguous
    return Queues(
        image=image,
        label=label,
        error=state[image, label] != truth[image, label],
        dataset_state=np.where(state[image, label], 1, -1).astype(np.int8),
        # The model version keeps scores above a floor; below it the queues see the floor score.
        model_score=np.maximum(scores[image, label], MODEL_FLOOR_SCORE),
        model_suggested=suggested[image, label],
        competitor_score=comp[image, label],
        relation_reasons=reasons[image, label],
    )


def ours(q: Queues) -> np.ndarray:
    """The queues' own priority (annotator.cleaning.ranking.priority_array): P(the dataset is wrong)."""
    from annotator.cleaning.ranking import priority_array

    return priority_array(
        state=q.dataset_state,
        model_score=q.model_score,
        competitor_score=q.competitor_score,
        other_score=np.full(len(q.image), np.nan),  # no crawl / imported machine evidence here
        reasons=q.relation_reasons,
    )


def ours_model_only(q: Queues) -> np.ndarray:
    """The same formula fed only what cleanlab sees (dataset state + model scores): an ablation."""
    from annotator.cleaning.ranking import priority_array

    nothing = np.full(len(q.image), np.nan)
    return priority_array(
        state=q.dataset_state,
        model_score=q.model_score,
        competitor_score=nothing,
        other_score=nothing,
        reasons=np.zeros(len(q.image), dtype=np.int64),
    )


def cleanlab_priority(q: Queues, state: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per item: a sort key (higher first) reproducing cleanlab's ordering inside each queue."""
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    labels = [list(np.flatnonzero(row)) for row in state]
    with warnings.catch_warnings():  # "too few examples in class k" for the rarest labels
        warnings.simplefilter("ignore", UserWarning)
        ranked = find_label_issues(
            labels=labels, pred_probs=scores, multi_label=True, return_indices_ranked_by="self_confidence"
        )
        per_class = np.asarray(get_label_quality_scores_per_class(labels=labels, pred_probs=scores))
    rank_of = np.full(state.shape[0], -1, dtype=np.int64)
    rank_of[ranked] = np.arange(len(ranked))
    flagged = (rank_of[q.image] >= 0) & (per_class[q.image, q.label] < 0.5)
    quality = per_class[q.image, q.label]
    # flagged items first (cleanlab's image order), then the rest by quality ascending
    return np.where(flagged, 2.0 + (len(ranked) - rank_of[q.image]) / max(1, len(ranked)), 1.0 - quality)


# --- metrics -------------------------------------------------------------------------------


def evaluate(q: Queues, priority: np.ndarray) -> dict[str, float]:
    found = dict.fromkeys(TOP_SHARES, 0)
    precision: dict[int, list[float]] = {k: [] for k in PRECISION_AT}
    total = 0
    for label in np.unique(q.label):
        members = np.flatnonzero(q.label == label)
        order = members[np.argsort(-priority[members], kind="stable")]
        errors = q.error[order]
        total += int(errors.sum())
        for share in TOP_SHARES:
            found[share] += int(errors[: int(np.ceil(share * len(order)))].sum())
        for k in PRECISION_AT:
            if len(order) >= k:
                precision[k].append(float(errors[:k].mean()))
    out = {f"p@{k}": float(np.mean(v)) if v else float("nan") for k, v in precision.items()}
    out.update({f"top{int(s * 100)}%": found[s] / max(1, total) for s in TOP_SHARES})
    return out


def random_priority(q: Queues, seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 99]).random(len(q.image))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--backbone", default="resnet18", help="resnet18 or tiny_cnn")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--competitor-recall", type=float, default=0.7)
    parser.add_argument("--competitor-false", type=float, default=0.15)
    parser.add_argument("--random-repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench" / "ranking_quality")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

    started = time.perf_counter()
    data = synth_data(args.workdir, args.images, args.seed, args.image_size)
    _, truth = _read_manifest(data / "manifest_clean.jsonl")
    _, state = _read_manifest(data / "manifest.jsonl")
    scores = model_scores(data, args.workdir, args)
    comp = competitor(truth, args.seed, args.competitor_recall, args.competitor_false)
    q = build_queues(state, truth, scores, comp)

    all_errors = int((state != truth).sum())
    missing = int((truth & ~state).sum())
    wrong = int((state & ~truth).sum())
    print()
    print(f"images {len(state)}, labels {len(KEYS)}, queue items {len(q.image)} in {len(np.unique(q.label))} queues")
    print(
        f"dataset errors: {all_errors} ({missing} missing, {wrong} wrong); in the queues: {int(q.error.sum())} "
        f"({100 * q.error.sum() / max(1, all_errors):.1f}%); the rest no source flags"
    )

    results = {
        "ours": evaluate(q, ours(q)),
        "ours (model + dataset only)": evaluate(q, ours_model_only(q)),
        "random": _mean([evaluate(q, random_priority(q, s)) for s in range(args.random_repeats)]),
        "cleanlab": evaluate(q, cleanlab_priority(q, state, scores)),
    }
    base_rate = q.error.mean()
    print(f"error share in the queues (precision of any order): {base_rate:.3f}\n")
    columns = [f"p@{k}" for k in PRECISION_AT] + [f"top{int(s * 100)}%" for s in TOP_SHARES]
    width = max(len(name) for name in results)
    print(f"| {'method':<{width}} | {' | '.join(f'{c:>7}' for c in columns)} |")
    print(f"|{'-' * (width + 2)}|{'|'.join('-' * 9 for _ in columns)}|")
    for name, row in results.items():
        print(f"| {name:<{width}} | {' | '.join(f'{row[c]:>7.3f}' for c in columns)} |")
    print("\np@k: share of errors among each queue's first k items (mean over queues with >= k items);")
    print("topN%: share of the queues' errors found in the first N% of each queue (pooled over labels).")
    win = results["ours"]["top20%"] / max(1e-9, results["cleanlab"]["top20%"])
    print(f"ours / cleanlab, errors found in the first 20%: {win:.2f}x; took {time.perf_counter() - started:.0f} s")
    return 0


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


if __name__ == "__main__":
    sys.exit(main())
