"""The *graph* a taxonomy would form, checked on plain data (label keys) before anything is written.

``taxonomy_problems`` finds: a cycle in the parent tree, in ``implies``, or in both
together; a self relation; a pair that both implies and excludes; a pair that both
overlaps and excludes; and a label whose closure (itself, its ancestors and everything
it implies) holds both ends of an ``excludes`` pair. Its messages name the labels
involved. The closure itself is computed by ``TaxonomyGraph`` (closure.py), as everywhere
else. Nothing here touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from annotator.taxonomy.closure import TaxonomyGraph
from annotator.taxonomy.validation.problems import Relation, TaxonomyProblem, relation_verb


def taxonomy_problems(*, parents: Mapping[str, str | None], relations: Iterable[Relation]) -> list[TaxonomyProblem]:
    """Every rule the taxonomy breaks, in a stable order; an empty list means it is sound.

    ``parents`` maps each label key to its parent key (None for a root); ``relations``
    holds (kind, src, dst) triples between keys present in ``parents``.
    """
    relations = sorted(set(relations))
    problems: list[TaxonomyProblem] = []
    for kind, src, dst in relations:
        if src == dst:
            problems.append(TaxonomyProblem(f"{src} cannot {relation_verb(kind)} itself", (src,), ((kind, src, dst),)))
    relations = [r for r in relations if r[1] != r[2]]

    cycles = _cycle_problems(parents, relations)
    problems.extend(cycles)

    excludes = _pairs(relations, "excludes")
    overlaps = _pairs(relations, "overlaps")
    implies = {(src, dst): (kind, src, dst) for kind, src, dst in relations if kind == "implies"}
    direct: set[tuple[str, str]] = set()
    for pair, relation in sorted(excludes.items()):
        a, b = pair
        for src, dst in ((a, b), (b, a)):
            if (src, dst) in implies:
                direct.add(pair)
                problems.append(
                    TaxonomyProblem(
                        f"{src} both implies and excludes {dst}", (src, dst), (implies[(src, dst)], relation)
                    )
                )
        if pair in overlaps:
            problems.append(
                TaxonomyProblem(f"{a} and {b} both overlap and exclude each other", (a, b), (relation, overlaps[pair]))
            )
    if not cycles:
        problems.extend(_closure_problems(parents, relations, excludes, skip=direct))
    return problems


def taxonomy_problems_new(before: Sequence[TaxonomyProblem], after: Sequence[TaxonomyProblem]) -> list[TaxonomyProblem]:
    """The problems a change introduces: rows written behind the validation's back (raw SQL)
    must not block every later edit, but no edit may add a problem."""
    known = {p.message for p in before}
    return [p for p in after if p.message not in known]


def _pairs(relations: Iterable[Relation], kind: str) -> dict[tuple[str, str], Relation]:
    out: dict[tuple[str, str], Relation] = {}
    for relation in relations:
        if relation[0] == kind:
            out.setdefault(tuple(sorted(relation[1:])), relation)  # type: ignore[arg-type]
    return out


def _cycle_problems(parents: Mapping[str, str | None], relations: Sequence[Relation]) -> list[TaxonomyProblem]:
    """One problem per strongly connected component of the parent + implies graph."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for child, parent in parents.items():
        if parent is not None:
            edges.setdefault(child, []).append((parent, "parent"))
    for kind, src, dst in relations:
        if kind == "implies":
            edges.setdefault(src, []).append((dst, "implies"))
    for targets in edges.values():
        targets.sort()
    problems = []
    for component in _strong_components(sorted(set(parents) | set(edges)), edges):
        start = min(component)
        cycle = _shortest_cycle(start, component, edges)
        if cycle is None:
            continue
        kinds = {kind for _, _, kind in cycle}
        steps = ", ".join(f"{a}'s parent is {b}" if kind == "parent" else f"{a} implies {b}" for a, b, kind in cycle)
        if kinds == {"parent"}:
            where = "cycle in the parent tree"
        elif kinds == {"implies"}:
            where = "cycle in implies"
        else:
            where = "cycle through parents and implies"
        labels = tuple(a for a, _, _ in cycle)
        rels = tuple(("implies", a, b) for a, b, kind in cycle if kind == "implies")
        problems.append(TaxonomyProblem(f"{where}: {steps}", labels, rels))
    return problems


def _strong_components(nodes: Sequence[str], edges: Mapping[str, list[tuple[str, str]]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep tree must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            recurse = False
            while position < len(targets):
                target = targets[position][0]
                position += 1
                if target not in index:
                    work.append((node, position))
                    work.append((target, 0))
                    recurse = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _shortest_cycle(
    start: str, component: Sequence[str], edges: Mapping[str, list[tuple[str, str]]]
) -> list[tuple[str, str, str]] | None:
    """The shortest path start → … → start inside one component, as (from, to, kind) steps."""
    members = set(component)
    previous: dict[str, tuple[str, str]] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        following = []
        for node in frontier:
            for target, kind in edges.get(node, []):
                if target not in members:
                    continue
                if target == start:
                    steps = [(node, start, kind)]
                    while node != start:
                        before, how = previous[node]
                        steps.append((before, node, how))
                        node = before
                    return steps[::-1]
                if target not in seen:
                    seen.add(target)
                    previous[target] = (node, kind)
                    following.append(target)
        frontier = following
    return None


def _closure_problems(
    parents: Mapping[str, str | None],
    relations: Sequence[Relation],
    excludes: Mapping[tuple[str, str], Relation],
    *,
    skip: set[tuple[str, str]],
) -> list[TaxonomyProblem]:
    """Excluded pairs that one positive label would make both positive.

    Reported once per pair, naming the most specific label that does it (the one with
    the smallest closure), so one bad rule does not echo through all its descendants.
    """
    keys = sorted(parents)
    ids = {key: number for number, key in enumerate(keys)}
    graph = TaxonomyGraph.build(
        ((ids[k], ids[p] if p is not None else None) for k, p in parents.items()),
        ((kind, ids[src], ids[dst]) for kind, src, dst in relations if src in ids and dst in ids),
    )
    culprit: dict[tuple[str, str], tuple[int, str, list[str]]] = {}
    for key in keys:
        closure = graph.closure(ids[key])
        members = {keys[i] for i in closure} | {key}
        for member in members:
            for other in graph.excludes.get(ids[member], ()):
                pair = tuple(sorted((member, keys[other])))
                if keys[other] not in members or pair in skip:
                    continue
                found = (len(closure), key, sorted(keys[i] for i in closure))
                if pair not in culprit or found[:2] < culprit[pair][:2]:
                    culprit[pair] = found  # type: ignore[index]
    problems = []
    for pair, (_, key, closure_keys) in sorted(culprit.items()):
        a, b = pair
        problems.append(
            TaxonomyProblem(
                f"{a} and {b} exclude each other, but a positive {key} makes both positive "
                f"(closure of {key}: {', '.join(closure_keys)})",
                (key, a, b),
                (excludes[pair],),  # type: ignore[index]
            )
        )
    return problems
