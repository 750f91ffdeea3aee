"""Admins make a snapshot from the snapshots page; it is written by the Celery task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.dataset.models import Image, ImageLabel, LabelState, Snapshot
from annotator.taxonomy.models import Label


@pytest.fixture
def small_dataset(db):
    animal = Label.objects.create(key="animal", name_en="Animal", name_zh="动物")
    cat = Label.objects.create(key="cat", name_en="Cat", name_zh="猫", parent=animal)
    image = Image.objects.create(
        content_hash="a" * 64, storage_root="/imgs", relative_path="c.jpg", size_bytes=10, width=4, height=4
    )
    ImageLabel.objects.create(image=image, label=cat, state=LabelState.POSITIVE)
    return image


def test_admin_makes_a_snapshot_from_the_page(
    admin_client_, small_dataset, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.SNAPSHOT_ROOT = tmp_path / "snapshots"
    from annotator.celery import app

    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client_.post("/dataset/snapshots/new/", {"note": "after round 1"})
    finally:
        app.conf.task_always_eager = app.conf.task_eager_propagates = False
    assert response.status_code == 302
    snapshot = Snapshot.objects.get()
    assert snapshot.note == "after round 1"
    assert snapshot.image_count == 1
    manifest = [json.loads(line) for line in (Path(snapshot.path) / "manifest.jsonl").read_text().splitlines()]
    assert sorted(manifest[0]["labels"]) == ["animal", "cat"]

    page = admin_client_.get("/dataset/snapshots/")
    assert "after round 1" in page.content.decode()


def test_snapshot_creation_is_refused_to_other_roles(qa_client, annotator_client, small_dataset):
    for client in (qa_client, annotator_client):
        assert client.post("/dataset/snapshots/new/", {"note": "x"}).status_code == 403
    assert Snapshot.objects.count() == 0
