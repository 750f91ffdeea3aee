"""Single edits: adding a relation, and the checks behind the admin forms.

Every edit takes the taxonomy lock and validates the *whole* resulting taxonomy before
anything is committed, so two edits made at the same moment cannot combine into a cycle
that neither made alone.
"""

from __future__ import annotations

from django.db import transaction

from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.selectors import TaxonomyState, taxonomy_state_get
from annotator.taxonomy.services.lock import taxonomy_lock
from annotator.taxonomy.validation import (
    SYMMETRIC_KINDS,
    Relation,
    TaxonomyError,
    relation_verb,
    taxonomy_problems,
    taxonomy_problems_new,
)


def _stored_as(relations: set[Relation], relation: Relation) -> Relation | None:
    """The stored form of a relation: itself, or its mirror for the symmetric kinds."""
    kind, src, dst = relation
    if relation in relations:
        return relation
    if kind in SYMMETRIC_KINDS and (kind, dst, src) in relations:
        return (kind, dst, src)
    return None


def relation_add(*, kind: str, src: Label | str, dst: Label | str, note: str = "") -> LabelRelation:
    """Add one relation after checking the whole taxonomy it would leave.

    Adding a relation that exists already (for excludes/overlaps, in either direction)
    returns the stored one. Raises ``TaxonomyError`` naming the labels otherwise.
    """
    if kind not in LabelRelation.Kind.values:
        raise TaxonomyError([f"{kind!r} is not a relation kind ({', '.join(LabelRelation.Kind.values)})"])
    with transaction.atomic():
        taxonomy_lock()
        src_label, dst_label = (_label_of(end) for end in (src, dst))
        state = taxonomy_state_get()
        triple = (kind, src_label.key, dst_label.key)
        stored = _stored_as(state.relations, triple)
        if stored is not None:
            return LabelRelation.objects.get(kind=kind, src__key=stored[1], dst__key=stored[2])
        _check_relations(state, state.relations, state.relations | {triple})
        return LabelRelation.objects.create(kind=kind, src=src_label, dst=dst_label, note=note)


def _label_of(end: Label | str) -> Label:
    if isinstance(end, Label):
        return end
    try:
        return Label.objects.get(key=end)
    except Label.DoesNotExist:
        raise TaxonomyError([f"unknown label {end!r}"]) from None


def _check_relations(state: TaxonomyState, before: set[Relation], after: set[Relation]) -> None:
    old = taxonomy_problems(parents=state.parents, relations=before)
    introduced = taxonomy_problems_new(old, taxonomy_problems(parents=state.parents, relations=after))
    if introduced:
        raise TaxonomyError([problem.message for problem in introduced])


def label_change_validate(*, label: Label) -> None:
    """Raise ``TaxonomyError`` when saving ``label`` (its key and parent as they are on the
    instance) would break a taxonomy rule. Called by ``Label.clean``, so by the admin."""
    taxonomy_lock()  # held until the admin's transaction commits the checked change
    state = taxonomy_state_get()
    old_key = state.key_by_id.get(label.pk) if label.pk else None
    if label.parent_id is not None and label.parent_id not in state.key_by_id:
        return  # the parent is gone; the foreign key check will refuse the save
    parents, relations = state.parents, set(state.relations)
    if old_key is not None and old_key != label.key:
        parents, relations = _renamed(parents, relations, old_key, label.key)
    proposed = dict(parents)
    proposed[label.key] = state.key_by_id[label.parent_id] if label.parent_id is not None else None
    old = taxonomy_problems(parents=parents, relations=relations) if label.key in parents else []
    introduced = taxonomy_problems_new(old, taxonomy_problems(parents=proposed, relations=relations))
    if introduced:
        raise TaxonomyError([problem.message for problem in introduced])


def _renamed(
    parents: dict[str, str | None], relations: set[Relation], old: str, new: str
) -> tuple[dict[str, str | None], set[Relation]]:
    def rename(key: str | None) -> str | None:
        return new if key == old else key

    return (
        {rename(key): rename(parent) for key, parent in parents.items()},  # type: ignore[misc]
        {(kind, rename(src), rename(dst)) for kind, src, dst in relations},  # type: ignore[misc]
    )


def relation_change_validate(*, relation: LabelRelation) -> None:
    """Raise ``TaxonomyError`` when saving ``relation`` as it is on the instance would break
    a taxonomy rule or repeat a stored relation. Called by ``LabelRelation.clean``."""
    taxonomy_lock()
    state = taxonomy_state_get()
    if relation.src_id not in state.key_by_id or relation.dst_id not in state.key_by_id:
        return  # a deleted label; the foreign key check will refuse the save
    before = set(state.relations)
    if relation.pk:
        old = LabelRelation.objects.filter(pk=relation.pk).values_list("kind", "src_id", "dst_id").first()
        if old is not None:
            before.discard((old[0], state.key_by_id[old[1]], state.key_by_id[old[2]]))
    triple = (relation.kind, state.key_by_id[relation.src_id], state.key_by_id[relation.dst_id])
    kind, src, dst = triple
    if src == dst:
        raise TaxonomyError([f"{src} cannot {relation_verb(kind)} itself"])
    stored = _stored_as(before, triple)
    if stored is not None and stored != triple:
        raise TaxonomyError([f"already recorded as {stored[1]} {kind} {stored[2]}"])
    if stored is not None:
        return  # the unique constraint reports the duplicate
    _check_relations(state, before, before | {triple})
