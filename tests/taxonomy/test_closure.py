"""The closure of a label: its ancestors and everything it implies, transitively."""

from __future__ import annotations

import pytest

from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.selectors import label_ids_by_key, taxonomy_graph_get

pytestmark = pytest.mark.django_db


def _closure_keys(key: str) -> set[str]:
    ids = label_ids_by_key()
    keys = {label_id: k for k, label_id in ids.items()}
    return {keys[i] for i in taxonomy_graph_get().closure(ids[key])}


def test_closure_of_fold_eared_cat_holds_cat_and_animal(taxonomy):
    assert _closure_keys("fold_eared_cat") == {"cat", "animal"}


def test_closure_of_forest_holds_tree_and_trees_ancestors(taxonomy):
    closure = _closure_keys("forest")
    assert {"tree", "plant"} <= closure
    assert closure == {"scene", "tree", "plant", "outdoor"}


def test_a_root_with_no_relation_has_an_empty_closure(taxonomy):
    assert _closure_keys("animal") == set()


def test_overlaps_and_excludes_do_not_spread_positives(taxonomy):
    assert _closure_keys("drawing") == {"art"}
    assert _closure_keys("indoor") == {"scene"}


def test_expand_adds_every_closure_and_keeps_the_labels():
    graph = TaxonomyGraph.build([(1, None), (2, 1), (3, None), (4, 3), (5, None)], [("implies", 2, 4)])
    assert graph.expand([2]) == {1, 2, 3, 4}
    assert graph.expand([5]) == {5}


def test_closure_survives_a_cycle_written_behind_the_validation():
    graph = TaxonomyGraph.build([(1, 2), (2, 1)], [("implies", 1, 3), ("implies", 3, 1)])
    assert graph.closure(1) == frozenset({2, 3})
