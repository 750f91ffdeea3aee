"""Open Images imports obey the taxonomy rules: labels and relations they would create are
validated against the whole taxonomy, like a taxonomy file load; a breach fails the import."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from annotator.dataset.models import ImportJob
from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.selectors import taxonomy_state_get
from annotator.taxonomy.validation import taxonomy_problems
from tests.dataset.imports_support import CAT, TEDDY_BEAR, oi_import, oi_write, table_counts

pytestmark = pytest.mark.django_db


def problems() -> list[str]:
    state = taxonomy_state_get()
    return [problem.message for problem in taxonomy_problems(parents=state.parents, relations=state.relations)]


@pytest.mark.parametrize(
    ("excluded", "broken_rule"),
    [
        (("teddy_bear", "bear"), "teddy_bear both implies and excludes bear"),
        (("toy", "bear"), "bear and toy exclude each other, but a positive teddy_bear makes both positive"),
    ],
)
def test_a_hierarchy_parent_that_an_excludes_rule_forbids_fails_the_import(tmp_path, excluded, broken_rule):
    # Teddy bear sits under Toy and under Bear in the real hierarchy: the import would make
    # toy its parent and add "teddy_bear implies bear", which the existing rule forbids.
    src, dst = (Label.objects.create(key=key, name_en=key.replace("_", " ").capitalize()) for key in excluded)
    LabelRelation.objects.create(kind="excludes", src=src, dst=dst)
    oi_write(tmp_path, [f"00000000000000d4,verification,{TEDDY_BEAR},1"])
    before = table_counts()

    with pytest.raises(CommandError) as failure:
        oi_import(tmp_path)

    message = str(failure.value)
    assert 'bbox_labels_600_hierarchy.json, field "Subcategory"' in message
    assert broken_rule in message
    assert f"Teddy bear ({TEDDY_BEAR})" in message and "Bear (/m/01dws)" in message
    assert table_counts() == before  # all or nothing: no label, relation, mapping or image
    assert not LabelRelation.objects.filter(kind="implies").exists()
    assert problems() == []
    assert ImportJob.objects.get().status == ImportJob.Status.FAILED


def test_a_hierarchy_that_closes_a_cycle_with_the_existing_tree_fails_the_import(tmp_path):
    # Here "animal" is a child of "cat"; the hierarchy puts Cat under Carnivore < Mammal <
    # Animal, so "cat implies carnivore" would close a cycle through the existing tree.
    cat = Label.objects.create(key="cat", name_en="Cat")
    Label.objects.create(key="animal", name_en="Animal", parent=cat)
    oi_write(tmp_path, [f"00000000000000a1,verification,{CAT},1"])
    before = table_counts()

    with pytest.raises(CommandError) as failure:
        oi_import(tmp_path)

    message = str(failure.value)
    assert 'bbox_labels_600_hierarchy.json, field "Subcategory"' in message
    assert "cycle through parents and implies" in message
    assert f"Cat ({CAT})" in message
    assert table_counts() == before
    assert set(Label.objects.values_list("key", flat=True)) == {"cat", "animal"}
    assert problems() == []


def test_a_sound_hierarchy_still_creates_labels_and_relations(tmp_path):
    # An unrelated excludes rule does not stand in the way.
    kettle = Label.objects.create(key="kettle", name_en="Kettle")
    bear = Label.objects.create(key="bear", name_en="Bear")
    LabelRelation.objects.create(kind="excludes", src=kettle, dst=bear)
    oi_write(tmp_path, [f"00000000000000d4,verification,{TEDDY_BEAR},1"])

    oi_import(tmp_path)

    assert LabelRelation.objects.filter(kind="implies", src__key="teddy_bear", dst__key="bear").exists()
    assert problems() == []
