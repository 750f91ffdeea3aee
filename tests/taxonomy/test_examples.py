"""Guideline examples travel with the taxonomy file: exported, loaded back, checked."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from annotator.dataset.models import Image
from annotator.taxonomy.models import GuidelineExample, Label
from annotator.taxonomy.services import taxonomy_export, taxonomy_load
from annotator.taxonomy.validation import TaxonomyError
from tests.taxonomy.sample import sample_taxonomy

pytestmark = pytest.mark.django_db

CAT_HASH = "c" * 64
UNKNOWN_HASH = "f" * 64


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    (settings.MEDIA_ROOT / "guidelines").mkdir(parents=True)
    (settings.MEDIA_ROOT / "guidelines" / "lion.png").write_bytes(b"not really a png")
    return settings.MEDIA_ROOT


@pytest.fixture
def examples(taxonomy, media) -> list[GuidelineExample]:
    """Three examples on cat: a dataset image, an upload, and a caption-only negative."""
    image = Image.objects.create(
        content_hash=CAT_HASH, storage_root="/data/photos", relative_path="a/cat.jpg", size_bytes=1, width=1, height=1
    )
    cat = Label.objects.get(key="cat")
    return [
        GuidelineExample.objects.create(label=cat, kind="positive", image=image, caption="a tabby"),
        GuidelineExample.objects.create(label=cat, kind="negative", upload="guidelines/lion.png", caption="a lion"),
        GuidelineExample.objects.create(label=cat, kind="positive", caption="a cat in a box"),
    ]


def _stored() -> list[tuple[str, str, str, str | None, str]]:
    return [
        (
            example.label.key,
            example.kind,
            example.caption,
            example.image.content_hash if example.image else None,
            example.upload.name,
        )
        for example in GuidelineExample.objects.select_related("label", "image").order_by("label__key", "kind", "id")
    ]


def _entry(data: dict, key: str) -> dict:
    return next(entry for entry in data["labels"] if entry["key"] == key)


def test_the_export_lists_each_labels_examples(examples):
    exported = taxonomy_export()
    assert _entry(exported, "cat")["examples"] == [
        {"kind": "negative", "caption": "a lion", "image": None, "upload": "guidelines/lion.png"},
        {"kind": "positive", "caption": "a tabby", "image": CAT_HASH, "upload": None},
        {"kind": "positive", "caption": "a cat in a box", "image": None, "upload": None},
    ]
    assert _entry(exported, "dog")["examples"] == []


def test_loading_the_export_restores_the_examples(examples):
    exported = taxonomy_export()
    before = _stored()
    GuidelineExample.objects.all().delete()
    result = taxonomy_load(data=exported, source="export.json")
    assert result.examples_replaced == 1 and result.changed
    assert _stored() == before
    assert taxonomy_export() == exported


def test_the_commands_round_trip_the_examples(examples, tmp_path):
    call_command("export_taxonomy", "--out", str(tmp_path / "t.json"), stderr=StringIO())
    before = _stored()
    GuidelineExample.objects.all().delete()
    out = StringIO()
    call_command("load_taxonomy", str(tmp_path / "t.json"), stdout=out, stderr=StringIO())
    assert "guideline examples replaced on 1 labels" in out.getvalue()
    assert _stored() == before


def test_loading_the_same_examples_again_changes_nothing(examples):
    ids = list(GuidelineExample.objects.order_by("id").values_list("id", flat=True))
    result = taxonomy_load(data=taxonomy_export(), source="export.json")
    assert not result.changed and result.examples_replaced == 0
    assert list(GuidelineExample.objects.order_by("id").values_list("id", flat=True)) == ids


def test_examples_in_the_file_replace_the_labels_examples_and_an_absent_field_keeps_them(examples):
    data = {
        "labels": [
            {"key": "cat", "name_en": "Cat", "examples": [{"kind": "positive", "caption": "new", "image": CAT_HASH}]},
            {"key": "dog", "name_en": "Dog"},  # no "examples": dog's stay as they are
        ]
    }
    dog = Label.objects.get(key="dog")
    GuidelineExample.objects.create(label=dog, kind="positive", caption="a puppy")
    taxonomy_load(data=data, source="v2.json")
    assert _stored() == [("cat", "positive", "new", CAT_HASH, ""), ("dog", "positive", "a puppy", None, "")]
    taxonomy_load(data={"labels": [{"key": "dog", "name_en": "Dog", "examples": []}]}, source="v3.json")
    assert not GuidelineExample.objects.filter(label=dog).exists()


def test_a_new_label_may_come_with_examples(taxonomy, media):
    data = {
        "labels": [
            {
                "key": "lion",
                "name_en": "Lion",
                "parent": "animal",
                "examples": [{"kind": "positive", "upload": "guidelines/lion.png"}],
            }
        ]
    }
    taxonomy_load(data=data, source="lion.json")
    assert _stored() == [("lion", "positive", "", None, "guidelines/lion.png")]


def test_an_unknown_image_hash_is_refused_naming_the_entry_and_nothing_changes(examples):
    data = sample_taxonomy()
    data["labels"][1]["name_en"] = "House cat"
    data["labels"][1]["examples"] = [
        {"kind": "positive", "caption": "ok", "image": CAT_HASH, "upload": None},
        {"kind": "negative", "caption": "gone", "image": UNKNOWN_HASH, "upload": None},
    ]
    before = (_stored(), taxonomy_export())
    with pytest.raises(TaxonomyError) as error:
        taxonomy_load(data=data, source="bad.json")
    assert str(error.value) == (
        f"bad.json: labels[1] (cat) examples[1] field 'image': no dataset image has content hash {UNKNOWN_HASH!r}"
    )
    assert (_stored(), taxonomy_export()) == before


def test_an_upload_missing_from_the_media_folder_is_refused(examples):
    data = {
        "labels": [{"key": "dog", "name_en": "Dog", "examples": [{"kind": "positive", "upload": "guidelines/x.png"}]}]
    }
    with pytest.raises(
        TaxonomyError, match=r"labels\[0\] \(dog\) examples\[0\] field 'upload': no file 'guidelines/x.png'"
    ):
        taxonomy_load(data=data, source="bad.json")


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ({"kind": "positive"}, "labels[0] (dog) field 'examples': expected a list, got an object"),
        ([{"kind": "maybe"}], "labels[0] (dog) examples[0] field 'kind': 'maybe' is not one of positive, negative"),
        ([{"caption": "x"}], "labels[0] (dog) examples[0] field 'kind': missing"),
        ([{"kind": "positive", "imgae": None}], "labels[0] (dog) examples[0] field 'imgae': unknown"),
        ([{"kind": "positive", "image": "a/cat.jpg"}], "examples[0] field 'image': expected the content hash"),
        (
            [{"kind": "positive", "upload": "../settings.py"}],
            "examples[0] field 'upload': '../settings.py' points outside",
        ),
        (
            [{"kind": "positive", "upload": "/etc/passwd"}],
            "examples[0] field 'upload': '/etc/passwd' is not a plain path",
        ),
        ([{"kind": "positive", "upload": "a/../../x"}], "examples[0] field 'upload': 'a/../../x' is not a plain path"),
        (["cat.jpg"], "labels[0] (dog) examples[0]: expected an object, got a string"),
        ([{"kind": "positive", "upload": "."}], "examples[0] field 'upload': '.' is not a plain path"),
    ],
    ids=[
        "not-a-list",
        "kind",
        "no-kind",
        "unknown-field",
        "path-as-hash",
        "dotdot",
        "absolute",
        "inner-dotdot",
        "string",
        "dot",
    ],
)
def test_badly_shaped_examples_are_refused(taxonomy, field, expected):
    with pytest.raises(TaxonomyError) as error:
        taxonomy_load(data={"labels": [{"key": "dog", "name_en": "Dog", "examples": field}]}, source="bad.json")
    assert expected in str(error.value)
