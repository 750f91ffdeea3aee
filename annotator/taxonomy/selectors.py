"""Reads on the taxonomy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404

from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import GuidelineExample, Label, LabelRelation
from annotator.taxonomy.validation import Relation

# The picker asks while the user types; a few dozen matches is all it can show.
LABEL_SEARCH_LIMIT = 50


def taxonomy_graph_get() -> TaxonomyGraph:
    """The current label tree and relations as one in-memory graph (two queries)."""
    parents = Label.objects.values_list("id", "parent_id")
    relations = LabelRelation.objects.values_list("kind", "src_id", "dst_id")
    return TaxonomyGraph.build(parents, relations)


def label_ids_by_key() -> dict[str, int]:
    return dict(Label.objects.values_list("key", "id"))


@dataclass
class TaxonomyState:
    """The whole taxonomy by key, as the validation rules see it (two queries)."""

    parents: dict[str, str | None]
    relations: set[Relation]
    key_by_id: dict[int, str]


def taxonomy_state_get() -> TaxonomyState:
    rows = list(Label.objects.values_list("id", "key", "parent_id"))
    key_by_id = {label_id: key for label_id, key, _ in rows}
    parents = {key: key_by_id.get(parent_id) if parent_id else None for _, key, parent_id in rows}
    relations = {
        (kind, key_by_id[src], key_by_id[dst])
        for kind, src, dst in LabelRelation.objects.values_list("kind", "src_id", "dst_id")
    }
    return TaxonomyState(parents=parents, relations=relations, key_by_id=key_by_id)


def label_search(*, q: str = "", limit: int | None = LABEL_SEARCH_LIMIT) -> QuerySet[Label]:
    """Labels whose key, English or Chinese name contains ``q`` (case-insensitive).

    Exact key matches come first, then prefix matches, then the rest, each by key.
    An empty ``q`` lists every label (``limit`` still applies when given).
    """
    labels = Label.objects.select_related("parent")
    q = q.strip()
    if q:
        labels = labels.filter(Q(key__icontains=q) | Q(name_en__icontains=q) | Q(name_zh__icontains=q)).annotate(
            rank=Case(
                When(key__iexact=q, then=Value(0)),
                When(Q(key__istartswith=q) | Q(name_en__istartswith=q) | Q(name_zh__startswith=q), then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        labels = labels.order_by("rank", "key")
    else:
        labels = labels.order_by("key")
    return labels[:limit] if limit is not None else labels


@dataclass
class RelationView:
    """A relation as seen from one label: its symbol and the label at the other end."""

    kind: str
    symbol: str
    other: Label
    outgoing: bool


@dataclass
class TreeRow:
    """One line of the taxonomy tree page."""

    label: Label
    depth: int
    ancestor_keys: list[str]
    relations: list[RelationView] = field(default_factory=list)
    child_count: int = 0


RELATION_SYMBOLS = {"implies": "→", "excludes": "⊘", "overlaps": "≈"}


def _tree_order(labels: dict[int, Label]) -> list[tuple[Label, int, list[str], int]]:
    """(label, depth, ancestor keys, child count) in tree order: roots by key, each followed by its subtree.

    Labels caught in a parent cycle (only possible by writing behind the validation's
    back) come last, at depth 0, so nothing is ever hidden or lost.
    """
    children: dict[int | None, list[Label]] = {}
    for label in labels.values():
        children.setdefault(label.parent_id if label.parent_id in labels else None, []).append(label)
    for siblings in children.values():
        siblings.sort(key=lambda item: item.key)
    ordered: list[tuple[Label, int, list[str], int]] = []
    placed: set[int] = set()
    stack: list[tuple[Label, int, list[str]]] = [(label, 0, []) for label in reversed(children.get(None, []))]
    while stack:
        label, depth, ancestors = stack.pop()
        if label.id in placed:
            continue
        placed.add(label.id)
        kids = children.get(label.id, [])
        ordered.append((label, depth, ancestors, len(kids)))
        stack.extend((kid, depth + 1, [*ancestors, label.key]) for kid in reversed(kids))
    for label in sorted(labels.values(), key=lambda item: item.key):
        if label.id not in placed:
            ordered.append((label, 0, [], len(children.get(label.id, []))))
    return ordered


def taxonomy_tree_rows() -> list[TreeRow]:
    """Every label in tree order (categories first, children indented below, by key), two queries."""
    labels = {label.id: label for label in Label.objects.all()}
    relations: dict[int, list[RelationView]] = {}
    for kind, src_id, dst_id in LabelRelation.objects.values_list("kind", "src_id", "dst_id").order_by("kind", "id"):
        symbol = RELATION_SYMBOLS.get(kind, kind)
        relations.setdefault(src_id, []).append(RelationView(kind, symbol, labels[dst_id], True))
        if kind != "implies":  # excludes and overlaps read the same from both ends
            relations.setdefault(dst_id, []).append(RelationView(kind, symbol, labels[src_id], False))
    return [
        TreeRow(label, depth, ancestors, relations.get(label.id, []), child_count)
        for label, depth, ancestors, child_count in _tree_order(labels)
    ]


@dataclass
class LabelDetail:
    """Everything the label page shows, gathered in a fixed number of queries."""

    label: Label
    ancestors: list[Label]
    children: list[Label]
    closure: list[Label]
    relations: list[RelationView]
    examples: list[GuidelineExample]


def label_detail_get(*, key: str) -> LabelDetail:
    """The label with this key (404 when none) and its neighbourhood. Readable by every role."""
    label = get_object_or_404(Label.objects.select_related("parent"), key=key)
    graph = taxonomy_graph_get()
    closure_ids = graph.closure(label.id)
    ancestor_ids = graph.ancestors(label.id)
    relation_rows = list(
        LabelRelation.objects.filter(Q(src=label) | Q(dst=label)).values_list("kind", "src_id", "dst_id")
    )
    wanted = set(closure_ids) | set(ancestor_ids) | {i for _, s, d in relation_rows for i in (s, d)}
    others = Label.objects.in_bulk(wanted | {c for c, p in graph.parent.items() if p == label.id})
    relations = []
    for kind, src_id, dst_id in sorted(relation_rows, key=lambda row: (row[0], row[1], row[2])):
        outgoing = src_id == label.id
        if not outgoing and kind == "implies":
            continue  # "x implies this label" belongs to x's page
        other = others[dst_id if outgoing else src_id]
        relations.append(RelationView(kind, RELATION_SYMBOLS.get(kind, kind), other, outgoing))
    children = sorted((lab for lab in others.values() if lab.parent_id == label.id), key=lambda item: item.key)
    examples = list(label.examples.select_related("image").order_by("kind", "id"))
    return LabelDetail(
        label=label,
        ancestors=[others[i] for i in reversed(ancestor_ids) if i in others],
        children=children,
        closure=sorted((others[i] for i in closure_ids if i in others), key=lambda item: item.key),
        relations=relations,
        examples=examples,
    )


# (kind, caption, content hash of the dataset image or None, upload path or None)
ExampleRow = tuple[str, str, str | None, str | None]


def taxonomy_export_rows() -> tuple[list[Label], list[tuple[str, str, str, str]], dict[int, list[ExampleRow]]]:
    """Labels in tree order (parents before children), relations as (kind, src, dst, note) keys
    and each label's guideline examples by label id (three queries)."""
    ordered = [label for label, _, _, _ in _tree_order({label.id: label for label in Label.objects.all()})]
    key_by_id = {label.id: label.key for label in ordered}
    relations = sorted(
        (kind, key_by_id[src], key_by_id[dst], note)
        for kind, src, dst, note in LabelRelation.objects.values_list("kind", "src_id", "dst_id", "note")
    )
    return ordered, relations, guideline_example_rows()


def guideline_example_rows(*, label_ids: Iterable[int] | None = None) -> dict[int, list[ExampleRow]]:
    """Guideline examples by label id, in the label page's order (kind, then id); one query."""
    examples = GuidelineExample.objects.order_by("label_id", "kind", "id")
    if label_ids is not None:
        examples = examples.filter(label_id__in=list(label_ids))
    rows: dict[int, list[ExampleRow]] = {}
    for label_id, kind, caption, content_hash, upload in examples.values_list(
        "label_id", "kind", "caption", "image__content_hash", "upload"
    ):
        rows.setdefault(label_id, []).append((kind, caption, content_hash, upload or None))
    return rows
