"""training.relations: the label tree, implies, excludes and overlaps applied to thresholded scores."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from training import relations
from training.relations import RelationIndex, apply, closure_keys

TAXONOMY = {
    "labels": [
        {"key": "animal", "name_en": "Animal", "name_zh": "动物", "parent": None},
        {"key": "cat", "name_en": "Cat", "name_zh": "猫", "parent": "animal"},
        {"key": "scottish_fold", "name_en": "Scottish fold", "name_zh": "折耳猫", "parent": "cat"},
        {"key": "plant", "name_en": "Plant", "name_zh": "植物", "parent": None},
        {"key": "tree", "name_en": "Tree", "name_zh": "树", "parent": "plant"},
        {"key": "outdoor", "name_en": "Outdoor", "name_zh": "户外", "parent": None},
        {"key": "forest", "name_en": "Forest", "name_zh": "森林", "parent": "outdoor"},
        {"key": "indoor", "name_en": "Indoor", "name_zh": "室内", "parent": None},
        {"key": "drawing", "name_en": "Drawing", "name_zh": "绘画", "parent": None},
        {"key": "cartoon", "name_en": "Cartoon", "name_zh": "卡通", "parent": None},
    ],
    "relations": [
        {"kind": "implies", "src": "forest", "dst": "tree"},
        {"kind": "excludes", "src": "indoor", "dst": "outdoor"},
        {"kind": "overlaps", "src": "drawing", "dst": "cartoon"},
    ],
}
KEYS = [label["key"] for label in TAXONOMY["labels"]]
COL = {key: i for i, key in enumerate(KEYS)}


def _run(raw: dict[str, float], threshold: float = 0.5, disabled: tuple[str, ...] = ()) -> tuple[dict, set]:
    """Apply to one image given as {key: score} (others 0); return (scores after, kept keys)."""
    index = RelationIndex.from_taxonomy(TAXONOMY, KEYS)
    scores = np.zeros((1, len(KEYS)), dtype=np.float32)
    for key, value in raw.items():
        scores[0, COL[key]] = value
    limits = np.full(len(KEYS), threshold)
    for key in disabled:
        limits[COL[key]] = np.inf
    after, keep = apply(scores, index, limits)
    return {key: float(after[0, COL[key]]) for key in KEYS}, {key for key in KEYS if keep[0, COL[key]]}


def test_child_lifts_parent_and_grandparent() -> None:
    after, kept = _run({"scottish_fold": 0.9, "cat": 0.2, "animal": 0.1})
    assert kept == {"scottish_fold", "cat", "animal"}
    assert after["cat"] == after["animal"] == pytest.approx(0.9)


def test_lift_never_lowers_and_below_threshold_lifts_nothing() -> None:
    after, kept = _run({"scottish_fold": 0.6, "cat": 0.8})
    assert after["cat"] == pytest.approx(0.8) and after["animal"] == pytest.approx(0.8)
    after, kept = _run({"scottish_fold": 0.4, "cat": 0.1})
    assert kept == set() and after["cat"] == pytest.approx(0.1)


def test_forest_implies_tree_and_its_ancestors() -> None:
    after, kept = _run({"forest": 0.7})
    assert kept == {"forest", "outdoor", "tree", "plant"}
    assert after["tree"] == after["plant"] == after["outdoor"] == pytest.approx(0.7)


@pytest.mark.parametrize(("indoor", "outdoor"), [(0.8, 0.7), (0.7, 0.8)])
def test_excluded_pair_keeps_the_higher(indoor: float, outdoor: float) -> None:
    after, kept = _run({"indoor": indoor, "outdoor": outdoor})
    assert kept == ({"indoor"} if indoor > outdoor else {"outdoor"})
    assert after["indoor"] == pytest.approx(indoor) and after["outdoor"] == pytest.approx(outdoor)


def test_exclusion_reaches_through_implications() -> None:
    # forest implies outdoor, so a stronger indoor rejects forest, and forest lifts nothing.
    after, kept = _run({"indoor": 0.95, "forest": 0.9})
    assert kept == {"indoor"}
    assert after["tree"] == 0.0
    # A stronger forest keeps outdoor, which rejects indoor.
    after, kept = _run({"indoor": 0.85, "forest": 0.9})
    assert kept == {"forest", "outdoor", "tree", "plant"}


def test_overlaps_change_nothing() -> None:
    after, kept = _run({"drawing": 0.9, "cartoon": 0.6})
    assert kept == {"drawing", "cartoon"}
    assert after["cartoon"] == pytest.approx(0.6)


def test_disabled_label_is_kept_only_when_implied() -> None:
    after, kept = _run({"tree": 0.99}, disabled=("tree",))
    assert "tree" not in kept
    after, kept = _run({"forest": 0.7, "tree": 0.2}, disabled=("tree",))
    assert "tree" in kept and after["tree"] == pytest.approx(0.7)


def _reference_closures(taxonomy: dict) -> dict[str, set[str]]:
    """Closure by fixed-point iteration, independent of the code under test."""
    direct = {label["key"]: {label["parent"]} - {None} for label in taxonomy["labels"]}
    for relation in taxonomy["relations"]:
        if relation["kind"] == "implies":
            direct[relation["src"]].add(relation["dst"])
    closure = copy.deepcopy(direct)
    changed = True
    while changed:
        changed = False
        for key in closure:
            grown = closure[key].union(*(closure[other] for other in closure[key]))
            if grown != closure[key]:
                closure[key], changed = grown, True
    return closure


def _reference_apply(
    taxonomy: dict, keys: list[str], scores: np.ndarray, limits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The documented rule, image by image, in plain Python."""
    closure = _reference_closures(taxonomy)
    excluded = {frozenset((r["src"], r["dst"])) for r in taxonomy["relations"] if r["kind"] == "excludes"}
    column = {key: i for i, key in enumerate(keys)}
    after, keep = scores.copy(), np.zeros(scores.shape, dtype=bool)
    for n in range(scores.shape[0]):
        kept: set[str] = set()
        candidates = sorted(
            (i for i in range(len(keys)) if scores[n, i] >= limits[i]), key=lambda i: (-scores[n, i], i)
        )
        for i in candidates:
            key = keys[i]
            if key in kept:
                continue
            bringing = {key} | closure[key]
            if any(frozenset((a, b)) in excluded for a in bringing for b in kept):
                continue
            kept |= bringing
            for other in bringing & set(column):
                after[n, column[other]] = max(after[n, column[other]], scores[n, i])
        keep[n] = [key in kept for key in keys]
    return after, keep


def _random_taxonomy(rng: np.random.Generator, size: int) -> dict:
    """A random forest with extra implications (always towards lower indices) and some exclusions."""
    while True:
        labels = [(f"k{i}", None if i < 4 or rng.random() < 0.2 else f"k{rng.integers(0, i)}") for i in range(size)]
        implies = [("implies", f"k{i}", f"k{rng.integers(0, i)}") for i in rng.choice(range(1, size), 6, replace=False)]
        pairs = {tuple(sorted(rng.choice(size, 2, replace=False))) for _ in range(5)}
        excludes = [("excludes", f"k{a}", f"k{b}") for a, b in pairs]
        taxonomy = _with(labels, implies + excludes)
        closure = _reference_closures(taxonomy)
        contradictions = [key for key in closure if any({src, dst} <= closure[key] | {key} for _, src, dst in excludes)]
        if not contradictions:
            return taxonomy


@pytest.mark.parametrize("seed", range(6))
def test_random_taxonomies_follow_the_documented_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    taxonomy = _random_taxonomy(rng, 24)
    keys = [label["key"] for label in taxonomy["labels"]]
    columns = [keys[i] for i in rng.permutation(len(keys))[:18]]  # some labels are not model columns
    scores = np.round(rng.random((400, len(columns))), 2)
    limits = rng.uniform(0.4, 0.95, len(columns))
    limits[rng.random(len(columns)) < 0.2] = np.inf
    after, keep = apply(scores, RelationIndex.from_taxonomy(taxonomy, columns), limits)
    expected_after, expected_keep = _reference_apply(taxonomy, columns, scores, limits)
    np.testing.assert_array_equal(keep, expected_keep)
    np.testing.assert_array_equal(after, expected_after)


@pytest.mark.parametrize("chunk", [3, 16_384])
def test_random_images_follow_the_documented_rule(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(relations, "_CHUNK_IMAGES", chunk)
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((300, len(KEYS))), 2).astype(np.float32)
    limits = rng.uniform(0.3, 0.9, len(KEYS))
    limits[COL["plant"]] = np.inf
    after, keep = apply(scores, RelationIndex.from_taxonomy(TAXONOMY, KEYS), limits)
    expected_after, expected_keep = _reference_apply(TAXONOMY, KEYS, scores, limits)
    np.testing.assert_array_equal(keep, expected_keep)
    np.testing.assert_array_equal(after, expected_after)
    assert after.dtype == scores.dtype and (after >= scores).all()


def test_without_exclusions_every_candidate_is_kept() -> None:
    taxonomy = copy.deepcopy(TAXONOMY)
    taxonomy["relations"] = [r for r in taxonomy["relations"] if r["kind"] != "excludes"]
    rng = np.random.default_rng(1)
    scores = rng.random((200, len(KEYS)))
    limits = np.full(len(KEYS), 0.6)
    after, keep = apply(scores, RelationIndex.from_taxonomy(taxonomy, KEYS), limits)
    closure = _reference_closures(taxonomy)
    assert (keep >= (scores >= limits)).all()
    for key in KEYS:
        for implied in closure[key]:
            lifted_by = np.where(scores[:, COL[key]] >= 0.6, scores[:, COL[key]], -np.inf)
            assert (after[:, COL[implied]] >= lifted_by).all()
            assert keep[scores[:, COL[key]] >= 0.6, COL[implied]].all()


def test_closure_goes_through_labels_that_are_not_columns() -> None:
    columns = ["forest", "plant", "indoor"]
    index = RelationIndex.from_taxonomy(TAXONOMY, columns)
    assert set(closure_keys(index, "forest")) == {"outdoor", "tree", "plant"}
    assert closure_keys(index, "animal") == []
    assert index.closure[0, 1] and not index.closure[1, 0]
    after, keep = apply(np.array([[0.9, 0.0, 0.95]]), index, np.full(3, 0.5))
    assert keep.tolist() == [[False, False, True]]  # indoor excludes outdoor, which forest implies


def test_closure_keys_unknown_key() -> None:
    with pytest.raises(KeyError, match="zebra"):
        closure_keys(RelationIndex.from_taxonomy(TAXONOMY, KEYS), "zebra")


def _with(labels: list[tuple[str, str | None]], relations_: list[tuple[str, str, str]]) -> dict:
    return {
        "labels": [{"key": key, "name_en": key, "name_zh": key, "parent": parent} for key, parent in labels],
        "relations": [{"kind": kind, "src": src, "dst": dst} for kind, src, dst in relations_],
    }


@pytest.mark.parametrize(
    ("taxonomy", "keys", "message"),
    [
        (_with([("a", "c"), ("b", "a"), ("c", "b")], []), ["a"], r"cycle.*a.*b.*c|cycle.*c.*b.*a"),
        (_with([("a", None), ("b", None)], [("implies", "a", "b"), ("implies", "b", "a")]), ["a"], "cycle.*a.*b"),
        (_with([("a", None), ("b", "a")], [("implies", "a", "b")]), ["a"], "cycle.*a.*b"),
        (_with([("a", "a")], []), ["a"], "'a'"),
        (_with([("a", "ghost")], []), ["a"], "ghost"),
        (_with([("a", None)], [("implies", "a", "ghost")]), ["a"], "ghost"),
        (_with([("a", None)], []), ["a", "ghost"], "ghost"),
        (_with([("a", None)], []), ["a", "a"], "duplicate.*a"),
        (_with([("a", None), ("a", None)], []), ["a"], "duplicate.*a"),
        (_with([("a", None), ("b", None)], [("contains", "a", "b")]), ["a"], "contains"),
        (_with([("a", None)], [("excludes", "a", "a")]), ["a"], "'a'"),
        (_with([("a", None), ("b", "a")], [("excludes", "a", "b")]), ["a"], "'b'.*'a'.*'b'"),
    ],
)
def test_invalid_taxonomies_are_refused(taxonomy: dict, keys: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RelationIndex.from_taxonomy(taxonomy, keys)


def test_apply_refuses_bad_shapes_and_values() -> None:
    index = RelationIndex.from_taxonomy(TAXONOMY, KEYS)
    with pytest.raises(ValueError, match="shape"):
        apply(np.zeros((2, 3)), index, np.zeros(len(KEYS)))
    with pytest.raises(ValueError, match="shape"):
        apply(np.zeros((2, len(KEYS))), index, np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        apply(np.zeros((2, len(KEYS))), index, np.full(len(KEYS), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        apply(np.full((2, len(KEYS)), np.nan), index, np.zeros(len(KEYS)))
