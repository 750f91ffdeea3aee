"""Loading a taxonomy file and exporting it again."""

from __future__ import annotations

import pytest

from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.services import taxonomy_export, taxonomy_load
from tests.taxonomy.sample import sample_taxonomy

pytestmark = pytest.mark.django_db


def test_export_after_load_equals_the_input():
    data = sample_taxonomy()
    result = taxonomy_load(data=data, source="sample.json")
    assert (result.labels_created, result.relations_created) == (16, 4)
    assert taxonomy_export() == data


def test_export_lists_parents_before_children_and_keeps_the_fixed_fields(taxonomy):
    exported = taxonomy_export()
    seen: set[str] = set()
    for entry in exported["labels"]:
        assert {"key", "name_en", "name_zh", "parent"} <= set(entry)
        assert entry["parent"] is None or entry["parent"] in seen
        seen.add(entry["key"])
    assert all({"kind", "src", "dst"} <= set(relation) for relation in exported["relations"])


def test_loading_the_same_file_twice_changes_nothing(taxonomy):
    before = list(Label.objects.order_by("id").values_list("id", "key", "parent_id", "updated_at"))
    relations = list(LabelRelation.objects.order_by("id").values_list("id", "kind", "src_id", "dst_id"))
    result = taxonomy_load(data=sample_taxonomy(), source="sample.json")
    assert not result.changed
    assert (result.labels_unchanged, result.relations_unchanged) == (16, 4)
    assert list(Label.objects.order_by("id").values_list("id", "key", "parent_id", "updated_at")) == before
    assert list(LabelRelation.objects.order_by("id").values_list("id", "kind", "src_id", "dst_id")) == relations


def test_labels_missing_from_the_file_are_left_alone(taxonomy):
    partial = {"labels": [{"key": "bird", "name_en": "Bird", "name_zh": "鸟", "parent": "animal"}]}
    result = taxonomy_load(data=partial, source="birds.json")
    assert result.labels_created == 1
    assert Label.objects.count() == 17
    assert LabelRelation.objects.count() == 4
    assert Label.objects.get(key="bird").parent.key == "animal"


def test_a_field_absent_from_an_entry_keeps_its_stored_value(taxonomy):
    taxonomy_load(data={"labels": [{"key": "cat", "name_en": "House cat"}]}, source="rename.json")
    cat = Label.objects.get(key="cat")
    assert cat.name_en == "House cat"
    assert cat.name_zh == "猫" and cat.parent.key == "animal" and "domestic" in cat.guideline


def test_changes_in_the_file_update_the_labels(taxonomy):
    data = sample_taxonomy()
    data["labels"][3]["parent"] = None  # dog becomes a category
    data["labels"][9]["small_object"] = False
    data["relations"][0]["note"] = "a photo is taken inside or outside"
    result = taxonomy_load(data=data, source="v2.json")
    assert (result.labels_updated, result.relations_updated) == (2, 1)
    assert Label.objects.get(key="dog").parent is None
    assert not Label.objects.get(key="ring").is_small_object
    assert taxonomy_export()["relations"][0]["note"] == "a photo is taken inside or outside"


def test_a_symmetric_relation_given_the_other_way_round_is_the_same_relation(taxonomy):
    data = {"labels": [], "relations": [{"kind": "excludes", "src": "outdoor", "dst": "indoor"}]}
    result = taxonomy_load(data=data, source="mirror.json")
    assert not result.changed
    assert LabelRelation.objects.filter(kind="excludes").count() == 1


def test_a_file_may_name_a_parent_defined_later_in_the_file(db):
    data = {
        "labels": [
            {"key": "kitten", "name_en": "Kitten", "parent": "pet"},
            {"key": "pet", "name_en": "Pet", "parent": None},
        ]
    }
    taxonomy_load(data=data, source="order.json")
    assert Label.objects.get(key="kitten").parent.key == "pet"
    assert [entry["key"] for entry in taxonomy_export()["labels"]] == ["pet", "kitten"]


def test_a_dry_run_reports_and_writes_nothing(db):
    result = taxonomy_load(data=sample_taxonomy(), source="sample.json", dry_run=True)
    assert result.labels_created == 16 and result.dry_run
    assert Label.objects.count() == 0
