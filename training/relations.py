"""Label relations applied to thresholded predictions: the tree, ``implies`` and ``excludes``.

The taxonomy (DESIGN.md format) gives each label an optional ``parent`` and a list of relations.
A child implies its parent (a Scottish fold cat is a cat), ``implies`` says so explicitly
(forest => tree), ``excludes`` forbids two labels on one image, and ``overlaps`` is informational
only (drawing / cartoon) and changes nothing here.

A label's *closure* is everything it implies, transitively: its ancestors, the labels it implies,
their ancestors and implications, and so on. It is computed over the whole taxonomy, so a chain
through a label that is not a model column still counts, then restricted to the model's columns.

The rule :func:`apply` follows, per image:

1. A label is a *candidate* when its score is >= its threshold. A disabled label (threshold
   ``np.inf``) is never a candidate on its own.
2. Candidates are taken in decreasing order of their own score (ties: lower column first). A
   candidate is *accepted* unless it, or anything in its closure, is excluded by a label already
   kept; accepting it keeps it and its whole closure, and lifts each closure label's score to at
   least the candidate's score. A lifted label is kept even if it is disabled or below its own
   threshold: the child implies it.
3. A rejected candidate is not kept and lifts nothing; a label already kept through an earlier
   candidate stays as it is.

So the kept set is always closed under implication and free of excluded pairs, and of an excluded
pair the higher-scored side wins, together with everything that side implies. Scores change only
by lifting; rejected or unkept labels keep their raw score.

:meth:`RelationIndex.from_taxonomy` refuses taxonomies where this cannot hold: unknown keys, a
cycle through ``parent``/``implies`` (two labels implying each other), or a label whose closure
contains an excluded pair (it could never be kept).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RELATION_KINDS = ("implies", "excludes", "overlaps")

# Images are processed in chunks so the (chunk, L) working arrays stay small whatever N is:
# 16k images x 400 labels is ~6.5M elements per temporary.
_CHUNK_IMAGES = 16_384


@dataclass(frozen=True, eq=False)
class RelationIndex:
    """Precomputed relations for one column order of labels.

    ``closure[a, b]`` is True when column ``b`` is in column ``a``'s closure (never ``a`` itself);
    ``excluded_pairs`` lists directly excluded column pairs ``(a, b)`` with ``a < b``;
    ``conflicts[a, b]`` is True when keeping ``a`` (with its closure) and ``b`` (with its closure)
    together would keep an excluded pair. ``closures`` maps every taxonomy key to its full
    closure (taxonomy keys, in taxonomy order), columns or not.
    """

    label_keys: tuple[str, ...]
    closure: np.ndarray
    excluded_pairs: tuple[tuple[int, int], ...]
    conflicts: np.ndarray
    closures: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_taxonomy(cls, taxonomy: Mapping[str, Any], label_keys: Sequence[str]) -> RelationIndex:
        """Build the index for ``label_keys`` (the model's column order) from a taxonomy dict.

        Raises ValueError naming the keys for: a duplicate or unknown key (in ``label_keys``, a
        ``parent`` or a relation), an unknown relation kind, a relation of a label to itself, a
        cycle through parents and implications, or a label whose closure contains an excluded pair.
        """
        keys, successors, excluded = _read_taxonomy(taxonomy)
        position = {key: i for i, key in enumerate(keys)}
        duplicates = sorted(key for key, count in Counter(label_keys).items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate label keys: {', '.join(duplicates)}")
        unknown = [key for key in label_keys if key not in position]
        if unknown:
            raise ValueError(f"label keys not in the taxonomy: {', '.join(unknown)}")

        closures_set = _transitive_closures(keys, successors)
        for key in keys:
            members = closures_set[key] | {key}
            for src, dst in excluded:
                if src in members and dst in members:
                    raise ValueError(f"label {key!r} implies both {src!r} and {dst!r}, which exclude each other")
        closures = {key: tuple(sorted(closures_set[key], key=position.__getitem__)) for key in keys}

        column = {key: i for i, key in enumerate(label_keys)}
        n_labels = len(label_keys)
        closure = np.zeros((n_labels, n_labels), dtype=bool)
        # membership[a, t]: taxonomy label t is column a itself or in its closure.
        membership = np.zeros((n_labels, len(keys)), dtype=bool)
        for row, key in enumerate(label_keys):
            membership[row, position[key]] = True
            for implied in closures_set[key]:
                membership[row, position[implied]] = True
                if implied in column:
                    closure[row, column[implied]] = True
        exclusion = np.zeros((len(keys), len(keys)), dtype=bool)
        for src, dst in excluded:
            exclusion[position[src], position[dst]] = exclusion[position[dst], position[src]] = True
        conflicts = (membership.astype(np.int64) @ exclusion.astype(np.int64) @ membership.T.astype(np.int64)) > 0
        excluded_pairs = sorted(
            {tuple(sorted((column[src], column[dst]))) for src, dst in excluded if src in column and dst in column}
        )
        return cls(
            label_keys=tuple(label_keys),
            closure=closure,
            excluded_pairs=tuple((int(a), int(b)) for a, b in excluded_pairs),
            conflicts=conflicts,
            closures=closures,
        )


def _read_taxonomy(taxonomy: Mapping[str, Any]) -> tuple[list[str], dict[str, list[str]], list[tuple[str, str]]]:
    """Keys in taxonomy order, each key's direct implications (parent + implies), excluded pairs."""
    labels = taxonomy.get("labels")
    if not isinstance(labels, list):
        raise ValueError("taxonomy: 'labels' must be a list")
    keys: list[str] = []
    for i, label in enumerate(labels):
        if not isinstance(label, Mapping) or not isinstance(label.get("key"), str) or not label["key"]:
            raise ValueError(f"taxonomy: labels[{i}] has no string 'key'")
        keys.append(label["key"])
    duplicates = sorted(key for key, count in Counter(keys).items() if count > 1)
    if duplicates:
        raise ValueError(f"taxonomy: duplicate label keys: {', '.join(duplicates)}")
    known = set(keys)
    successors: dict[str, list[str]] = {key: [] for key in keys}
    for label in labels:
        parent = label.get("parent")
        if parent is None:
            continue
        if parent not in known:
            raise ValueError(f"taxonomy: label {label['key']!r} has unknown parent {parent!r}")
        if parent == label["key"]:
            raise ValueError(f"taxonomy: label {parent!r} is its own parent")
        successors[label["key"]].append(parent)
    excluded: list[tuple[str, str]] = []
    for i, relation in enumerate(taxonomy.get("relations") or []):
        if not isinstance(relation, Mapping):
            raise ValueError(f"taxonomy: relations[{i}] is not an object")
        kind, src, dst = relation.get("kind"), relation.get("src"), relation.get("dst")
        if kind not in RELATION_KINDS:
            raise ValueError(f"taxonomy: relations[{i}] has unknown kind {kind!r}")
        missing = [repr(key) for key in (src, dst) if key not in known]
        if missing:
            raise ValueError(f"taxonomy: relations[{i}] ({kind}) names unknown label(s) {', '.join(missing)}")
        if src == dst:
            raise ValueError(f"taxonomy: relations[{i}] relates {src!r} to itself")
        src, dst = str(src), str(dst)  # both are known keys, hence strings
        if kind == "implies":
            successors[src].append(dst)
        elif kind == "excludes":
            excluded.append((src, dst))
    return keys, successors, excluded


def _transitive_closures(keys: list[str], successors: dict[str, list[str]]) -> dict[str, set[str]]:
    """Closure of every key over ``successors``; ValueError naming the cycle if there is one."""
    closures: dict[str, set[str]] = {}
    visiting: list[str] = []
    on_path: set[str] = set()
    for root in keys:
        if root in closures:
            continue
        # Iterative depth-first search; a node's closure is built once all its successors are done.
        stack: list[tuple[str, int]] = [(root, 0)]
        visiting.append(root)
        on_path.add(root)
        while stack:
            node, next_child = stack[-1]
            children = successors[node]
            if next_child < len(children):
                stack[-1] = (node, next_child + 1)
                child = children[next_child]
                if child in on_path:
                    cycle = visiting[visiting.index(child) :] + [child]
                    raise ValueError(f"taxonomy: cycle through parent/implies: {' -> '.join(cycle)}")
                if child not in closures:
                    stack.append((child, 0))
                    visiting.append(child)
                    on_path.add(child)
                continue
            closure: set[str] = set()
            for child in children:
                closure.add(child)
                closure |= closures[child]
            closures[node] = closure
            stack.pop()
            visiting.pop()
            on_path.discard(node)
    return closures


def closure_keys(index: RelationIndex, key: str) -> list[str]:
    """Every taxonomy key that ``key`` implies (ancestors and implications, transitively), in taxonomy order.

    Includes labels that are not model columns; raises KeyError for a key not in the taxonomy.
    """
    if key not in index.closures:
        raise KeyError(f"label {key!r} is not in the taxonomy")
    return list(index.closures[key])


def apply(scores: np.ndarray, index: RelationIndex, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply thresholds and relations to (N, L) ``scores``; see the module docstring for the rule.

    ``thresholds`` is (L,), ``np.inf`` for a disabled label. Returns ``(scores_after, keep)``:
    float scores (lifted where a kept label implies them; input dtype kept) and the (N, L) bool
    mask of kept labels. Works in chunks of images, vectorised over each chunk.
    """
    scores = np.asarray(scores)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n_labels = len(index.label_keys)
    if scores.ndim != 2 or scores.shape[1] != n_labels:
        raise ValueError(f"scores must have shape (N, {n_labels}), got {scores.shape}")
    if thresholds.shape != (n_labels,):
        raise ValueError(f"thresholds must have shape ({n_labels},), got {thresholds.shape}")
    if np.isnan(thresholds).any():
        raise ValueError("thresholds contain NaN; use np.inf for a disabled label")
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    scores_after = scores.copy()
    keep = np.zeros(scores.shape, dtype=bool)
    # Only labels that can conflict need the ordered, greedy pass: a label whose closure conflicts
    # with nothing is always accepted, and its closure holds only such labels (a conflict of
    # something it implies would be its own), so it is handled by lifting alone.
    contested = np.flatnonzero(index.conflicts.any(axis=1))
    contested_conflicts = index.conflicts[np.ix_(contested, contested)]
    contested_implied = (index.closure | np.eye(n_labels, dtype=bool))[np.ix_(contested, contested)]
    for start in range(0, scores.shape[0], _CHUNK_IMAGES):
        stop = min(scores.shape[0], start + _CHUNK_IMAGES)
        chunk = scores[start:stop]
        if not np.isfinite(chunk).all():
            raise ValueError(f"scores contain NaN or infinity (images {start}..{stop - 1})")
        lifts = chunk >= thresholds
        if contested.size:
            candidate = lifts[:, contested]
            kept = _contested_kept(chunk[:, contested], candidate, contested_conflicts, contested_implied)
            # A rejected candidate lifts nothing. Every other candidate lifts its closure: either it
            # was accepted, or it was already kept by a higher-scored label whose lift covers its own.
            lifts[:, contested] = candidate & kept
        _lift(chunk, lifts, index.closure, scores_after[start:stop], keep[start:stop])
    return scores_after, keep


def _lift(chunk: np.ndarray, lifts: np.ndarray, closure: np.ndarray, lifted: np.ndarray, keep: np.ndarray) -> None:
    """Keep every lifting label and its closure; raise closure scores to at least the lifter's score."""
    keep |= lifts
    for label in np.flatnonzero(closure.any(axis=1)):
        rows = np.flatnonzero(lifts[:, label])
        if rows.size == 0:
            continue
        block = np.ix_(rows, np.flatnonzero(closure[label]))
        keep[block] = True
        lifted[block] = np.maximum(lifted[block], chunk[rows, label][:, None])


def _contested_kept(
    scores: np.ndarray, candidate: np.ndarray, conflicts: np.ndarray, implied: np.ndarray
) -> np.ndarray:
    """Kept mask over the contested labels: accept candidates by decreasing score, one rank per step.

    ``implied`` is each contested label's closure among the contested labels, itself included.
    """
    kept = np.zeros(candidate.shape, dtype=bool)
    remaining = candidate.copy()
    rows = np.flatnonzero(remaining.any(axis=1))
    while rows.size:
        ranked = np.where(remaining[rows], scores[rows], -np.inf)
        label = np.argmax(ranked, axis=1)  # first maximum: ties go to the lower column
        remaining[rows, label] = False
        kept_rows = kept[rows]
        accept = ~kept_rows[np.arange(rows.size), label] & ~(kept_rows & conflicts[label]).any(axis=1)
        kept[rows[accept]] |= implied[label[accept]]
        rows = rows[remaining[rows].any(axis=1)]
    return kept
