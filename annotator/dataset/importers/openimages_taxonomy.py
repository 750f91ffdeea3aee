"""Open Images classes, hierarchy and mapping: MIDs -> project labels.

- class descriptions: ``LabelName,DisplayName`` with a header (V6/V7) or without (V4/V5);
- hierarchy JSON: nested ``LabelName`` / ``Subcategory`` / ``Part``. The root
  ``/m/0bl9f`` "Entity" is not a label: its children become roots. ``Part`` entries
  (a wheel is part of a car, not a kind of car) are not children: they are ignored for
  the tree, though a part's own ``Subcategory`` children are its children. Nodes whose
  MID is not in the class descriptions are skipped (their children attach to the
  nearest known ancestor). A class listed under several parents gets the first as its
  tree parent; each other parent becomes an ``implies`` relation (unless the closure
  already contains it), so no positive loses an ancestor.
- mapping CSV ``MID,key`` (optional header): MIDs onto an existing taxonomy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from annotator.dataset.importing.errors import ImportFailed
from annotator.dataset.importing.textfiles import csv_rows, json_read
from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import ExternalLabelMapping, Label, LabelRelation

SOURCE = "openimages"
ENTITY_MID = "/m/0bl9f"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def label_key_for(display_name: str) -> str:
    """``Sea turtle`` -> ``sea_turtle``: lower-cased, non-alphanumerics -> ``_``, collapsed, stripped."""
    return _NOT_SLUG.sub("_", display_name.lower()).strip("_")[:100]


def classes_read(file: Path) -> dict[str, str]:
    """MID -> display name, in file order; the header line is optional."""
    classes: dict[str, str] = {}
    first_row: dict[str, int] = {}
    for row_number, row in csv_rows(file, names=["LabelName", "DisplayName"]):
        if row_number == 1 and row and row[0].strip().lower() == "labelname":
            continue
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ImportFailed("expected LabelName,DisplayName", file=file, row=row_number, field="DisplayName")
        mid, name = row[0].strip(), row[1].strip()
        if not mid:
            raise ImportFailed("empty class id", file=file, row=row_number, field="LabelName")
        if mid in classes:
            raise ImportFailed(
                f'class "{mid}" appears twice (first on row {first_row[mid]})',
                file=file,
                row=row_number,
                field="LabelName",
            )
        classes[mid] = name or mid
        first_row[mid] = row_number
    if not classes:
        raise ImportFailed("no classes in the file", file=file)
    return classes


def hierarchy_read(file: Path, classes: dict[str, str]) -> dict[str, list[str]]:
    """MID -> its parent MIDs (first = tree parent), from the hierarchy JSON."""
    data = json_read(file)
    parents: dict[str, list[str]] = {}

    def walk(node: Any, parent: str | None, trail: list[str]) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("LabelName"), str):
            where = " > ".join(trail) or "the top"
            raise ImportFailed(f'an entry under {where} has no "LabelName"', file=file, field="LabelName")
        mid: str = node["LabelName"]
        known = mid in classes and mid != ENTITY_MID
        if known and parent is not None:
            listed = parents.setdefault(mid, [])
            if parent not in listed and parent != mid:
                listed.append(parent)
        elif known:
            parents.setdefault(mid, [])
        here = mid if known else parent
        for key, child_parent in (("Subcategory", here), ("Part", None)):
            children = node.get(key, [])
            if not isinstance(children, list):
                raise ImportFailed(f'"{key}" of {mid} is not a list', file=file, field=key)
            for child in children:
                walk(child, child_parent, [*trail, classes.get(mid, mid)])

    walk(data, None, [])
    return parents


def mapping_read(file: Path, classes: dict[str, str]) -> tuple[dict[str, list[int]], int]:
    """MID -> label ids from a ``MID,key`` CSV; returns it and the rows naming unknown MIDs.

    An unknown label key is an error; a MID not in the class descriptions is skipped
    (one mapping file may serve several class lists).
    """
    keys = dict(Label.objects.values_list("key", "id"))
    mapping: dict[str, list[int]] = {}
    unused = 0
    for row_number, row in csv_rows(file, names=["MID", "key"]):
        if row_number == 1 and row and row[0].strip().lower() in {"mid", "labelname", "external_id"}:
            continue
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ImportFailed("expected MID,key", file=file, row=row_number, field="key")
        mid, key = row[0].strip(), row[1].strip()
        if key not in keys:
            raise ImportFailed(f'unknown label "{key}"', file=file, row=row_number, field="key")
        if mid not in classes:
            unused += 1
            continue
        ids = mapping.setdefault(mid, [])
        if keys[key] not in ids:
            ids.append(keys[key])
    return mapping, unused


def mappings_record(mapping: dict[str, list[int]], classes: dict[str, str]) -> int:
    """Store MID -> label rows in ExternalLabelMapping (source ``openimages``); returns how many are new."""
    existing = set(
        ExternalLabelMapping.objects.filter(source=SOURCE, external_id__in=list(mapping)).values_list(
            "external_id", "label_id"
        )
    )
    new = [
        ExternalLabelMapping(source=SOURCE, external_id=mid, external_name=classes.get(mid, "")[:300], label_id=lid)
        for mid, ids in mapping.items()
        for lid in ids
        if (mid, lid) not in existing
    ]
    ExternalLabelMapping.objects.bulk_create(new)
    return len(new)


def _with_ancestors(mids: Iterable[str], parents: dict[str, list[str]]) -> list[str]:
    """The MIDs plus every ancestor MID, ancestors before descendants (creation order)."""
    ordered: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(mid: str) -> None:
        if state.get(mid) == 2:
            return
        if state.get(mid) == 1:  # a cycle in the file: the edge closing it is dropped
            return
        state[mid] = 1
        for parent in parents.get(mid, []):
            visit(parent)
        state[mid] = 2
        ordered.append(mid)

    for mid in sorted(mids):
        visit(mid)
    return ordered


def labels_for_classes(
    *, mids: Iterable[str], classes: dict[str, str], parents: dict[str, list[str]]
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Project labels for the MIDs met (and their ancestors), created where missing.

    A MID already mapped (ExternalLabelMapping, source ``openimages``) keeps its labels.
    Otherwise the label with the MID's key is used, or created under the label of the
    MID's first parent. Existing labels are never changed; ``implies`` relations are
    added wherever the closure of a label lacks one of its MID's parents.
    Returns (MID -> label ids, counts labels_created / relations_created / mappings_created).
    """
    needed = _with_ancestors(mids, parents)
    mapping: dict[str, list[int]] = {}
    for mid, label_id in ExternalLabelMapping.objects.filter(source=SOURCE, external_id__in=needed).values_list(
        "external_id", "label_id"
    ):
        mapping.setdefault(mid, []).append(label_id)
    mapped_label_ids = set(
        ExternalLabelMapping.objects.filter(source=SOURCE).values_list("label_id", flat=True).distinct()
    )
    labels: dict[str, tuple[int, int | None]] = {
        key: (lid, parent) for key, lid, parent in Label.objects.values_list("key", "id", "parent_id")
    }
    created = 0
    new_mappings: dict[str, list[int]] = {}
    for mid in needed:
        if mid in mapping:
            continue
        key = label_key_for(classes[mid]) or label_key_for(mid)
        if key in labels and labels[key][0] in mapped_label_ids:
            key = f"{key}_{label_key_for(mid)}"[:100]  # the name is taken by another MID
        if key not in labels:
            tree_parents = [mapping[p][0] for p in parents.get(mid, []) if mapping.get(p)]
            label = Label.objects.create(
                key=key, name_en=classes[mid][:200], parent_id=tree_parents[0] if tree_parents else None
            )
            labels[key] = (label.pk, label.parent_id)
            created += 1
        mapping[mid] = [labels[key][0]]
        mapped_label_ids.add(labels[key][0])
        new_mappings[mid] = mapping[mid]
    mappings_created = mappings_record(new_mappings, classes)
    relations_created = _implies_add(needed, mapping, parents)
    return mapping, {
        "labels_created": created,
        "relations_created": relations_created,
        "mappings_created": mappings_created,
    }


def _implies_add(mids: list[str], mapping: dict[str, list[int]], parents: dict[str, list[str]]) -> int:
    """Add ``implies`` child -> parent wherever the closure misses a hierarchy parent."""
    tree = list(Label.objects.values_list("id", "parent_id"))
    relations: list[tuple[str, int, int]] = list(LabelRelation.objects.values_list("kind", "src_id", "dst_id"))
    graph = TaxonomyGraph.build(tree, relations)
    added = 0
    for mid in mids:
        for parent in parents.get(mid, []):
            for src in mapping.get(mid, []):
                for dst in mapping.get(parent, []):
                    if src == dst or dst in graph.closure(src):
                        continue
                    LabelRelation.objects.create(
                        kind=LabelRelation.Kind.IMPLIES, src_id=src, dst_id=dst, note="openimages hierarchy"
                    )
                    relations.append((LabelRelation.Kind.IMPLIES, src, dst))
                    graph = TaxonomyGraph.build(tree, relations)
                    added += 1
    return added
