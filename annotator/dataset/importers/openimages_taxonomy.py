"""Open Images classes, hierarchy and mapping: MIDs -> project labels.

- class descriptions: ``LabelName,DisplayName`` with a header (V6/V7) or without (V4/V5);
- hierarchy JSON: nested ``LabelName`` / ``Subcategory`` / ``Part``. The root
  ``/m/0bl9f`` "Entity" is not a label: its children become roots. ``Part`` entries
  (a wheel is part of a car, not a kind of car) are not children: they are ignored for
  the tree, though a part's own ``Subcategory`` children are its children. Nodes whose
  MID is not in the class descriptions are skipped (their children attach to the
  nearest known ancestor). A class listed under several parents gets the first as its
  tree parent; each other parent becomes an ``implies`` relation (unless the closure
  already contains it), so no positive loses an ancestor. The labels and relations an
  import would create are checked against the whole taxonomy with the rules of a
  taxonomy file load (``taxonomy_problems``), under the taxonomy lock: a cycle with the
  existing tree, or a pair an ``excludes`` rule forbids, fails the import naming the classes.
- mapping CSV ``MID,key`` (optional header): MIDs onto an existing taxonomy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotator.dataset.importing.errors import ImportFailed
from annotator.dataset.importing.textfiles import csv_rows, json_read
from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.models import ExternalLabelMapping, Label, LabelRelation
from annotator.taxonomy.selectors import TaxonomyState, taxonomy_state_get
from annotator.taxonomy.services import taxonomy_lock
from annotator.taxonomy.validation import Relation, taxonomy_problems, taxonomy_problems_new

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
    *, mids: Iterable[str], classes: dict[str, str], parents: dict[str, list[str]], hierarchy: Path | None = None
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Project labels for the MIDs met (and their ancestors), created where missing.

    A MID already mapped (ExternalLabelMapping, source ``openimages``) keeps its labels.
    Otherwise the label with the MID's key is used, or created under the label of the
    MID's first parent. Existing labels are never changed; ``implies`` relations are
    added wherever the closure of a label lacks one of its MID's parents.

    Holds the taxonomy lock until the import commits, and checks the whole taxonomy the
    new labels and relations would leave with the rules a taxonomy file load obeys: a
    problem they would introduce (a cycle, an excluded pair made both positive …) raises
    ImportFailed naming the classes, and nothing is written.
    Returns (MID -> label ids, counts labels_created / relations_created / mappings_created).
    """
    taxonomy_lock()
    state = taxonomy_state_get()
    plan = _plan(_with_ancestors(mids, parents), classes, parents, state)
    if plan.new_labels or plan.new_relations:
        _plan_check(plan, state, classes, parents, hierarchy)
    id_by_key = {key: label_id for label_id, key in state.key_by_id.items()}
    for key, parent_key, mid in plan.new_labels:  # ancestors first: a parent is created before its child
        label = Label.objects.create(
            key=key, name_en=classes[mid][:200], parent_id=id_by_key[parent_key] if parent_key is not None else None
        )
        id_by_key[key] = label.pk
    mapping = {mid: [id_by_key[key] for key in keys] for mid, keys in plan.keys.items()}
    new_mappings = {mid: mapping[mid] for mid in plan.unmapped}
    mappings_created = mappings_record(new_mappings, classes)
    LabelRelation.objects.bulk_create(
        LabelRelation(kind=kind, src_id=id_by_key[src], dst_id=id_by_key[dst], note="openimages hierarchy")
        for kind, src, dst in plan.new_relations
    )
    return mapping, {
        "labels_created": len(plan.new_labels),
        "relations_created": len(plan.new_relations),
        "mappings_created": mappings_created,
    }


@dataclass
class _Plan:
    """What ``labels_for_classes`` would write, by label key (nothing is written yet)."""

    keys: dict[str, list[str]]  # MID -> label keys
    unmapped: list[str]  # MIDs that get a new ExternalLabelMapping
    new_labels: list[tuple[str, str | None, str]]  # (key, parent key, MID), ancestors first
    new_relations: list[Relation]  # ("implies", src key, dst key)
    parents: dict[str, str | None]  # the taxonomy's parents by key, new labels included


def _plan(needed: list[str], classes: dict[str, str], parents: dict[str, list[str]], state: TaxonomyState) -> _Plan:
    id_by_key = {key: label_id for label_id, key in state.key_by_id.items()}
    keys: dict[str, list[str]] = {}
    for mid, label_id in ExternalLabelMapping.objects.filter(source=SOURCE, external_id__in=needed).values_list(
        "external_id", "label_id"
    ):
        keys.setdefault(mid, []).append(state.key_by_id[label_id])
    mapped_keys = {
        state.key_by_id[label_id]
        for label_id in ExternalLabelMapping.objects.filter(source=SOURCE).values_list("label_id", flat=True).distinct()
    }
    tree = dict(state.parents)
    new_labels: list[tuple[str, str | None, str]] = []
    unmapped: list[str] = []
    for mid in needed:
        if mid in keys:
            continue
        key = label_key_for(classes[mid]) or label_key_for(mid)
        if key in tree and key in mapped_keys:
            key = f"{key}_{label_key_for(mid)}"[:100]  # the name is taken by another MID
        if key not in tree:
            tree_parents = [keys[p][0] for p in parents.get(mid, []) if keys.get(p)]
            tree[key] = tree_parents[0] if tree_parents else None
            new_labels.append((key, tree[key], mid))
        keys[mid] = [key]
        mapped_keys.add(key)
        unmapped.append(mid)

    # Label keys as graph ids: existing labels keep theirs, new ones get negative numbers.
    ids = dict(id_by_key)
    ids.update({key: -n for n, (key, _, _) in enumerate(new_labels, 1)})
    relations: list[tuple[str, int, int]] = [(kind, ids[src], ids[dst]) for kind, src, dst in state.relations]
    graph = TaxonomyGraph.build(((ids[k], ids[p] if p else None) for k, p in tree.items()), relations)
    new_relations: list[Relation] = []
    for mid in needed:
        for parent in parents.get(mid, []):
            for src in keys.get(mid, []):
                for dst in keys.get(parent, []):
                    if src == dst or ids[dst] in graph.closure(ids[src]):
                        continue
                    new_relations.append((LabelRelation.Kind.IMPLIES, src, dst))
                    relations.append((LabelRelation.Kind.IMPLIES, ids[src], ids[dst]))
                    graph = TaxonomyGraph.build(((ids[k], ids[p] if p else None) for k, p in tree.items()), relations)
    return _Plan(keys=keys, unmapped=unmapped, new_labels=new_labels, new_relations=new_relations, parents=tree)


def _plan_check(
    plan: _Plan, state: TaxonomyState, classes: dict[str, str], parents: dict[str, list[str]], hierarchy: Path | None
) -> None:
    """ImportFailed when the planned labels and relations add a problem to the taxonomy."""
    before = taxonomy_problems(parents=state.parents, relations=state.relations)
    after = taxonomy_problems(parents=plan.parents, relations=state.relations | set(plan.new_relations))
    introduced = taxonomy_problems_new(before, after)
    if not introduced:
        return
    mids_of: dict[str, list[str]] = {}
    for mid, keys in plan.keys.items():
        for key in keys:
            mids_of.setdefault(key, []).append(mid)
    messages = []
    for problem in introduced:
        involved = list(dict.fromkeys(mid for key in problem.labels for mid in mids_of.get(key, [])))
        if not involved:
            messages.append(problem.message)
            continue
        named = ", ".join(f"{classes[mid]} ({mid})" for mid in involved)
        placed = [
            f"{classes[mid]} under {' and '.join(classes[parent] for parent in parents[mid])}"
            for mid in involved
            if parents.get(mid)
        ]
        where = f"; the hierarchy puts {', '.join(placed)}" if placed else ""
        messages.append(f"{problem.message} — classes {named}{where}")
    raise ImportFailed(
        "the hierarchy would break a taxonomy rule: " + "; ".join(messages),
        file=hierarchy,
        field="Subcategory",
    )
