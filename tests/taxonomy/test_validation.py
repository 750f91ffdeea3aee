"""Every broken rule is refused with a message naming the entry, and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.services import relation_add, taxonomy_export, taxonomy_load
from annotator.taxonomy.validation import TaxonomyError
from tests.taxonomy.sample import sample_taxonomy

pytestmark = pytest.mark.django_db

BIRD = {"key": "bird", "name_en": "Bird", "name_zh": "鸟", "parent": "animal"}


def _relation(kind: str, src: str, dst: str) -> Callable[[dict], None]:
    return lambda data: data["relations"].append({"kind": kind, "src": src, "dst": dst})


def _set(index: int, field: str, value: object) -> Callable[[dict], None]:
    return lambda data: data["labels"][index].__setitem__(field, value)


def _drop(index: int, field: str) -> Callable[[dict], None]:
    return lambda data: data["labels"][index].pop(field)


CASES = {
    "cycle in the parent tree": (
        _set(0, "parent", "fold_eared_cat"),
        [
            "cycle in the parent tree: animal's parent is fold_eared_cat, fold_eared_cat's parent is cat, "
            "cat's parent is animal",
            "labels[0] (animal)",
        ],
    ),
    "own parent": (_set(3, "parent", "dog"), ["cycle in the parent tree: dog's parent is dog", "labels[3] (dog)"]),
    "cycle in implies": (
        _relation("implies", "tree", "forest"),
        ["cycle in implies: forest implies tree, tree implies forest", "relations[4] (tree implies forest)"],
    ),
    "cycle through parent and implies": (
        _relation("implies", "animal", "fold_eared_cat"),
        ["cycle through parents and implies", "animal implies fold_eared_cat", "relations[4]"],
    ),
    "implies and excludes the same pair": (
        _relation("excludes", "tree", "forest"),
        ["forest both implies and excludes tree", "relations[2] (forest implies tree)", "relations[4]"],
    ),
    "excluded pair under one closure": (
        _relation("implies", "forest", "indoor"),
        ["indoor and outdoor exclude each other, but a positive forest makes both positive", "labels[13] (forest)"],
    ),
    "excluding an ancestor": (
        _relation("excludes", "fold_eared_cat", "animal"),
        ["animal and fold_eared_cat exclude each other", "relations[4]"],
    ),
    "overlaps and excludes the same pair": (
        _relation("excludes", "cartoon", "drawing"),
        ["cartoon and drawing both overlap and exclude each other"],
    ),
    "self relation": (_relation("excludes", "cat", "cat"), ["relations[4]: 'cat' cannot exclude itself"]),
    "unknown parent": (
        _set(2, "parent", "felid"),
        ["labels[2] (fold_eared_cat) field 'parent': unknown label 'felid'"],
    ),
    "unknown relation end": (
        _relation("implies", "forest", "moss"),
        ["relations[4] field 'dst': unknown label 'moss'"],
    ),
    "missing field": (_drop(3, "name_en"), ["labels[3] (dog) field 'name_en': missing"]),
    "missing key": (_drop(5, "key"), ["labels[5] field 'key': missing"]),
    "wrong type": (_set(9, "small_object", "yes"), ["labels[9] (ring) field 'small_object': expected true or false"]),
    "bad key": (_set(9, "key", "gold ring"), ["labels[9] (gold ring) field 'key': 'gold ring' is not a valid key"]),
    "duplicate key": (
        lambda data: data["labels"].append(dict(data["labels"][1])),
        ["labels[16] (cat) field 'key': 'cat' appears twice (first at labels[1])"],
    ),
    "unknown field": (_set(1, "parnet", "animal"), ["labels[1] (cat) field 'parnet': unknown"]),
    "unknown kind": (_relation("contains", "animal", "cat"), ["relations[4] field 'kind': 'contains' is not one of"]),
}


def _state() -> tuple[int, int, dict]:
    return Label.objects.count(), LabelRelation.objects.count(), taxonomy_export()


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_file_is_refused_naming_the_entry_and_changes_nothing(taxonomy, case):
    edit, expected = CASES[case]
    data = sample_taxonomy()
    edit(data)
    data["labels"].append(dict(BIRD))  # a valid new label that must not be written either
    before = _state()
    with pytest.raises(TaxonomyError) as error:
        taxonomy_load(data=data, source="broken.json")
    message = str(error.value)
    assert message.startswith("broken.json: ")
    for part in expected:
        assert part in message
    assert _state() == before
    assert not Label.objects.filter(key="bird").exists()


def test_a_broken_first_load_leaves_an_empty_database(db):
    data = sample_taxonomy()
    data["relations"].append({"kind": "implies", "src": "tree", "dst": "forest"})
    with pytest.raises(TaxonomyError):
        taxonomy_load(data=data, source="first.json")
    assert Label.objects.count() == 0 and LabelRelation.objects.count() == 0


def test_every_problem_of_a_file_is_listed(taxonomy):
    data = sample_taxonomy()
    data["labels"][3].pop("name_en")
    data["labels"][4]["active"] = "no"
    with pytest.raises(TaxonomyError) as error:
        taxonomy_load(data=data, source="two.json")
    assert error.value.problems == [
        "labels[3] (dog) field 'name_en': missing",
        "labels[4] (art) field 'active': expected true or false, got a string",
    ]
    assert str(error.value).startswith("two.json: 2 problems:")


def test_the_top_level_must_hold_labels(db):
    with pytest.raises(TaxonomyError, match=r"x.json: field 'labels': missing"):
        taxonomy_load(data={"relations": []}, source="x.json")


def test_relation_add_refuses_a_contradiction_naming_the_labels(taxonomy):
    with pytest.raises(TaxonomyError, match="animal and cat exclude each other, but a positive cat makes both"):
        relation_add(kind="excludes", src="cat", dst="animal")
    with pytest.raises(TaxonomyError, match="cycle in implies: forest implies tree, tree implies forest"):
        relation_add(kind="implies", src="tree", dst="forest")
    assert LabelRelation.objects.count() == 4


def test_relation_add_adds_and_repeating_it_returns_the_stored_one(taxonomy):
    added = relation_add(kind="overlaps", src="cat", dst="dog", note="cat-like dogs")
    assert LabelRelation.objects.count() == 5
    assert relation_add(kind="overlaps", src="dog", dst="cat") == added
    assert relation_add(kind="excludes", src="outdoor", dst="indoor").src.key == "indoor"
    assert LabelRelation.objects.count() == 5
