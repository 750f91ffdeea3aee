"""Loading a taxonomy file into the database, and exporting the taxonomy in that format.

A load takes the taxonomy lock and validates the file's shape and the *whole* resulting
taxonomy before anything is written: all or nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotator.taxonomy.models import Label, LabelRelation
from annotator.taxonomy.selectors import TaxonomyState, taxonomy_export_rows, taxonomy_state_get
from annotator.taxonomy.services.edits import _stored_as
from annotator.taxonomy.services.guidelines import _examples_resolve, _examples_write
from annotator.taxonomy.services.lock import taxonomy_lock
from annotator.taxonomy.validation import (
    SYMMETRIC_KINDS,
    Relation,
    TaxonomyData,
    TaxonomyError,
    TaxonomyProblem,
    taxonomy_data_parse,
    taxonomy_problems,
    taxonomy_problems_new,
)

# The name the log records carried before services.py became a package.
logger = logging.getLogger("annotator.taxonomy.services")


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
