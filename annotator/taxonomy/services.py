"""Writes on the taxonomy: loading a taxonomy file, adding relations, checking admin edits.

Every write takes the taxonomy lock (a transaction-scoped PostgreSQL advisory lock) and
validates the *whole* resulting taxonomy before anything is committed, so two edits made
at the same moment cannot combine into a cycle that neither made alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import markdown
import nh3
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from annotator.dataset.models import Image
from annotator.taxonomy.models import GuidelineExample, Label, LabelRelation
from annotator.taxonomy.selectors import (
    TaxonomyState,
    guideline_example_rows,
    taxonomy_export_rows,
    taxonomy_state_get,
)
from annotator.taxonomy.validation import (
    SYMMETRIC_KINDS,
    ExampleEntry,
    Relation,
    TaxonomyData,
    TaxonomyError,
    TaxonomyProblem,
    relation_verb,
    taxonomy_data_parse,
    taxonomy_problems,
    taxonomy_problems_new,
)

logger = logging.getLogger(__name__)

# Any fixed number works; it only has to differ from the other advisory locks of the project.
TAXONOMY_LOCK_ID = 0x7A40_0001


def taxonomy_lock() -> None:
    """Serialise taxonomy writes until the current transaction ends (no-op outside one)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TAXONOMY_LOCK_ID])


# ---------------------------------------------------------------------------------------
# Loading and exporting the taxonomy file


@dataclass(frozen=True)
class TaxonomyLoadResult:
    """What a load did (or, for a dry run, would do)."""

    source: str
    labels_created: int = 0
    labels_updated: int = 0
    labels_unchanged: int = 0
    relations_created: int = 0
    relations_updated: int = 0
    relations_unchanged: int = 0
    examples_replaced: int = 0  # labels whose guideline examples were replaced
    dry_run: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(
            self.labels_created
            or self.labels_updated
            or self.relations_created
            or self.relations_updated
            or self.examples_replaced
        )


def taxonomy_load(*, data: dict[str, Any], source: str = "file", dry_run: bool = False) -> TaxonomyLoadResult:
    """Create or update labels (by key), their parents and relations from a taxonomy object.

    All or nothing: the file's shape and the whole resulting taxonomy are validated
    first; any problem raises ``TaxonomyError`` (naming ``source``, the entry and the
    field or the labels involved) and nothing is written. Loading the same file twice
    changes nothing the second time. What the file does not mention is left alone:
    labels missing from the file are kept, relations missing from the file are kept,
    and an optional field absent from an entry keeps its stored value. A label's
    ``examples``, when present, replace its guideline examples (unless they are the same);
    each ``image`` must be the content hash of a dataset image and each ``upload`` a file
    in the media storage.
    """
    parsed = taxonomy_data_parse(data, source=source)
    with transaction.atomic():
        taxonomy_lock()
        state = taxonomy_state_get()
        parents, relations, problems = _merge(state, parsed)
        image_ids, example_problems = _examples_resolve(parsed)
        problems += example_problems
        if problems:
            raise TaxonomyError(problems, source=source)
        before = taxonomy_problems(parents=state.parents, relations=state.relations)
        introduced = taxonomy_problems_new(before, taxonomy_problems(parents=parents, relations=relations))
        if introduced:
            raise TaxonomyError([_locate(problem, parsed) for problem in introduced], source=source)
        result = _write(parsed, source=source, dry_run=dry_run)
        result = replace(result, examples_replaced=_examples_write(parsed, image_ids))
        warnings = tuple(problem.message for problem in before)
        for warning in warnings:
            logger.warning("taxonomy already broken before loading %s: %s", source, warning)
        if dry_run:
            transaction.set_rollback(True)
    return replace(result, warnings=warnings)


def _merge(state: TaxonomyState, parsed: TaxonomyData) -> tuple[dict[str, str | None], set[Relation], list[str]]:
    """The parents and relations the load would leave, plus references to unknown labels."""
    parents = dict(state.parents)
    for entry in parsed.labels:
        if entry.has_parent or entry.key not in parents:
            parents[entry.key] = entry.parent
    problems = [
        f"labels[{entry.index}] ({entry.key}) field 'parent': unknown label {entry.parent!r} "
        "(neither in the file nor in the database)"
        for entry in parsed.labels
        if entry.parent is not None and entry.parent not in parents
    ]
    relations = set(state.relations)
    for relation in parsed.relations:
        unknown = [name for name in ("src", "dst") if getattr(relation, name) not in parents]
        for name in unknown:
            problems.append(
                f"relations[{relation.index}] field {name!r}: unknown label {getattr(relation, name)!r} "
                "(neither in the file nor in the database)"
            )
        if not unknown and _stored_as(relations, (relation.kind, relation.src, relation.dst)) is None:
            relations.add((relation.kind, relation.src, relation.dst))
    return parents, relations, problems


def _stored_as(relations: set[Relation], relation: Relation) -> Relation | None:
    """The stored form of a relation: itself, or its mirror for the symmetric kinds."""
    kind, src, dst = relation
    if relation in relations:
        return relation
    if kind in SYMMETRIC_KINDS and (kind, dst, src) in relations:
        return (kind, dst, src)
    return None


def _locate(problem: TaxonomyProblem, parsed: TaxonomyData) -> str:
    """The problem's message plus the file entries that take part in it."""
    where = [f"labels[{entry.index}] ({entry.key})" for entry in parsed.labels if entry.key in problem.labels]
    wanted = set(problem.relations) | {(k, d, s) for k, s, d in problem.relations if k in SYMMETRIC_KINDS}
    where += [
        f"relations[{entry.index}] ({entry.src} {entry.kind} {entry.dst})"
        for entry in parsed.relations
        if (entry.kind, entry.src, entry.dst) in wanted
    ]
    return f"{problem.message} — in the file: {', '.join(where)}" if where else problem.message


def _write(parsed: TaxonomyData, *, source: str, dry_run: bool) -> TaxonomyLoadResult:
    now = timezone.now()
    existing = {label.key: label for label in Label.objects.all()}
    created: list[Label] = []
    changed: dict[str, Label] = {}
    unchanged = 0
    for entry in parsed.labels:
        label = existing.get(entry.key)
        if label is None:
            created.append(
                Label(
                    key=entry.key,
                    name_en=entry.name_en,
                    name_zh=entry.name_zh or "",
                    guideline=entry.guideline or "",
                    is_small_object=bool(entry.small_object),
                    is_active=entry.active is not False,
                )
            )
            continue
        wanted = {
            "name_en": entry.name_en,
            "name_zh": entry.name_zh,
            "guideline": entry.guideline,
            "is_small_object": entry.small_object,
            "is_active": entry.active,
        }
        diff = {name: value for name, value in wanted.items() if value is not None and getattr(label, name) != value}
        for name, value in diff.items():
            setattr(label, name, value)
        if diff:
            changed[label.key] = label
        else:
            unchanged += 1
    Label.objects.bulk_create(created)
    fresh = {label.key: label for label in created}
    id_by_key = {label.key: label.id for label in (*existing.values(), *created)}
    key_by_id = {label_id: key for key, label_id in id_by_key.items()}

    for entry in parsed.labels:
        if not entry.has_parent:
            continue
        label = existing.get(entry.key) or fresh[entry.key]
        parent_id = id_by_key[entry.parent] if entry.parent is not None else None
        if label.parent_id != parent_id:
            label.parent_id = parent_id
            if entry.key not in fresh:
                if entry.key not in changed:
                    unchanged -= 1
                changed[entry.key] = label
    for label in changed.values():
        label.updated_at = now
    Label.objects.bulk_update(
        [*changed.values(), *(label for label in created if label.parent_id is not None)],
        ["name_en", "name_zh", "guideline", "is_small_object", "is_active", "parent", "updated_at"],
        batch_size=500,
    )

    stored_keys = {(r.kind, key_by_id[r.src_id], key_by_id[r.dst_id]): r for r in LabelRelation.objects.all()}
    new_relations: dict[Relation, LabelRelation] = {}
    updated_relations: dict[int, LabelRelation] = {}
    relations_unchanged = 0
    for relation in parsed.relations:
        triple = (relation.kind, relation.src, relation.dst)
        known = set(stored_keys) | set(new_relations)
        form = _stored_as(known, triple)
        if form is None:
            new_relations[triple] = LabelRelation(
                kind=relation.kind,
                src_id=id_by_key[relation.src],
                dst_id=id_by_key[relation.dst],
                note=relation.note or "",
            )
        elif form in stored_keys and relation.note is not None and stored_keys[form].note != relation.note:
            stored_keys[form].note = relation.note
            updated_relations[stored_keys[form].id] = stored_keys[form]
        else:
            relations_unchanged += 1
    LabelRelation.objects.bulk_create(new_relations.values())
    LabelRelation.objects.bulk_update(updated_relations.values(), ["note"])
    return TaxonomyLoadResult(
        source=source,
        labels_created=len(created),
        labels_updated=len(changed),
        labels_unchanged=unchanged,
        relations_created=len(new_relations),
        relations_updated=len(updated_relations),
        relations_unchanged=relations_unchanged,
        dry_run=dry_run,
    )


def _examples_resolve(parsed: TaxonomyData) -> tuple[dict[str, int], list[str]]:
    """Image ids by content hash for the file's examples, and the references that resolve to nothing."""
    entries = [(label, example) for label in parsed.labels for example in label.examples or ()]
    hashes = {example.image for _, example in entries if example.image is not None}
    image_ids = dict(Image.objects.filter(content_hash__in=hashes).values_list("content_hash", "id")) if hashes else {}
    problems = []
    for label, example in entries:
        where = f"labels[{label.index}] ({label.key}) examples[{example.index}]"
        if example.image is not None and example.image not in image_ids:
            problems.append(f"{where} field 'image': no dataset image has content hash {example.image!r}")
        if example.upload is not None and not default_storage.exists(example.upload):
            problems.append(f"{where} field 'upload': no file {example.upload!r} in the media folder (MEDIA_ROOT)")
    return image_ids, problems


def _examples_write(parsed: TaxonomyData, image_ids: dict[str, int]) -> int:
    """Replace the examples of each label whose entry lists ``examples`` different from the stored ones.

    Returns how many labels had theirs replaced. Examples are compared in the order the
    label page and the export use (kind, then position), so loading an export changes nothing.
    """

    def in_page_order(examples: tuple[ExampleEntry, ...]) -> list[ExampleEntry]:
        return sorted(examples, key=lambda example: example.kind)  # stable: keeps the file's order per kind

    wanted = {entry.key: in_page_order(entry.examples) for entry in parsed.labels if entry.examples is not None}
    if not wanted:
        return 0
    id_by_key = dict(Label.objects.filter(key__in=wanted).values_list("key", "id"))
    stored = guideline_example_rows(label_ids=id_by_key.values())
    changed = [
        key
        for key, examples in wanted.items()
        if [(e.kind, e.caption, e.image, e.upload) for e in examples] != stored.get(id_by_key[key], [])
    ]
    if not changed:
        return 0
    # Rows only: the uploaded files stay, the new rows may point at the same ones.
    GuidelineExample.objects.filter(label_id__in=[id_by_key[key] for key in changed]).delete()
    GuidelineExample.objects.bulk_create(
        GuidelineExample(
            label_id=id_by_key[key],
            kind=example.kind,
            caption=example.caption,
            image_id=image_ids[example.image] if example.image is not None else None,
            upload=example.upload or "",
        )
        for key in changed
        for example in wanted[key]
    )
    return len(changed)


def taxonomy_export() -> dict[str, list[dict[str, Any]]]:
    """The whole taxonomy in the file format of DESIGN.md, parents before children.

    ``key``, ``name_en``, ``name_zh``, ``parent`` (null for a root) and the relations'
    ``kind``, ``src``, ``dst`` are the fixed fields; ``small_object``, ``active``,
    ``guideline`` and ``examples`` (the guideline examples: ``kind``, ``caption``, ``image``
    as a dataset image's content hash or null, ``upload`` as a path relative to MEDIA_ROOT
    or null) follow, and ``note`` appears on a relation that has one.
    """
    labels, relations, examples = taxonomy_export_rows()
    key_by_id = {label.id: label.key for label in labels}
    return {
        "labels": [
            {
                "key": label.key,
                "name_en": label.name_en,
                "name_zh": label.name_zh,
                "parent": key_by_id.get(label.parent_id) if label.parent_id else None,
                "small_object": label.is_small_object,
                "active": label.is_active,
                "guideline": label.guideline,
                "examples": [
                    {"kind": kind, "caption": caption, "image": image, "upload": upload}
                    for kind, caption, image, upload in examples.get(label.id, [])
                ],
            }
            for label in labels
        ],
        "relations": [
            {"kind": kind, "src": src, "dst": dst, **({"note": note} if note else {})}
            for kind, src, dst, note in relations
        ],
    }


# ---------------------------------------------------------------------------------------
# Single edits: relations, and the checks behind the admin forms


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


# ---------------------------------------------------------------------------------------
# Guidelines

GUIDELINE_TAGS = {
    "a", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li",
    "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
GUIDELINE_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "td": {"align"}}
GUIDELINE_URL_SCHEMES = {"http", "https", "mailto"}


def label_guideline_html(label: Label) -> SafeString:
    """The label's markdown guideline as HTML that is safe to put into a page.

    Markdown may contain raw HTML; nh3 keeps only a small set of tags and attributes
    and drops scripts, event handlers and ``javascript:`` links.
    """
    html = markdown.markdown(label.guideline or "", extensions=["tables", "sane_lists"], output_format="html")
    cleaned = nh3.clean(
        html,
        tags=GUIDELINE_TAGS,
        attributes=GUIDELINE_ATTRIBUTES,
        url_schemes=GUIDELINE_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above
