"""The synthetic album dataset: files, taxonomy, closure, noise rates, long tail, determinism."""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from training.synth import SynthError, SynthSummary, generate, main

BIG_IMAGES = 2000
MISSING, WRONG = 0.1, 0.05


def _csv(path: Path) -> tuple[list[str], list[tuple[str, set[str]]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [(name, set(labels.split("|")) - {""}) for name, labels in rows[1:]]


def _manifest(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _within(observed: int, n: int, p: float) -> bool:
    """Observed count is within 4.5 binomial standard deviations of n * p."""
    return abs(observed - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1


class _Closure:
    """Parent + implies closure computed from taxonomy.json alone, independent of the generator."""

    def __init__(self, taxonomy: dict) -> None:
        self.parent = {lab["key"]: lab["parent"] for lab in taxonomy["labels"]}
        self.implies: dict[str, list[str]] = {}
        for rel in taxonomy["relations"]:
            if rel["kind"] == "implies":
                self.implies.setdefault(rel["src"], []).append(rel["dst"])

    def __call__(self, labels: set[str]) -> set[str]:
        out, todo = set(), list(labels)
        while todo:
            key = todo.pop()
            if key not in out:
                out.add(key)
                todo += [self.parent[key]] if self.parent[key] else []
                todo += self.implies.get(key, [])
        return out


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SynthSummary]:
    out = tmp_path_factory.mktemp("synth") / "big"
    summary = generate(out, images=BIG_IMAGES, seed=7, missing_rate=MISSING, wrong_rate=WRONG, image_size=24)
    return out, summary


@pytest.fixture(scope="module")
def taxonomy(big: tuple[Path, SynthSummary]) -> dict:
    return json.loads((big[0] / "taxonomy.json").read_text(encoding="utf-8"))


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a", images=30, seed=3)
    generate(tmp_path / "b", images=30, seed=3)
    generate(tmp_path / "c", images=30, seed=4)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert len(a) == 30 + 6
    assert a["labels_clean.csv"] != c["labels_clean.csv"]
    assert a["images/000000.jpg"] != c["images/000000.jpg"]


def test_noise_rates_change_only_the_noisy_labels(tmp_path: Path) -> None:
    generate(tmp_path / "a", images=20, seed=5, missing_rate=0.0, wrong_rate=0.0)
    generate(tmp_path / "b", images=20, seed=5, missing_rate=0.5, wrong_rate=0.5)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a["labels_clean.csv"] == b["labels_clean.csv"]
    assert a["labels_clean.csv"] == a["labels.csv"]  # no noise requested, none injected
    assert all(a[k] == b[k] for k in a if k.startswith("images/"))
    assert a["labels.csv"] != b["labels.csv"]


def test_taxonomy_has_categories_names_relations_and_guidelines(taxonomy: dict) -> None:
    labels = taxonomy["labels"]
    keys = [lab["key"] for lab in labels]
    assert len(set(keys)) == len(keys)
    assert 28 <= len(labels) <= 36
    assert sum(lab["parent"] is None for lab in labels) == 8
    seen: set[str] = set()
    for lab in labels:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", lab["key"])
        assert lab["name_en"].strip()
        assert re.search(r"[\u4e00-\u9fff]", lab["name_zh"])
        assert len(lab["guideline"]) > 20
        assert isinstance(lab["small_object"], bool)
        assert lab["parent"] is None or lab["parent"] in seen  # parents listed before children
        seen.add(lab["key"])
    by_key = {lab["key"]: lab for lab in labels}
    assert by_key["fold_eared_cat"]["parent"] == "cat"
    assert (by_key["cat"]["name_zh"], by_key["fold_eared_cat"]["name_zh"]) == ("猫", "折耳猫")
    assert by_key["glasses"]["small_object"] is True
    relations = {(r["kind"], r["src"], r["dst"]) for r in taxonomy["relations"]}
    assert all(r[1] in by_key and r[2] in by_key for r in relations)
    assert ("implies", "forest", "tree") in relations
    assert relations & {("overlaps", "drawing", "cartoon"), ("overlaps", "cartoon", "drawing")}
    assert any(kind == "excludes" for kind, _, _ in relations)


def test_clean_labels_are_closed_and_noisy_manifest_is_the_closed_noisy_csv(
    big: tuple[Path, SynthSummary], taxonomy: dict
) -> None:
    out, _ = big
    close = _Closure(taxonomy)
    _, clean = _csv(out / "labels_clean.csv")
    _, noisy = _csv(out / "labels.csv")
    assert all(labels and close(labels) == labels for _, labels in clean)
    manifest_clean = _manifest(out / "manifest_clean.jsonl")
    manifest = _manifest(out / "manifest.jsonl")
    assert [(r["image"], set(r["labels"])) for r in manifest_clean] == clean
    assert [(r["image"], set(r["labels"])) for r in manifest] == [(n, close(lab)) for n, lab in noisy]
    # the noisy csv is realistically inconsistent: some rows break the parent / implies closure
    assert any(close(labels) != labels for _, labels in noisy)
    assert any({"fold_eared_cat"} <= labels and "cat" not in labels for _, labels in noisy)


def test_injected_noise_matches_the_requested_rates(big: tuple[Path, SynthSummary]) -> None:
    out, summary = big
    _, clean = _csv(out / "labels_clean.csv")
    _, noisy = _csv(out / "labels.csv")
    positives = sum(len(labels) for _, labels in clean)
    missing = sum(len(c - n) for (_, c), (_, n) in zip(clean, noisy, strict=True))
    extra = [len(n - c) for (_, c), (_, n) in zip(clean, noisy, strict=True)]
    assert set(extra) <= {0, 1}  # at most one false label per image
    assert _within(missing, positives, MISSING)
    assert _within(sum(extra), len(clean), WRONG)
    assert (summary.positives, summary.missing_injected, summary.wrong_injected) == (positives, missing, sum(extra))
    readme = (out / "README.txt").read_text(encoding="utf-8")
    assert f"{missing} of {positives}" in readme and "seed 7" in readme


@pytest.mark.parametrize(("missing_rate", "wrong_rate"), [(0.3, 0.2), (0.0, 0.5)])
def test_other_noise_rates_are_honoured(tmp_path: Path, missing_rate: float, wrong_rate: float) -> None:
    s = generate(tmp_path, images=400, seed=11, missing_rate=missing_rate, wrong_rate=wrong_rate, image_size=16)
    assert _within(s.missing_injected, s.positives, missing_rate)
    assert _within(s.wrong_injected, s.images, wrong_rate)


def test_label_frequencies_have_a_long_tail(big: tuple[Path, SynthSummary]) -> None:
    out, summary = big
    _, clean = _csv(out / "labels_clean.csv")
    counts = Counter(key for _, labels in clean for key in labels)
    assert len(counts) == summary.labels  # every label appears in 2000 images
    prevalence = {k: v / len(clean) for k, v in counts.items()}
    assert max(prevalence.values()) / min(prevalence.values()) >= 20
    assert 0.3 <= max(v for k, v in prevalence.items() if k in {"outdoor", "portrait"}) <= 0.5
    assert min(prevalence.values()) <= 0.015
    assert 3.5 <= summary.mean_labels_per_image <= 4.5
    both = sum({"drawing", "cartoon"} <= labels for _, labels in clean)
    assert 0 < both < min(counts["drawing"], counts["cartoon"])  # an overlap, not a containment


def test_manifests_follow_the_design_format(big: tuple[Path, SynthSummary], taxonomy: dict) -> None:
    out, summary = big
    keys = {lab["key"] for lab in taxonomy["labels"]}
    header, rows = _csv(out / "labels.csv")
    assert header == ["image", "labels"]
    assert _csv(out / "labels_clean.csv")[0] == ["image", "labels"]
    manifest, manifest_clean = _manifest(out / "manifest.jsonl"), _manifest(out / "manifest_clean.jsonl")
    assert len(manifest) == len(manifest_clean) == len(rows) == BIG_IMAGES
    for row, clean_row in zip(manifest, manifest_clean, strict=True):
        assert list(row) == ["image", "labels", "split"]
        assert row["split"] in {"train", "val"}
        assert (row["image"], row["split"]) == (clean_row["image"], clean_row["split"])
        assert set(row["labels"]) <= keys and isinstance(row["labels"], list)
    val = sum(r["split"] == "val" for r in manifest)
    assert val == summary.val and 0.08 <= val / BIG_IMAGES <= 0.12
    val_labels = Counter(k for r in manifest_clean if r["split"] == "val" for k in r["labels"])
    assert len(val_labels) == len(keys)  # stratified: even the rarest labels reach val


def test_images_decode_at_the_requested_size(tmp_path: Path) -> None:
    generate(tmp_path, images=12, seed=2, image_size=64)
    _, rows = _csv(tmp_path / "labels.csv")
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [name for name, _ in rows]
    for name, _ in rows:
        with Image.open(tmp_path / "images" / name) as img:
            assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (64, 64))
            img.load()


def test_command_line_tiny_run_and_rerun(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["synth", "--out", str(out), "--images", "10", "--seed", "1", "--image-size", "32"]) == 0
    assert "injected missing" in capsys.readouterr().out
    assert len(list((out / "images").iterdir())) == 10
    # a smaller re-run into the same folder replaces the earlier output, stale images included
    assert main(["--out", str(out), "--images", "1", "--seed", "1", "--wrong-rate", "1", "--missing-rate", "0"]) == 0
    assert [p.name for p in (out / "images").iterdir()] == ["000000.jpg"]
    _, rows = _csv(out / "labels.csv")
    _, clean = _csv(out / "labels_clean.csv")
    assert len(rows[0][1] - clean[0][1]) == 1


def test_bad_arguments_are_refused_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ds"
    assert main(["--out", str(out), "--images", "0", "--seed", "1"]) == 2
    assert main(["--out", str(out), "--images", "5", "--seed", "1", "--missing-rate", "1.5"]) == 2
    assert main(["--out", str(out), "--images", "5"]) == 2  # --seed is required
    assert "--images 0" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "mine.txt").write_text("not a synth output")
    with pytest.raises(SynthError, match="not empty"):
        generate(tmp_path, images=3, seed=1)
    assert not (tmp_path / "images").exists()
