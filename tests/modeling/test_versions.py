"""Versions: names, regression flags against the parent, comparison, label AP for the queues."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotator.modeling.models import ModelVersion
from annotator.modeling.selectors import label_ap_latest, versions_compare
from annotator.modeling.versions import _next_number, regressions_find
from annotator.taxonomy.models import Label
from tests.modeling.support import version_make

pytestmark = pytest.mark.django_db


def test_a_label_whose_ap_drops_more_than_the_margin_is_flagged(bare_snapshot, qa_client):
    parent = version_make(
        snapshot=bare_snapshot, major=1, minor=0, aps={"cat": 0.80, "dog": 0.60, "tree": 0.50, "sea": None}
    )
    child = version_make(
        snapshot=bare_snapshot,
        major=1,
        minor=1,
        parent=parent,
        margin=0.05,
        aps={"cat": 0.74, "dog": 0.56, "tree": 0.70, "sea": 0.3},
    )
    # cat fell 0.06 > 0.05: flagged; dog fell 0.04: within the margin; tree rose; sea had no AP before
    assert [row["label"] for row in child.regressions] == ["cat"]
    assert child.regressions[0]["drop"] == pytest.approx(0.06)
    page = qa_client.get(reverse("modeling:version_detail", args=[child.id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="regressions"' in html and 'data-key="cat"' in html
    assert (
        'data-testid="regressions"'
        not in qa_client.get(reverse("modeling:version_detail", args=[parent.id])).content.decode()
    )


def test_the_margin_comes_from_the_settings(bare_snapshot, settings):
    settings.MODEL_REGRESSION_AP_MARGIN = 0.1
    parent = version_make(snapshot=bare_snapshot, major=1, minor=0, aps={"cat": 0.8})
    metrics = {"labels": {"cat": {"ap": 0.72}}}
    assert regressions_find(metrics=metrics, parent=parent, margin=settings.MODEL_REGRESSION_AP_MARGIN) == []
    assert len(regressions_find(metrics=metrics, parent=parent, margin=0.05)) == 1


def test_version_numbers(bare_snapshot):
    assert _next_number(["a", "b"], None) == (1, 0)
    v10 = version_make(snapshot=bare_snapshot, major=1, minor=0, aps={"a": 0.5, "b": 0.5})
    assert _next_number(["b", "a"], v10) == (1, 1)  # same label set: next minor
    assert _next_number(["a", "b", "c"], v10) == (2, 0)  # a new label: new major


def test_comparison_sorts_the_biggest_loss_first(bare_snapshot, annotator_client):
    a = version_make(snapshot=bare_snapshot, major=1, minor=0, aps={"cat": 0.8, "dog": 0.6, "tree": 0.5})
    b = version_make(snapshot=bare_snapshot, major=1, minor=1, parent=a, aps={"cat": 0.7, "dog": 0.9, "tree": 0.45})
    comparison = versions_compare(a=a, b=b)
    assert [row["key"] for row in comparison["rows"]] == ["cat", "tree", "dog"]
    assert comparison["map_delta"] == pytest.approx(b.map - a.map)
    page = annotator_client.get(reverse("modeling:version_compare") + f"?a={a.id}&b={b.id}")
    html = page.content.decode()
    assert page.status_code == 200 and html.index('data-key="cat"') < html.index('data-key="dog"')


def test_label_ap_latest_reads_the_newest_version(bare_snapshot):
    assert label_ap_latest() == {}
    cat = Label.objects.create(key="cat", name_en="Cat")
    dog = Label.objects.create(key="dog", name_en="Dog")
    version_make(snapshot=bare_snapshot, major=1, minor=0, aps={"cat": 0.1, "dog": 0.2})
    version_make(snapshot=bare_snapshot, major=1, minor=1, aps={"cat": 0.7, "dog": None, "gone": 0.3})
    assert label_ap_latest() == {cat.id: 0.7, dog.id: None}


def test_version_pages_for_every_role_and_bounded_queries(bare_snapshot, personas, django_assert_max_num_queries):
    from django.test import Client

    for n in range(5):
        version_make(snapshot=bare_snapshot, major=1, minor=n, aps={"cat": 0.5})
    for persona in ("annotator", "qa_lead", "admin"):
        client = Client()
        client.force_login(personas[persona])
        with django_assert_max_num_queries(8):
            assert client.get(reverse("modeling:versions")).status_code == 200
    version = ModelVersion.objects.first()
    outsider = Client()
    outsider.force_login(personas["outsider"])
    assert outsider.get(reverse("modeling:versions")).status_code == 403
    assert outsider.get(reverse("modeling:api_version_curves", args=[version.id])).status_code == 403
    json.dumps(version.metrics)
