"""Synthetic photo-album dataset: a taxonomy, rendered images, clean truth and noisy labels.

The generator stands in for a real album dataset in the demo, the tests and the benchmarks.
It draws a truth label set for every image from a small album-like model (8 categories,
33 labels, a long tail of frequencies, correlated labels), renders each present label as
a distinctive motif a small CNN can learn at 64-96 px, and writes the labels twice: the
clean truth, closed under parent and ``implies``, and a noisy copy with a requested share
of positives dropped and of images given one false label.

Everything is derived from ``numpy.random.default_rng([seed, index, stream])``, so a seed
gives byte-identical files, image ``i`` does not depend on how many images are generated,
and the noise rates change only the noisy labels, never the images or the truth.

The parts: :mod:`training.synth_taxonomy` (labels, relations, closure, truth and noise
sampling), :mod:`training.synth_render` and :mod:`training.synth_motifs` (drawing); this
module draws the images in order and writes the files.

Command line (``python -m training synth ...``)::

    synth --out DIR --images N --seed S [--missing-rate P] [--wrong-rate Q] [--image-size PX]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.synth_render import render
from training.synth_taxonomy import (
    KEYS,
    LABELS,
    ORDER,
    RELATIONS,
    LabelSpec,
    closure,
    inject_noise,
    sample_truth,
    taxonomy,
)

__all__ = [
    "KEYS",
    "LABELS",
    "RELATIONS",
    "LabelSpec",
    "SynthError",
    "SynthSummary",
    "closure",
    "generate",
    "main",
    "render",
    "taxonomy",
]

Progress = Callable[[int, int], None]


class SynthError(ValueError):
    """Bad arguments, or an output folder the generator refuses to write into."""


_TRUTH, _NOISE, _SPLIT = 0, 1, 2  # rng streams
_VAL_EVERY = 10  # ~9:1 train/val
_README_MARK = "LabelLoop synthetic photo-album dataset"
_IMAGE_NAME = re.compile(r"^\d+\.jpg$")


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate`` wrote: sizes, label statistics and the noise actually injected."""

    out: Path
    images: int
    labels: int
    positives: int
    mean_labels_per_image: float
    mean_noisy_labels_per_image: float
    missing_injected: int
    wrong_injected: int
    train: int
    val: int
    clean_counts: dict[str, int]
    noisy_counts: dict[str, int]
    noisy_closed_counts: dict[str, int]

    def lines(self) -> list[str]:
        """A few human-readable lines, as printed by the command line."""
        missing_pct = 100.0 * self.missing_injected / max(1, self.positives)
        wrong_pct = 100.0 * self.wrong_injected / max(1, self.images)
        present = sum(1 for v in self.clean_counts.values() if v)
        return [
            f"images: {self.images} ({self.train} train, {self.val} val) in {self.out}",
            f"labels: {self.labels} in the taxonomy, {present} present",
            f"mean labels per image: {self.mean_labels_per_image:.2f} clean, "
            f"{self.mean_noisy_labels_per_image:.2f} noisy",
            f"injected missing: {self.missing_injected} of {self.positives} clean positives ({missing_pct:.1f}%)",
            f"injected wrong: {self.wrong_injected} images with one false label ({wrong_pct:.1f}%)",
        ]


def _prepare_out(out: Path) -> Path:
    """Create ``out/images``; refuse a non-empty folder unless it holds an earlier synth output."""
    images_dir = out / "images"
    if out.exists():
        if not out.is_dir():
            raise SynthError(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()):
            readme = out / "README.txt"
            if not readme.is_file() or not readme.read_text(encoding="utf-8").startswith(_README_MARK):
                raise SynthError(f"--out {out}: not empty and not an earlier synth output; refusing to write there")
            if images_dir.is_dir():  # a smaller re-run must not leave stale images behind
                for path in images_dir.iterdir():
                    if _IMAGE_NAME.match(path.name):
                        path.unlink()
    images_dir.mkdir(parents=True, exist_ok=True)
    return images_dir


def _split(clean: list[list[str]], seed: int) -> list[str]:
    """~9:1 split, stratified on each image's rarest clean label so that rare labels reach val too."""
    counts = Counter(key for labels in clean for key in labels)
    groups: dict[str, list[int]] = {}
    for i, labels in enumerate(clean):
        rarest = min(labels, key=lambda k: (counts[k], ORDER[k])) if labels else ""
        groups.setdefault(rarest, []).append(i)
    rng = np.random.default_rng([seed, 0, _SPLIT])
    split = ["train"] * len(clean)
    for key in sorted(groups, key=lambda k: ORDER.get(k, -1)):
        members = groups[key]
        offset = int(rng.integers(_VAL_EVERY))
        for pos, idx in enumerate(rng.permutation(len(members))):
            if (pos + offset) % _VAL_EVERY == 0:
                split[members[int(idx)]] = "val"
    return split


def _write_csv(path: Path, names: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["image", "labels"])
        writer.writerows([name, "|".join(labels)] for name, labels in zip(names, rows, strict=True))


def _write_manifest(path: Path, names: list[str], rows: list[list[str]], split: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for name, labels, part in zip(names, rows, split, strict=True):
            fh.write(json.dumps({"image": name, "labels": labels, "split": part}, ensure_ascii=False) + "\n")


def _readme(summary: SynthSummary, seed: int, missing_rate: float, wrong_rate: float, size: int) -> str:
    w = max(len(k) for k in KEYS)
    counts = [
        f"  {k:<{w}}  {summary.clean_counts[k]:>7}  {summary.noisy_counts[k]:>7}  {summary.noisy_closed_counts[k]:>7}"
        for k in KEYS
    ]
    text = [
        f"{_README_MARK}, made by training/synth.py",
        "",
        f"seed {seed}; {summary.images} images of {size}x{size} px; "
        f"missing rate {missing_rate}; wrong rate {wrong_rate}.",
        "",
        "Each image's truth is drawn from an album-like label model (8 categories, a long tail of",
        "label frequencies, correlated labels) and every true label is painted as its own motif:",
        "scenes as backgrounds, objects as shapes, glasses and QR codes small, a fold-eared cat as",
        "a cat with folded ears, a forest as many trees, drawing and cartoon as style overlays.",
        "",
        "images/               the JPEG images",
        "taxonomy.json         labels (parents first, with guidelines) and relations",
        "labels_clean.csv      image,labels: the truth, closed under parent and implies",
        "labels.csv            image,labels: the noisy labels an importer gets",
        "manifest_clean.jsonl  the truth, closed, with a seeded ~9:1 train/val split",
        "manifest.jsonl        the noisy labels closed under parent and implies, same split",
        "",
        "Noise injected into labels.csv, relative to labels_clean.csv:",
        f"  missing: {summary.missing_injected} of {summary.positives} clean positives dropped",
        f"  wrong:   {summary.wrong_injected} of {summary.images} images given one false label",
        f"  mean labels per image: {summary.mean_labels_per_image:.2f} clean, "
        f"{summary.mean_noisy_labels_per_image:.2f} noisy",
        "",
        "Images per label (clean truth; noisy labels.csv; noisy closed as in manifest.jsonl):",
        f"  {'label':<{w}}  {'clean':>7}  {'noisy':>7}  {'closed':>7}",
        *counts,
        "",
    ]
    return "\n".join(text)


def _check_args(images: int, seed: int, missing_rate: float, wrong_rate: float, image_size: int) -> None:
    if images < 1:
        raise SynthError(f"--images {images}: must be at least 1")
    if seed < 0:
        raise SynthError(f"--seed {seed}: must be zero or positive")
    for name, rate in (("--missing-rate", missing_rate), ("--wrong-rate", wrong_rate)):
        if not 0.0 <= rate <= 1.0:
            raise SynthError(f"{name} {rate}: must be between 0 and 1")
    if not 16 <= image_size <= 2048:
        raise SynthError(f"--image-size {image_size}: must be between 16 and 2048")


def generate(
    out: Path,
    *,
    images: int,
    seed: int,
    missing_rate: float = 0.1,
    wrong_rate: float = 0.05,
    image_size: int = 96,
    progress: Progress | None = None,
) -> SynthSummary:
    """Render ``images`` images into ``out/images`` and write taxonomy, labels, manifests and README.

    ``progress(done, total)`` is called every 100 images and at the end. Raises ``SynthError``
    for bad arguments, or for an ``out`` that is not empty and not an earlier synth output
    (an earlier output is replaced, its images removed first).
    """
    _check_args(images, seed, missing_rate, wrong_rate, image_size)
    out = Path(out)
    images_dir = _prepare_out(out)
    digits = max(6, len(str(images - 1)))
    names: list[str] = []
    clean_rows: list[list[str]] = []
    noisy_rows: list[list[str]] = []
    missing = wrong = 0
    for i in range(images):
        rng = np.random.default_rng([seed, i, _TRUTH])
        truth = sample_truth(rng)
        names.append(f"{i:0{digits}d}.jpg")
        render(truth, rng, image_size).save(images_dir / names[-1], "JPEG", quality=90)
        clean = closure(truth)
        noisy, false_label = inject_noise(np.random.default_rng([seed, i, _NOISE]), clean, missing_rate, wrong_rate)
        missing += len(set(clean) - set(noisy))
        wrong += false_label is not None
        clean_rows.append(clean)
        noisy_rows.append(noisy)
        if progress is not None and ((i + 1) % 100 == 0 or i + 1 == images):
            progress(i + 1, images)

    split = _split(clean_rows, seed)
    noisy_closed = [closure(row) for row in noisy_rows]
    (out / "taxonomy.json").write_text(json.dumps(taxonomy(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _write_csv(out / "labels_clean.csv", names, clean_rows)
    _write_csv(out / "labels.csv", names, noisy_rows)
    _write_manifest(out / "manifest_clean.jsonl", names, clean_rows, split)
    _write_manifest(out / "manifest.jsonl", names, noisy_closed, split)

    def per_label(rows: list[list[str]]) -> dict[str, int]:
        found = Counter(key for row in rows for key in row)
        return {key: found[key] for key in KEYS}

    positives = sum(len(row) for row in clean_rows)
    summary = SynthSummary(
        out=out,
        images=images,
        labels=len(LABELS),
        positives=positives,
        mean_labels_per_image=positives / images,
        mean_noisy_labels_per_image=sum(len(row) for row in noisy_rows) / images,
        missing_injected=missing,
        wrong_injected=wrong,
        train=split.count("train"),
        val=split.count("val"),
        clean_counts=per_label(clean_rows),
        noisy_counts=per_label(noisy_rows),
        noisy_closed_counts=per_label(noisy_closed),
    )
    (out / "README.txt").write_text(_readme(summary, seed, missing_rate, wrong_rate, image_size), encoding="utf-8")
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training synth", description="Render the synthetic album dataset.")
    p.add_argument("--out", type=Path, required=True, help="output folder; an earlier synth output is replaced")
    p.add_argument("--images", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, required=True, help="random seed; a seed gives byte-identical files")
    p.add_argument("--missing-rate", type=float, default=0.1, help="share of clean positives dropped (0.1)")
    p.add_argument("--wrong-rate", type=float, default=0.05, help="share of images given one false label (0.05)")
    p.add_argument("--image-size", type=int, default=96, help="side of the square images in pixels (96)")
    return p


def main(argv: list[str]) -> int:
    """Command line: ``synth --out DIR --images N --seed S [...]``; prints a summary, returns the exit status."""
    args_in = list(argv)
    if args_in[:1] == ["synth"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as exc:  # argparse has printed the usage error or the help
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)

    def report(done: int, total: int) -> None:
        if done == total or done % 1000 == 0:
            print(f"synth: {done}/{total} images", file=sys.stderr)

    try:
        summary = generate(
            args.out,
            images=args.images,
            seed=args.seed,
            missing_rate=args.missing_rate,
            wrong_rate=args.wrong_rate,
            image_size=args.image_size,
            progress=report,
        )
    except SynthError as exc:
        print(f"synth: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
