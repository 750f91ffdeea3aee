"""The closure of a label: its ancestors plus every label it implies, transitively.

This is the one place where the closure is computed. Everything that expands a
positive (imports, decisions, snapshots) goes through ``TaxonomyGraph``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class TaxonomyGraph:
    """An in-memory view of the label tree and its relations, keyed by label id."""

    parent: dict[int, int | None]
    implies: dict[int, set[int]] = field(default_factory=dict)
    excludes: dict[int, set[int]] = field(default_factory=dict)
    overlaps: dict[int, set[int]] = field(default_factory=dict)
    _closure_cache: dict[int, frozenset[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        parents: Iterable[tuple[int, int | None]],
        relations: Iterable[tuple[str, int, int]],
    ) -> TaxonomyGraph:
        graph = cls(parent=dict(parents))
        for kind, src, dst in relations:
            if kind == "implies":
                graph.implies.setdefault(src, set()).add(dst)
            elif kind == "excludes":
                graph.excludes.setdefault(src, set()).add(dst)
                graph.excludes.setdefault(dst, set()).add(src)
            elif kind == "overlaps":
                graph.overlaps.setdefault(src, set()).add(dst)
                graph.overlaps.setdefault(dst, set()).add(src)
            else:
                raise ValueError(f"unknown relation kind {kind!r}")
        return graph

    def ancestors(self, label_id: int) -> list[int]:
        """Parent, grandparent, … up to the root (cycle-safe)."""
        out: list[int] = []
        seen = {label_id}
        current = self.parent.get(label_id)
        while current is not None and current not in seen:
            out.append(current)
            seen.add(current)
            current = self.parent.get(current)
        return out

    def closure(self, label_id: int) -> frozenset[int]:
        """Every label a positive ``label_id`` makes positive, itself excluded.

        Ancestors and implied labels, applied until nothing new appears: the
        implied label's ancestors and implications are in the closure too.
        """
        cached = self._closure_cache.get(label_id)
        if cached is not None:
            return cached
        found: set[int] = set()
        stack = [label_id]
        while stack:
            current = stack.pop()
            for nxt in (*self.ancestors(current), *self.implies.get(current, ())):
                if nxt != label_id and nxt not in found:
                    found.add(nxt)
                    stack.append(nxt)
        result = frozenset(found)
        self._closure_cache[label_id] = result
        return result

    def expand(self, label_ids: Iterable[int]) -> set[int]:
        """The given labels plus their closures."""
        out: set[int] = set()
        for label_id in label_ids:
            out.add(label_id)
            out.update(self.closure(label_id))
        return out
