"""Reads on the taxonomy."""

from __future__ import annotations

from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import Label, LabelRelation


def taxonomy_graph_get() -> TaxonomyGraph:
    """The current label tree and relations as one in-memory graph (two queries)."""
    parents = Label.objects.values_list("id", "parent_id")
    relations = LabelRelation.objects.values_list("kind", "src_id", "dst_id")
    return TaxonomyGraph.build(parents, relations)


def label_ids_by_key() -> dict[str, int]:
    return dict(Label.objects.values_list("key", "id"))
