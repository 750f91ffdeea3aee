"""training.metrics against scikit-learn, label by label, on data with ties and degenerate labels."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
)

from training import metrics
from training.metrics import PRCurve, average_precision, evaluate, pr_curves, pr_curves_and_ap


def _random_data(seed: int, n: int = 600, n_labels: int = 12, decimals: int | None = 2, dtype=np.float32):
    """Scores rounded to ``decimals`` (many ties), long-tail targets, and degenerate columns."""
    rng = np.random.default_rng(seed)
    frequency = 0.4 / (1 + np.arange(n_labels))
    targets = (rng.random((n, n_labels)) < frequency).astype(np.int64)
    scores = rng.random((n, n_labels)) * 0.7 + 0.3 * targets
    if decimals is not None:
        scores = np.round(scores, decimals)
    scores = scores.astype(dtype)
    targets[:, 0] = 0  # no positives
    targets[:, 1] = 1  # all positives
    scores[:, 2] = 0.5  # one score for every image
    targets[: n // 3, 3] = 0  # single positive, tied with negatives
    targets[n // 3 :, 3] = 0
    targets[0, 3] = 1
    scores[:5, 3] = scores[0, 3]
    return scores, targets


def _sklearn_curve(targets: np.ndarray, scores: np.ndarray):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return precision_recall_curve(targets, scores)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("decimals", "dtype"), [(2, np.float32), (3, np.float64), (None, np.float32), (1, np.float64)])
def test_curves_and_ap_equal_sklearn(seed: int, decimals: int | None, dtype) -> None:
    scores, targets = _random_data(seed, decimals=decimals, dtype=dtype)
    curves, ap = pr_curves_and_ap(scores, targets)
    assert len(curves) == scores.shape[1] and ap.shape == (scores.shape[1],)
    for label in range(scores.shape[1]):
        if targets[:, label].sum() == 0:
            assert curves[label] is None
            assert math.isnan(ap[label])
            continue
        precision, recall, thresholds = _sklearn_curve(targets[:, label], scores[:, label])
        curve = curves[label]
        assert isinstance(curve, PRCurve)
        assert np.array_equal(curve.precision, precision)
        assert np.array_equal(curve.recall, recall)
        assert np.array_equal(curve.thresholds, thresholds)
        assert curve.thresholds.dtype == thresholds.dtype
        assert ap[label] == average_precision_score(targets[:, label], scores[:, label])


def test_public_wrappers_agree_with_combined_pass() -> None:
    scores, targets = _random_data(5)
    curves, ap = pr_curves_and_ap(scores, targets)
    np.testing.assert_array_equal(average_precision(scores, targets), ap)
    for ours, combined in zip(pr_curves(scores, targets), curves, strict=True):
        assert (ours is None) == (combined is None)
        if ours is not None:
            assert np.array_equal(ours.precision, combined.precision)


def test_blocks_of_labels_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    scores, targets = _random_data(7, n_labels=11)
    _, whole = pr_curves_and_ap(scores, targets)
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", scores.shape[0] * 3)  # 3 labels a block
    _, blocked = pr_curves_and_ap(scores, targets)
    np.testing.assert_array_equal(blocked, whole)


def test_bool_targets_and_int_scores_accepted() -> None:
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 5, size=(200, 3))
    targets = rng.random((200, 3)) < 0.3
    curves, ap = pr_curves_and_ap(scores, targets)
    for label in range(3):
        precision, recall, thresholds = _sklearn_curve(targets[:, label], scores[:, label])
        assert np.array_equal(curves[label].thresholds, thresholds)
        assert np.array_equal(curves[label].precision, precision)
        assert ap[label] == average_precision_score(targets[:, label], scores[:, label])


def test_no_images_means_no_curves() -> None:
    curves, ap = pr_curves_and_ap(np.zeros((0, 2), dtype=np.float32), np.zeros((0, 2), dtype=np.int64))
    assert curves == [None, None]
    assert np.isnan(ap).all()


@pytest.mark.parametrize(
    ("scores", "targets", "message"),
    [
        (np.array([[0.1, np.nan]]), np.array([[1, 0]]), "NaN or infinity"),
        (np.array([[0.1, np.inf]]), np.array([[1, 0]]), "NaN or infinity"),
        (np.array([[0.1, 0.2]]), np.array([[2, 0]]), "only 0 and 1"),
        (np.array([[0.1, 0.2]]), np.array([[1, 0, 0]]), "does not match"),
        (np.array([0.1, 0.2]), np.array([1, 0]), "2-D"),
    ],
)
def test_bad_input_is_refused(scores: np.ndarray, targets: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pr_curves_and_ap(scores, targets)


def test_curve_as_dict_is_json() -> None:
    scores, targets = _random_data(2)
    curve = pr_curves(scores, targets)[4]
    document = json.loads(json.dumps(curve.as_dict()))
    assert document["thresholds"] == [float(t) for t in curve.thresholds]
    assert len(document["precision"]) == len(document["thresholds"]) + 1


def test_evaluate_shape_and_values() -> None:
    scores, targets = _random_data(4, n_labels=6)
    keys = [f"label_{i}" for i in range(6)]
    thresholds = {"label_0": 0.5, "label_2": 0.5, "label_4": 0.61, "label_5": 0.3}
    report = evaluate(scores, targets, keys, thresholds)
    text = json.dumps(report, allow_nan=False)  # plain floats, None rather than NaN
    assert json.loads(text) == report
    assert set(report) == {"mAP", "labels"}
    assert list(report["labels"]) == keys
    expected_ap = []
    for i, key in enumerate(keys):
        entry = report["labels"][key]
        assert set(entry) == {"ap", "support", "threshold", "precision", "recall", "f1", "no_positives"}
        assert entry["support"] == int(targets[:, i].sum())
        assert entry["no_positives"] == (entry["support"] == 0)
        if entry["no_positives"]:
            assert entry["ap"] is None
        else:
            expected_ap.append(average_precision_score(targets[:, i], scores[:, i]))
            assert entry["ap"] == expected_ap[-1]
        if key not in thresholds:
            assert entry["threshold"] is entry["precision"] is entry["recall"] is entry["f1"] is None
            continue
        predicted = scores[:, i] >= thresholds[key]
        assert entry["threshold"] == thresholds[key]
        assert entry["precision"] == pytest.approx(precision_score(targets[:, i], predicted, zero_division=0))
        assert entry["recall"] == pytest.approx(recall_score(targets[:, i], predicted, zero_division=0))
        assert entry["f1"] == pytest.approx(f1_score(targets[:, i], predicted, zero_division=0))
        assert all(type(entry[name]) is float for name in ("threshold", "precision", "recall", "f1"))
    assert report["mAP"] == pytest.approx(np.mean(expected_ap), abs=1e-15)


def test_evaluate_without_positives_or_thresholds() -> None:
    report = evaluate(np.full((4, 1), 0.2), np.zeros((4, 1), dtype=int), ["only"])
    assert report["mAP"] is None
    assert report["labels"]["only"]["no_positives"] is True
    json.dumps(report, allow_nan=False)


def test_evaluate_refuses_mismatched_keys() -> None:
    scores, targets = _random_data(1, n_labels=4)
    with pytest.raises(ValueError, match="label keys"):
        evaluate(scores, targets, ["a", "b"])
    with pytest.raises(ValueError, match="unknown labels: zebra"):
        evaluate(scores, targets, ["a", "b", "c", "d"], {"zebra": 0.5})
