"""Snapshots: the manifest and taxonomy that training reads, written once, never changed."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from annotator.dataset.models import Image, ImageLabel, LabelState, Snapshot
from annotator.dataset.snapshots import SnapshotError, snapshot_create
from annotator.taxonomy.models import Label
from annotator.taxonomy.services import taxonomy_export, taxonomy_load
from tests.taxonomy.sample import sample_taxonomy
from training.data import load_taxonomy, read_manifest, taxonomy_label_keys
from training.relations import RelationIndex, apply

pytestmark = pytest.mark.django_db

# relative path → (positives, verified negatives)
IMAGES = {
    "a/fold.jpg": (["fold_eared_cat"], ["dog"]),
    "a/forest.jpg": (["forest"], ["indoor"]),
    "b/retired.jpg": (["retired"], []),  # inactive label: only its active ancestor shows
    "b/empty.jpg": ([], []),
    "b/conflict.jpg": (["cat"], ["animal", "ring"]),  # cat ⇒ animal contradicts "no animal"
}


@pytest.fixture
def dataset(db) -> dict[str, Image]:
    taxonomy_load(data=sample_taxonomy(), source="sample.json")
    labels = dict(Label.objects.values_list("key", "id"))
    images = {}
    for number, (path, (positives, negatives)) in enumerate(IMAGES.items()):
        image = Image.objects.create(
            content_hash=f"{number:064x}",
            storage_root="/data/photos",
            relative_path=path,
            size_bytes=1,
            width=1,
            height=1,
        )
        ImageLabel.objects.bulk_create(
            [ImageLabel(image=image, label_id=labels[k], state=LabelState.POSITIVE) for k in positives]
            + [ImageLabel(image=image, label_id=labels[k], state=LabelState.NEGATIVE) for k in negatives]
        )
        images[path] = image
    return images


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_manifest_lists_every_image_with_closure_labels_negatives_and_split(dataset, tmp_path):
    snapshot = snapshot_create(out_dir=tmp_path / "snap", note="first")
    lines = _lines(tmp_path / "snap")
    assert [line["image"] for line in lines] == list(IMAGES)
    assert all(list(line) == ["image", "labels", "split", "negatives"] for line in lines)
    assert all(line["split"] in ("train", "val") for line in lines)
    by_image = {line["image"]: line for line in lines}
    assert by_image["a/fold.jpg"]["labels"] == ["animal", "cat", "fold_eared_cat"]
    assert by_image["a/fold.jpg"]["negatives"] == ["dog"]
    assert by_image["a/forest.jpg"]["labels"] == ["forest", "outdoor", "plant", "scene", "tree"]
    assert by_image["a/forest.jpg"]["negatives"] == ["indoor"]
    assert by_image["b/retired.jpg"]["labels"] == ["object"]
    assert by_image["b/empty.jpg"] == {"image": "b/empty.jpg", "labels": [], "split": by_image["b/empty.jpg"]["split"],
                                       "negatives": []}  # fmt: skip
    assert by_image["b/conflict.jpg"]["labels"] == ["animal", "cat"]
    assert by_image["b/conflict.jpg"]["negatives"] == ["ring"]
    assert snapshot.note == "first"


def test_images_without_a_split_are_assigned_one_first_and_keep_it(dataset, tmp_path):
    assert Image.objects.filter(split="").count() == len(IMAGES)
    snapshot_create(out_dir=tmp_path / "snap")
    splits = dict(Image.objects.values_list("relative_path", "split"))
    assert "" not in splits.values()
    assert {line["image"]: line["split"] for line in _lines(tmp_path / "snap")} == splits
    snapshot_create(out_dir=tmp_path / "again")
    assert dict(Image.objects.values_list("relative_path", "split")) == splits


def test_the_row_records_counts_and_the_hash_of_both_files(dataset, tmp_path):
    snapshot = snapshot_create(out_dir=tmp_path / "snap")
    folder = tmp_path / "snap"
    lines = _lines(folder)
    assert snapshot.path == str(folder.resolve())
    assert snapshot.image_count == 5
    assert snapshot.positive_count == sum(len(line["labels"]) for line in lines) == 3 + 5 + 1 + 0 + 2
    assert snapshot.negative_count == sum(len(line["negatives"]) for line in lines) == 3
    assert snapshot.label_count == Label.objects.filter(is_active=True).count() == 15
    assert snapshot.train_count + snapshot.val_count == 5
    assert snapshot.val_count == sum(1 for line in lines if line["split"] == "val")
    manifest = hashlib.sha256((folder / "manifest.jsonl").read_bytes()).hexdigest()
    taxonomy = hashlib.sha256((folder / "taxonomy.json").read_bytes()).hexdigest()
    expected = hashlib.sha256(f"{manifest}  manifest.jsonl\n{taxonomy}  taxonomy.json\n".encode()).hexdigest()
    assert snapshot.content_hash == expected
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    assert meta["snapshot_id"] == snapshot.id and meta["content_hash"] == expected
    assert meta["files"] == {"manifest.jsonl": manifest, "taxonomy.json": taxonomy}
    assert meta["images_root"] == "/data/photos"
    assert meta["counts"]["conflicts"] == 1
    assert json.loads((folder / "taxonomy.json").read_text(encoding="utf-8")) == taxonomy_export()


def test_the_files_are_read_only_and_nothing_else_is_left_behind(dataset, tmp_path):
    snapshot_create(out_dir=tmp_path / "snap")
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["manifest.jsonl", "meta.json", "taxonomy.json"]
    for path in (tmp_path / "snap").iterdir():
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert [p.name for p in tmp_path.iterdir()] == ["snap"]  # no temporary folder


def test_a_second_export_to_the_same_folder_is_refused(dataset, tmp_path):
    snapshot_create(out_dir=tmp_path / "snap")
    manifest = (tmp_path / "snap" / "manifest.jsonl").read_bytes()
    with pytest.raises(SnapshotError, match="is not empty"):
        snapshot_create(out_dir=tmp_path / "snap")
    with pytest.raises(CommandError, match="is not empty"):
        call_command("export_snapshot", "--out", str(tmp_path / "snap"), stdout=StringIO())
    assert (tmp_path / "snap" / "manifest.jsonl").read_bytes() == manifest
    assert Snapshot.objects.count() == 1


def test_an_existing_empty_folder_is_used(dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    snapshot_create(out_dir=tmp_path / "empty")
    assert (tmp_path / "empty" / "manifest.jsonl").exists()


def test_the_snapshot_row_cannot_be_modified(dataset, tmp_path):
    snapshot = snapshot_create(out_dir=tmp_path / "snap")
    snapshot.note = "rewritten"
    with pytest.raises(ValueError, match="never changes"):
        snapshot.save()
    assert Snapshot.objects.get().note == ""


def test_the_default_folder_is_a_new_one_below_the_snapshot_root(dataset, tmp_path, settings):
    settings.SNAPSHOT_ROOT = tmp_path / "snapshots"
    first, second = snapshot_create(), snapshot_create()
    assert Path(first.path).parent == Path(second.path).parent == (tmp_path / "snapshots").resolve()
    assert first.path != second.path
    assert len(_lines(Path(first.path))) == len(_lines(Path(second.path))) == 5


def test_images_under_several_roots_are_relative_to_their_common_folder(dataset, tmp_path):
    Image.objects.create(
        content_hash="f" * 64, storage_root="/data/crawl", relative_path="x.jpg", size_bytes=1, width=1, height=1
    )
    snapshot_create(out_dir=tmp_path / "snap")
    meta = json.loads((tmp_path / "snap" / "meta.json").read_text(encoding="utf-8"))
    assert meta["images_root"] == "/data"
    images = [line["image"] for line in _lines(tmp_path / "snap")]
    assert images[0] == os.path.join("photos", "a/fold.jpg") and images[-1] == "crawl/x.jpg"


def test_the_command_writes_a_snapshot(dataset, tmp_path):
    out = StringIO()
    call_command("export_snapshot", "--out", str(tmp_path / "cmd"), "--note", "nightly", stdout=out)
    snapshot = Snapshot.objects.get()
    assert f"snapshot {snapshot.id} written to {snapshot.path}: 5 images" in out.getvalue()
    assert snapshot.note == "nightly"


def test_training_reads_a_snapshot_whose_inactive_labels_have_children_and_relations(dataset, tmp_path):
    """taxonomy.json keeps inactive labels; training makes only the active ones columns and
    still follows relations through the inactive ones."""
    extra = {
        "labels": [
            {"key": "pet", "name_en": "Pet", "parent": "animal", "active": False},
            {"key": "kitten", "name_en": "Kitten", "parent": "pet"},
        ],
        "relations": [
            {"kind": "implies", "src": "pet", "dst": "indoor"},
            {"kind": "excludes", "src": "retired", "dst": "ring"},
        ],
    }
    taxonomy_load(data=extra, source="pets.json")
    kitten = Image.objects.create(
        content_hash="e" * 64,
        storage_root="/data/photos",
        relative_path="b/kitten.jpg",
        size_bytes=1,
        width=1,
        height=1,
    )
    ImageLabel.objects.create(image=kitten, label=Label.objects.get(key="kitten"), state=LabelState.POSITIVE)
    snapshot = snapshot_create(out_dir=tmp_path / "snap")

    taxonomy = load_taxonomy(tmp_path / "snap" / "taxonomy.json")
    inactive = {entry["key"] for entry in taxonomy["labels"] if not entry["active"]}
    assert inactive == {"pet", "retired"}  # the taxonomy as it was, inactive labels included
    keys = taxonomy_label_keys(taxonomy)
    assert not inactive & set(keys) and len(keys) == snapshot.label_count == 16
    manifest = read_manifest(tmp_path / "snap" / "manifest.jsonl", keys)
    assert _lines(tmp_path / "snap")[-1]["labels"] == ["animal", "indoor", "kitten", "scene"]
    assert {keys[c] for c in manifest.positives(len(manifest) - 1)} == {"animal", "indoor", "kitten", "scene"}

    index = RelationIndex.from_taxonomy(taxonomy, keys)
    scores = np.zeros((1, len(keys)))
    scores[0, keys.index("kitten")] = 0.9
    scores[0, keys.index("outdoor")] = 0.8
    _, keep = apply(scores, index, np.full(len(keys), 0.5))
    assert {keys[c] for c in np.flatnonzero(keep[0])} == {"animal", "indoor", "kitten", "scene"}
