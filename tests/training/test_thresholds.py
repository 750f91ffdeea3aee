"""Threshold selection against a brute-force reference over every distinct score."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve

from training import thresholds
from training.metrics import PRCurve


def _data(seed: int, n: int = 400, n_labels: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frequency = np.linspace(0.02, 0.5, n_labels)
    targets = (rng.random((n, n_labels)) < frequency).astype(np.int64)
    targets[0] = 1  # every label has a positive
    scores = np.round(rng.random((n, n_labels)) * 0.8 + 0.25 * targets * rng.random((n, n_labels)), 2)
    return scores.astype(np.float32), targets


def _brute_force(scores: np.ndarray, targets: np.ndarray, mode: str, target: float | None) -> dict | None:
    """Try every distinct score as a threshold; apply the documented preference order."""
    positives = int(targets.sum())
    points = []
    for threshold in np.unique(scores):
        predicted = scores >= threshold
        true_positives = int((predicted & (targets == 1)).sum())
        precision = true_positives / int(predicted.sum())
        recall = true_positives / positives
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        points.append({"threshold": float(threshold), "precision": precision, "recall": recall, "f1": f1})
    if mode == "precision":
        feasible = [p for p in points if p["precision"] >= target]
        preference = lambda p: (p["recall"], p["threshold"])  # noqa: E731
    elif mode == "recall":
        feasible = [p for p in points if p["recall"] >= target]
        preference = lambda p: (p["precision"], p["recall"], -p["threshold"])  # noqa: E731
    else:
        feasible = [p for p in points if target is None or p["f1"] >= target]
        preference = lambda p: (p["f1"], p["threshold"])  # noqa: E731
    return max(feasible, key=preference) if feasible else None


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("mode", "target"),
    [("precision", 0.5), ("precision", 0.8), ("precision", 0.0), ("recall", 0.9), ("recall", 0.3), ("f1", None)],
)
def test_select_matches_brute_force(seed: int, mode: str, target: float | None) -> None:
    scores, targets = _data(seed)
    keys = [f"k{i}" for i in range(scores.shape[1])]
    selection = thresholds.select(scores, targets, keys, mode=mode, target=target)
    assert list(selection) == keys
    for i, key in enumerate(keys):
        entry = selection[key]
        expected = _brute_force(scores[:, i], targets[:, i], mode, target)
        assert set(entry) == {"threshold", "precision", "recall", "f1", "enabled", "reason"}
        if expected is None:
            assert entry["enabled"] is False and entry["threshold"] is None and entry["reason"]
            continue
        assert entry["enabled"] is True
        assert entry["threshold"] == expected["threshold"]
        for name in ("precision", "recall", "f1"):
            assert entry[name] == pytest.approx(expected[name], rel=1e-12)


@pytest.mark.parametrize(("mode", "target"), [("precision", 0.7), ("recall", 0.6), ("f1", 0.3)])
def test_chosen_thresholds_meet_their_target(mode: str, target: float) -> None:
    scores, targets = _data(9)
    selection = thresholds.select(scores, targets, list("abcdefgh"), mode=mode, target=target)
    for i, entry in enumerate(selection.values()):
        if not entry["enabled"]:
            continue
        predicted = scores[:, i] >= entry["threshold"]
        true_positives = int((predicted & (targets[:, i] == 1)).sum())
        measured = {"precision": true_positives / predicted.sum(), "recall": true_positives / targets[:, i].sum()}
        measured["f1"] = 2 * true_positives / (predicted.sum() + targets[:, i].sum())
        assert measured[mode] >= target
        assert entry[mode] == pytest.approx(measured[mode])


def test_unreachable_target_and_no_positives_disable_the_label() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((100, 3)).astype(np.float32)
    targets = np.zeros((100, 3), dtype=np.int64)
    targets[:5, 0] = 1
    scores[:5, 0] = 0.01  # positives ranked below every negative
    targets[:, 1] = (scores[:, 1] > 0.5).astype(np.int64)  # separable
    selection = thresholds.select(scores, targets, ["hard", "easy", "empty"], mode="precision", target=0.9)
    assert selection["hard"]["enabled"] is False
    assert "not reachable" in selection["hard"]["reason"]
    assert selection["hard"]["threshold"] is None
    assert selection["easy"]["enabled"] is True and selection["easy"]["precision"] >= 0.9
    assert selection["empty"]["enabled"] is False
    assert "no positives" in selection["empty"]["reason"]
    f1 = thresholds.select(scores, targets, ["hard", "easy", "empty"], mode="f1", target=0.99)
    assert f1["hard"]["enabled"] is False and f1["easy"]["enabled"] is True


@pytest.mark.parametrize(
    ("mode", "target"), [("precision", None), ("recall", None), ("precision", 1.5), ("f1", -0.1), ("accuracy", 0.5)]
)
def test_bad_mode_or_target_is_refused(mode: str, target: float | None) -> None:
    scores, targets = _data(0)
    with pytest.raises(ValueError):
        thresholds.select(scores, targets, list("abcdefgh"), mode=mode, target=target)  # type: ignore[arg-type]


def test_operating_point_on_sklearn_curve_matches_selection() -> None:
    scores, targets = _data(4)
    selection = thresholds.select(scores, targets, list("abcdefgh"), mode="recall", target=0.75)
    for i, entry in enumerate(selection.values()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            curve = PRCurve(*precision_recall_curve(targets[:, i], scores[:, i]))
        assert thresholds.operating_point(curve, mode="recall", target=0.75) == {
            name: entry[name] for name in ("threshold", "precision", "recall", "f1")
        }


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    scores, targets = _data(3)
    targets[:, 7] = 0
    keys = list("abcdefgh")
    selection = thresholds.select(scores, targets, keys, mode="precision", target=0.6)
    path = tmp_path / "thresholds.json"
    thresholds.save(path, selection, mode="precision", target=0.6)
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["mode"] == "precision" and document["target"] == 0.6
    assert document["labels"] == selection
    loaded = thresholds.load(path)
    assert set(loaded) == {key for key, entry in selection.items() if entry["enabled"]}
    assert "h" not in loaded
    as_array = thresholds.to_array(loaded, keys)
    for i, key in enumerate(keys):
        if key in loaded:
            # The float32 scores predicted with the loaded threshold are the selected point's predictions.
            predicted = scores[:, i] >= as_array[i]
            assert (predicted & (targets[:, i] == 1)).sum() / predicted.sum() == selection[key]["precision"]
        else:
            assert as_array[i] == np.inf
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_load_refuses_malformed_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"labels": {"a": {"enabled": true, "threshold": null}}}', encoding="utf-8")
    with pytest.raises(ValueError, match="'a'"):
        thresholds.load(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="labels"):
        thresholds.load(path)


def test_to_array_refuses_unknown_keys() -> None:
    with pytest.raises(ValueError, match="zebra"):
        thresholds.to_array({"zebra": 0.5}, ["cat"])
