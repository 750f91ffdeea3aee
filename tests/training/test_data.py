"""Manifest and taxonomy reading, targets and masks, transforms, unreadable images.

Also home of the tiny synthetic dataset the other training tests use (:func:`make_tiny_dataset`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from training.config import TrainConfig, default_config
from training.data import (
    DataError,
    MultiLabelDataset,
    collate_skip_unreadable,
    eval_transform,
    inactive_label_keys,
    load_image,
    load_taxonomy,
    read_manifest,
    taxonomy_label_keys,
    train_transform,
)
from training.relations import RelationIndex, apply, closure_keys

COLORS = {"red": (230, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 230)}
TAXONOMY: dict[str, Any] = {
    "labels": [
        {"key": "color", "name_en": "Color", "name_zh": "颜色", "parent": None},
        {"key": "red", "name_en": "Red", "name_zh": "红", "parent": "color"},
        {"key": "green", "name_en": "Green", "name_zh": "绿", "parent": "color"},
        {"key": "blue", "name_en": "Blue", "name_zh": "蓝", "parent": "color"},
        {"key": "dark", "name_en": "Dark", "name_zh": "暗", "parent": None},
        {"key": "light", "name_en": "Light", "name_zh": "亮", "parent": None, "extra": "fields are fine"},
    ],
    "relations": [{"kind": "excludes", "src": "dark", "dst": "light"}],
}
KEYS = [label["key"] for label in TAXONOMY["labels"]]


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch single-threaded: with tiny models, intra-op threads only contend on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass
class TinyDataset:
    """Paths of a generated dataset: images under ``root``, ``manifest``, ``taxonomy``."""

    root: Path
    manifest: Path
    taxonomy: Path
    records: list[dict[str, Any]]


def make_tiny_dataset(root: Path, n: int = 48, *, size: int = 40, seed: int = 0, val_every: int = 4) -> TinyDataset:
    """Dark or light squares with red/green/blue patches; labels say which (every ``val_every``-th is val)."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    taxonomy = root / "taxonomy.json"
    taxonomy.write_text(json.dumps(TAXONOMY, ensure_ascii=False), encoding="utf-8")
    records = []
    for i in range(n):
        dark = bool(rng.random() < 0.5)
        pixels = np.full((size, size, 3), 30 if dark else 220, np.uint8)
        labels = ["dark" if dark else "light"]
        for name, rgb in COLORS.items():
            if rng.random() < 0.4:
                labels.append(name)
                y, x = rng.integers(0, size - size // 2, 2)
                pixels[y : y + size // 2, x : x + size // 2] = rgb
        if any(name in labels for name in COLORS):
            labels.append("color")
        Image.fromarray(pixels).save(root / "images" / f"{i:04d}.jpg", quality=95)
        records.append(
            {"image": f"images/{i:04d}.jpg", "labels": labels, "split": "val" if i % val_every == 0 else "train"}
        )
    manifest = root / "manifest.jsonl"
    write_manifest(manifest, records)
    return TinyDataset(root, manifest, taxonomy, records)


def write_manifest(path: Path, records: list[dict[str, Any]]) -> None:
    """Write records as JSON Lines."""
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def tiny_config(**changes: Any) -> TrainConfig:
    """A configuration that trains the tiny CNN on the CPU in about a second per epoch."""
    settings: dict[str, Any] = {
        "backbone": "tiny_cnn",
        "image_size": 32,
        "batch_size": 8,
        "epochs": 2,
        "num_workers": 0,
        "lr": 0.05,
        "device": "cpu",
        "progress_every": 1,
        "warmup_epochs": 0.5,
        "crop_scale_min": 0.5,
    }
    settings.update(changes)
    return default_config(**settings)


def test_targets_follow_taxonomy_order(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path, n=8)
    keys = taxonomy_label_keys(load_taxonomy(data.taxonomy))
    assert keys == KEYS
    manifest = read_manifest(data.manifest, keys)
    dense = manifest.targets(len(keys))
    for i, record in enumerate(data.records):
        assert manifest.image(i) == record["image"]
        assert {keys[j] for j in np.flatnonzero(dense[i])} == set(record["labels"])
    dataset = MultiLabelDataset(manifest, data.root, len(keys), eval_transform(tiny_config()))
    item = dataset[3]
    assert item is not None
    assert torch.equal(item["target"], torch.from_numpy(dense[3]).float())
    assert torch.equal(item["mask"], torch.ones(len(keys)))


def test_subset_keeps_each_record(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path, n=12)
    manifest = read_manifest(data.manifest, KEYS)
    val = manifest.subset(manifest.indices_of("val"))
    assert len(val) == 3
    for row, original in enumerate(manifest.indices_of("val")):
        assert val.image(row) == manifest.image(int(original))
        assert val.positives(row).tolist() == manifest.positives(int(original)).tolist()
    assert len(manifest.subset(manifest.indices_of("train"))) == 9


def test_unknown_label_names_the_manifest_line(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path, n=4)
    records = [dict(r) for r in data.records]
    records[2]["labels"] = ["red", "kitten"]
    write_manifest(data.manifest, records)
    with pytest.raises(DataError, match=r"line 3: labels 'kitten' not in the taxonomy"):
        read_manifest(data.manifest, KEYS)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"labels": []}', "line 1: missing 'image'"),
        ('{"image": "a.jpg", "labels": [], "split": "test"}', "line 1: split 'test' is not one of train, val"),
        ('{"image": "a.jpg", "labels": ["red"], "negatives": ["red"], "split": "train"}', "listed both"),
        ('{"image": "a.jpg", "labels": "red", "split": "train"}', "must be a list"),
    ],
)
def test_bad_manifest_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_manifest(path, KEYS)


def test_prediction_manifest_needs_no_known_labels(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    write_manifest(path, [{"image": "a.jpg", "labels": ["whatever"], "split": "val"}])
    assert read_manifest(path, None).image(0) == "a.jpg"


def test_bad_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"labels": [{"key": "a"}, {"key": "a"}]}), encoding="utf-8")
    with pytest.raises(DataError, match="'a' appears twice"):
        load_taxonomy(path)


def test_inactive_labels_are_not_columns_but_still_count_in_relations(tmp_path: Path) -> None:
    # pet is inactive between animal and kitten; it implies indoor, and indoor excludes outdoor.
    def label(key: str, parent: str | None, active: bool = True) -> dict[str, Any]:
        return {"key": key, "name_en": key, "name_zh": "", "parent": parent, "active": active}

    taxonomy = {
        "labels": [
            label("animal", None),
            label("pet", "animal", active=False),
            label("kitten", "pet"),
            label("indoor", None),
            label("outdoor", None),
            label("old_scene", None, active=False),
        ],
        "relations": [
            {"kind": "implies", "src": "pet", "dst": "indoor"},
            {"kind": "excludes", "src": "indoor", "dst": "outdoor"},
            {"kind": "implies", "src": "old_scene", "dst": "outdoor"},
            {"kind": "overlaps", "src": "old_scene", "dst": "pet"},
        ],
    }
    path = tmp_path / "t.json"
    path.write_text(json.dumps(taxonomy), encoding="utf-8")
    keys = taxonomy_label_keys(load_taxonomy(path))
    assert keys == ["animal", "kitten", "indoor", "outdoor"]

    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [{"image": "a.jpg", "labels": ["animal", "indoor", "kitten"], "split": "train"}])
    assert read_manifest(manifest, keys).targets(len(keys)).tolist() == [[1, 1, 1, 0]]
    write_manifest(manifest, [{"image": "a.jpg", "labels": ["pet"], "split": "train"}])
    with pytest.raises(DataError, match="'pet' not in the taxonomy"):
        read_manifest(manifest, keys)

    index = RelationIndex.from_taxonomy(taxonomy, keys)
    assert closure_keys(index, "kitten") == ["animal", "pet", "indoor"]
    assert index.closure[keys.index("kitten")].tolist() == [True, False, True, False]
    assert index.conflicts[keys.index("kitten"), keys.index("outdoor")]
    _, keep = apply(np.array([[0.1, 0.9, 0.2, 0.8]]), index, np.full(len(keys), 0.5))
    assert keep.tolist() == [[True, True, True, False]]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([{"key": "a", "active": "no"}], "label 'a' field 'active' must be true or false"),
        ([{"key": "a", "active": False}], "every label is inactive"),
    ],
)
def test_bad_active_flags(tmp_path: Path, labels: list[dict[str, Any]], message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"labels": labels}), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_taxonomy(path)


def test_unknown_as_ignore_masks_unverified_labels(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path, n=2)
    write_manifest(data.manifest, [{**data.records[0], "labels": ["red"], "negatives": ["blue", "dark"]}])
    manifest = read_manifest(data.manifest, KEYS)
    dataset = MultiLabelDataset(manifest, data.root, len(KEYS), eval_transform(tiny_config()), unknown_as="ignore")
    item = dataset[0]
    assert item is not None
    assert item["target"].tolist() == [0, 1, 0, 0, 0, 0]
    assert item["mask"].tolist() == [0, 1, 0, 1, 1, 0]


def test_transforms_give_the_configured_size(tmp_path: Path) -> None:
    config = tiny_config(image_size=24)
    image = Image.new("RGB", (50, 30), (200, 10, 10))
    assert train_transform(config)(image).shape == (3, 24, 24)
    out = eval_transform(config)(image)
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32


def test_unreadable_images_are_skipped_and_counted(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path, n=8)
    (data.root / "images" / "0001.jpg").write_bytes(b"this is not a jpeg")
    (data.root / "images" / "0005.jpg").unlink()
    truncated = (data.root / "images" / "0006.jpg").read_bytes()
    (data.root / "images" / "0006.jpg").write_bytes(truncated[: len(truncated) // 3])
    manifest = read_manifest(data.manifest, KEYS)
    dataset = MultiLabelDataset(manifest, data.root, len(KEYS), eval_transform(tiny_config()))
    loader = DataLoader(dataset, batch_size=4, collate_fn=collate_skip_unreadable)
    batches = list(loader)
    assert sum(b["skipped"] for b in batches) == 3
    seen = torch.cat([b["index"] for b in batches]).tolist()
    assert seen == [0, 2, 3, 4, 7]


def test_all_unreadable_batch_is_empty() -> None:
    batch = collate_skip_unreadable([None, None])
    assert batch["skipped"] == 2 and batch["index"].numel() == 0


def test_exif_orientation_and_draft_decoding(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90° clockwise to view
    Image.new("RGB", (400, 200), (200, 30, 30)).save(tmp_path / "sideways.jpg", exif=exif)
    assert load_image(tmp_path / "sideways.jpg").size == (200, 400)
    drafted = load_image(tmp_path / "sideways.jpg", draft_size=90)  # JPEG decodes at 1/2 scale: 200x100
    assert drafted.size == (100, 200) and drafted.mode == "RGB"


def test_inactive_labels_in_a_manifest_are_skipped_not_refused(tmp_path: Path) -> None:
    taxonomy = {
        "labels": [
            {"key": "animal", "name_en": "Animal", "name_zh": "动物", "parent": None},
            {"key": "cat", "name_en": "Cat", "name_zh": "猫", "parent": "animal"},
            {"key": "retired", "name_en": "Retired", "name_zh": "停用", "parent": None, "active": False},
        ],
        "relations": [],
    }
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        '{"image": "a.jpg", "labels": ["cat", "retired"], "split": "train"}\n'
        '{"image": "b.jpg", "labels": ["ghost"], "split": "val"}\n',
        encoding="utf-8",
    )
    keys = taxonomy_label_keys(taxonomy)
    with pytest.raises(DataError, match="'ghost' not in the taxonomy"):
        read_manifest(manifest, keys, ignored=inactive_label_keys(taxonomy))
    manifest.write_text('{"image": "a.jpg", "labels": ["cat", "retired"], "split": "train"}\n', encoding="utf-8")
    records = read_manifest(manifest, keys, ignored=inactive_label_keys(taxonomy))
    assert [keys[int(c)] for c in records.positives(0)] == ["cat"]
