"""Per-label 9:1 train/val split: within one image, stable forever, deterministic."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command

from annotator.dataset.models import Image, ImageLabel, LabelState
from annotator.dataset.splits import splits_assign
from annotator.taxonomy.models import Label
from annotator.taxonomy.selectors import taxonomy_graph_get

pytestmark = pytest.mark.django_db

CATEGORIES = 6
LEAVES_PER_CATEGORY = 4  # 6 categories + 24 leaves = 30 labels


def _labels() -> list[Label]:
    """Six categories of four leaves; only leaves are stored as positives, the split
    expands them to their category (as the snapshot does)."""
    roots = Label.objects.bulk_create(Label(key=f"cat{c}", name_en=f"Category {c}") for c in range(CATEGORIES))
    leaves = Label.objects.bulk_create(
        Label(key=f"leaf{i:02d}", name_en=f"Leaf {i}", parent=roots[i % CATEGORIES])
        for i in range(CATEGORIES * LEAVES_PER_CATEGORY)
    )
    return leaves


def _images(leaves: list[Label], count: int, *, rng: np.random.Generator, start: int = 0) -> list[Image]:
    """``count`` images with about four labels each (leaves and their categories), long-tailed."""
    images = Image.objects.bulk_create(
        Image(
            content_hash=f"{start + i:064x}",
            storage_root="/data",
            relative_path=f"img/{start + i}.jpg",
            size_bytes=1000,
            width=64,
            height=64,
        )
        for i in range(count)
    )
    weights = 1.0 / np.arange(1, len(leaves) + 1) ** 1.2
    weights /= weights.sum()
    rows = []
    for image in images:
        size = min(len(leaves), int(rng.poisson(1.5)) + 1)
        for index in rng.choice(len(leaves), size=size, replace=False, p=weights):
            rows.append(ImageLabel(image=image, label=leaves[index], state=LabelState.POSITIVE))
        if rng.random() < 0.2:  # verified negatives do not count as members
            rows.append(ImageLabel(image=image, label=leaves[-1], state=LabelState.NEGATIVE))
    ImageLabel.objects.bulk_create(rows, ignore_conflicts=True)
    return images


def _deviations() -> dict[str, tuple[int, int]]:
    """Per label, counted independently of the splitter: (images, val − round(0.1·images))."""
    graph = taxonomy_graph_get()
    keys = dict(Label.objects.values_list("id", "key"))
    members: dict[int, set[int]] = {}
    for image_id, label_id in ImageLabel.objects.filter(state=LabelState.POSITIVE).values_list("image_id", "label_id"):
        for label in graph.expand([label_id]):
            members.setdefault(label, set()).add(image_id)
    splits = dict(Image.objects.values_list("id", "split"))
    out = {}
    for label, images in members.items():
        val = sum(1 for image in images if splits[image] == Image.Split.VAL)
        out[keys[label]] = (len(images), val - int(np.floor(0.1 * len(images) + 0.5)))
    return out


def _assert_within_one_image() -> None:
    off = {key: dev for key, (n, dev) in _deviations().items() if n >= 10 and abs(dev) > 1}
    assert off == {}


@pytest.fixture
def dataset() -> list[Label]:
    leaves = _labels()
    _images(leaves, 3000, rng=np.random.default_rng(7))
    return leaves


def test_every_label_with_ten_images_is_split_9_to_1_within_one_image(dataset):
    report = splits_assign(seed=0)
    assert not Image.objects.filter(split="").exists()
    _assert_within_one_image()
    assert report.worst_deviation <= 1
    assert report.assigned_train + report.assigned_val == 3000
    assert 270 <= report.total_val <= 330
    counted = _deviations()
    assert {row.key: (row.images, row.deviation) for row in report.labels} == counted
    assert len(counted) == 30 and min(n for n, _ in counted.values()) >= 10


def test_a_split_never_changes_and_new_images_keep_every_label_near_9_to_1(dataset):
    splits_assign(seed=0)
    before = dict(Image.objects.values_list("id", "split"))
    _images(dataset, 300, rng=np.random.default_rng(8), start=3000)
    report = splits_assign(seed=1)
    after = dict(Image.objects.values_list("id", "split"))
    assert {image: after[image] for image in before} == before
    assert report.assigned_train + report.assigned_val == 300
    assert "" not in after.values()
    _assert_within_one_image()


def test_a_second_run_with_nothing_new_changes_nothing(dataset):
    splits_assign(seed=0)
    before = dict(Image.objects.values_list("id", "split"))
    report = splits_assign(seed=5)
    assert report.assigned_train + report.assigned_val == 0
    assert dict(Image.objects.values_list("id", "split")) == before


def test_the_same_seed_gives_the_same_split(dataset):
    splits_assign(seed=3)
    first = dict(Image.objects.values_list("id", "split"))
    Image.objects.update(split="")  # only a test may do this: a split is never reset
    splits_assign(seed=3)
    assert dict(Image.objects.values_list("id", "split")) == first
    Image.objects.update(split="")
    splits_assign(seed=4)
    assert dict(Image.objects.values_list("id", "split")) != first


def test_images_without_labels_get_a_split_too(db):
    _images(_labels(), 0, rng=np.random.default_rng(0))
    Image.objects.bulk_create(
        Image(content_hash=f"{i:064x}", storage_root="/d", relative_path=f"{i}.jpg", size_bytes=1, width=1, height=1)
        for i in range(50)
    )
    report = splits_assign()
    assert (report.total_train, report.total_val) == (45, 5)


def test_the_command_prints_per_label_counts_and_the_worst_deviation(dataset):
    out = StringIO()
    call_command("assign_splits", "--seed", "2", stdout=out)
    text = out.getvalue()
    assert "leaf00" in text and "cat0" in text
    assert "assigned now:" in text
    assert "worst deviation among labels with ≥ 10 images:" in text
    worst = int(text.split("images: ")[-1].split(" image")[0])
    assert worst <= 1
