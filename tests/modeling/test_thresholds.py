"""Threshold picking on stored PR curves: the numbers of training.thresholds and scikit-learn; profiles."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.urls import reverse
from sklearn.metrics import precision_recall_curve

from annotator.modeling.models import ThresholdProfile
from annotator.modeling.thresholds import pick
from tests.modeling.support import version_make
from training import checkpoint as ckpt
from training import thresholds as thresholds_lib
from training.metrics import pr_curves

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored():
    """300 val images, 3 labels: scores that separate positives more or less well (seeded)."""
    rng = np.random.default_rng(7)
    targets = (rng.random((300, 3)) < [0.3, 0.1, 0.5]).astype(np.uint8)
    noise = rng.normal(0, [0.15, 0.35, 0.25], size=(300, 3))
    scores = np.clip(0.3 + 0.4 * targets + noise, 0, 1).round(5)
    return scores, targets


@pytest.fixture
def version(bare_snapshot, scored):
    scores, targets = scored
    keys = ["cat", "dog", "tree"]
    stored = {
        key: ckpt._downsample(curve, ckpt.PR_POINTS) if curve is not None else None
        for key, curve in zip(keys, pr_curves(scores, targets), strict=True)
    }
    return version_make(snapshot=bare_snapshot, major=1, minor=0, aps=dict.fromkeys(keys, 0.5), curves=stored)


@pytest.mark.parametrize(
    ("mode", "target"), [("precision", 0.9), ("precision", 0.75), ("recall", 0.5), ("recall", 0.95)]
)
def test_picks_match_training_thresholds_and_sklearn(version, scored, mode, target):
    scores, targets = scored
    for column, key in enumerate(["cat", "dog", "tree"]):
        picked = pick(version.pr_curves[key], {"mode": mode, "target": target})
        reference = thresholds_lib.select(scores[:, [column]], targets[:, [column]], [key], mode=mode, target=target)[
            key
        ]
        assert picked["threshold"] == pytest.approx(reference["threshold"], abs=1e-6), (key, mode, target)
        if reference["threshold"] is None:
            continue
        # scikit-learn's curve, read the same way: the chosen threshold's precision and recall
        precision, recall, thresholds = precision_recall_curve(targets[:, column], scores[:, column])
        at = int(np.flatnonzero(np.isclose(thresholds, picked["threshold"], atol=1e-9))[0])
        assert picked["precision"] == pytest.approx(precision[at], abs=1e-6)
        assert picked["recall"] == pytest.approx(recall[at], abs=1e-6)
        meets = precision[:-1] >= target if mode == "precision" else recall[:-1] >= target
        best = recall[:-1][meets].max() if mode == "precision" else precision[:-1][meets].max()
        assert (picked["recall"] if mode == "precision" else picked["precision"]) == pytest.approx(best, abs=1e-6)


def test_an_unreachable_target_disables_the_label(version):
    curve = {"precision": [0.5, 0.6, 1.0], "recall": [1.0, 0.5, 0.0], "thresholds": [0.1, 0.2]}
    assert pick(curve, {"mode": "precision", "target": 0.9})["threshold"] is None
    assert pick(curve, {"mode": "precision", "target": 0.6})["threshold"] == 0.2
    assert pick(None, {"mode": "recall", "target": 0.5})["threshold"] is None


def test_an_admin_saves_a_profile_and_exports_it_for_training(admin_client_, version, tmp_path):
    url = reverse("modeling:api_version_profiles", args=[version.id])
    body = {
        "name": "clothing store",
        "targets": {"cat": {"mode": "precision", "target": 0.9}, "tree": {"mode": "recall", "target": 0.5}},
    }
    response = admin_client_.post(url, body, content_type="application/json")
    assert response.status_code == 201, response.content
    profile = ThresholdProfile.objects.get()
    assert set(profile.labels) <= {"cat", "tree"} and profile.labels["tree"]["recall"] >= 0.5
    expected = pick(version.pr_curves["cat"], {"mode": "precision", "target": 0.9})
    assert profile.labels.get("cat", {}).get("threshold") == expected["threshold"]

    # saving again under the same name replaces it
    body["targets"]["tree"]["target"] = 0.8
    assert admin_client_.post(url, body, content_type="application/json").status_code == 201
    assert ThresholdProfile.objects.count() == 1

    exported = admin_client_.get(reverse("modeling:profile_export", args=[profile.id]))
    assert exported.status_code == 200 and "attachment" in exported["Content-Disposition"]
    path = tmp_path / "thresholds.json"
    path.write_bytes(exported.content)
    loaded = thresholds_lib.load(path)  # what `python -m training predict` reads
    profile.refresh_from_db()
    assert loaded == {key: entry["threshold"] for key, entry in profile.labels.items()}
    assert json.loads(exported.content)["version"] == "v1.0"


@pytest.mark.parametrize("persona", ["annotator_client", "qa_client"])
def test_readers_may_not_save_profiles_but_may_read_them(request, persona, version):
    client = request.getfixturevalue(persona)
    url = reverse("modeling:api_version_profiles", args=[version.id])
    body = {"name": "x", "targets": {"cat": {"mode": "precision", "target": 0.9}}}
    assert client.post(url, body, content_type="application/json").status_code == 403
    assert not ThresholdProfile.objects.exists()
    assert client.get(url).json() == []
    assert client.get(reverse("modeling:api_version_curves", args=[version.id])).json()["curves"]["cat"]["thresholds"]


@pytest.mark.parametrize(
    "targets",
    [
        {"cat": {"mode": "f1", "target": 0.5}},
        {"cat": {"mode": "precision", "target": 1.5}},
        {"nope": {"mode": "recall", "target": 0.5}},
        {},
    ],
)
def test_bad_profiles_are_refused(admin_client_, version, targets):
    url = reverse("modeling:api_version_profiles", args=[version.id])
    response = admin_client_.post(url, {"name": "x", "targets": targets}, content_type="application/json")
    assert response.status_code == 400 and not ThresholdProfile.objects.exists()
