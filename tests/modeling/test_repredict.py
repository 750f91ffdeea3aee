"""Re-predict replaces a version's model evidence as a whole and asks the queues to re-rank."""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
import pytest

from annotator.dataset.models import Evidence, EvidenceSource, Image
from annotator.modeling import runner
from annotator.modeling.evidence import EvidenceSpool, evidence_replace, evidence_rows
from annotator.modeling.models import ModelVersion
from annotator.modeling.runner import job_execute
from annotator.modeling.services import JobRequest, job_start
from annotator.taxonomy.models import Label
from tests.modeling.support import train_job

pytestmark = pytest.mark.django_db


def test_evidence_rows_keep_the_floor_and_suggest_the_top_five_above_one_half():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.55, 0.51, 0.2, 0.01], [0.3, 0.02, 0.4, 0.1, 0.0, 0.05, 0.6, 0.99]])
    labels = np.array([10, 11, 12, 13, 14, 15, 16, -1])  # the last column's label was deleted
    images, label_ids, values, suggested = evidence_rows(np.array([1, 2]), scores, labels, floor=0.05)
    rows = {
        (int(i), int(j)): (float(s), bool(g)) for i, j, s, g in zip(images, label_ids, values, suggested, strict=True)
    }
    # image 1: six scores >= 0.5 but only the top five are suggested; 0.01 is under the floor
    assert {j for (i, j), (s, g) in rows.items() if i == 1 and g} == {10, 11, 12, 13, 14}
    assert rows[(1, 15)] == (0.51, False) and rows[(1, 16)] == (0.2, False) and (1, -1) not in rows
    # image 2: only 0.6 reaches one half; 0.99 belongs to no label; 0.05 is exactly the floor (kept)
    assert {j for (i, j), (s, g) in rows.items() if i == 2 and g} == {16}
    assert (2, 15) in rows and (2, 14) not in rows and (2, 11) not in rows


@pytest.mark.slow
def test_repredict_replaces_the_versions_evidence_and_sends_the_rerank(
    demo, admin_user, test_broker, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.MODEL_EVIDENCE_SCORE_FLOOR = 0.05
    job_execute(job_id=train_job(admin_user, demo).id)
    version = ModelVersion.objects.select_related("source").get()
    other = EvidenceSource.objects.create(kind=EvidenceSource.Kind.COMPETITOR, name="baidu")
    image = Image.objects.order_by("id").first()
    cat = Label.objects.get(key="cat")
    # old rows of this version (to be replaced) and another source's row (to be kept)
    Evidence.objects.create(image=image, label=cat, source=version.source, score=0.123, suggested=True)
    Evidence.objects.create(image=image, label=cat, source=other, score=0.9, keyword="猫")

    with django_capture_on_commit_callbacks(execute=True):
        job = job_start(user=admin_user, request=JobRequest(kind="predict", version_id=version.id))
    assert job.status == "queued" and test_broker.llen("gpu") == 1  # routed to the gpu queue
    sent: list[str] = []
    monkeypatch.setattr(runner.current_app, "send_task", lambda name, *a, **k: sent.append(name))
    with django_capture_on_commit_callbacks(execute=True):
        assert job_execute(job_id=job.id) == "succeeded"
    assert sent == ["annotator.cleaning.tasks.queues_rerank"]

    job.refresh_from_db()
    version.source.refresh_from_db()
    assert version.source.refreshed_at is not None
    rows = list(Evidence.objects.filter(source=version.source).values("image_id", "label_id", "score", "suggested"))
    assert not any(r["score"] == 0.123 for r in rows)  # the old row is gone
    assert Evidence.objects.get(source=other).score == 0.9  # other sources untouched
    assert job.results["rows"] == len(rows) > 0 and job.results["images"] == Image.objects.count()
    assert job.percent == 100 and job.progress_done == Image.objects.count()

    by_image: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_image[row["image_id"]].append(row)
    assert set(by_image) <= set(Image.objects.values_list("id", flat=True))
    for image_rows in by_image.values():
        assert all(r["score"] >= 0.05 for r in image_rows)
        ranked = sorted(image_rows, key=lambda r: -r["score"])
        expected = {r["label_id"] for r in ranked[:5] if r["score"] >= 0.5}
        assert {r["label_id"] for r in image_rows if r["suggested"]} == expected
    assert job.results["suggested"] == sum(r["suggested"] for r in rows)

    # the scores are the model's: they match a fresh prediction of the same run for one image
    from training.runs import predict_run

    run = job.run_dir
    image = Image.objects.get(pk=rows[0]["image_id"])
    manifest = f"{run}/one.jsonl"
    with open(manifest, "w") as handle:
        handle.write(json.dumps({"image": f"{image.storage_root}/{image.relative_path}", "split": "train"}) + "\n")
    predict_run(version.run_dir, manifest=manifest, images_root="/", out=f"{run}/one-out.jsonl")
    with open(f"{run}/one-out.jsonl") as handle:
        scores = json.loads(handle.read())["scores"]
    keys = dict(Label.objects.values_list("id", "key"))
    for row in by_image[image.id]:
        assert abs(scores[keys[row["label_id"]]] - row["score"]) < 1e-5


def test_the_set_based_path_checks_images_and_labels_itself(db, tmp_path):
    """Rows of images and labels deleted while the job scored are left out (the new partition's keys hold)."""
    labels = [Label.objects.create(key=f"l{i}", name_en=f"L{i}") for i in range(3)]
    images = [
        Image.objects.create(
            content_hash=f"{n:064x}", storage_root="/x", relative_path=f"{n}.jpg", size_bytes=1, width=1, height=1
        )
        for n in range(4)
    ]
    source = EvidenceSource.objects.create(kind=EvidenceSource.Kind.MODEL, name="v9.0")
    label_ids = np.array([label.id for label in labels])
    spool = EvidenceSpool(tmp_path / "spool", source_id=source.id, label_ids=label_ids, floor=0.1)
    spool.add([img.id for img in images], np.full((4, 3), 0.7))
    scored = spool.close()
    gone = images[3].id
    images[3].delete()  # deleted while the job scored
    gone_label = labels[2].id
    labels[2].delete()
    counts = evidence_replace(
        source=source,
        spool_path=spool.path,
        image_ids=scored,
        label_ids=label_ids.tolist(),
        rows=12,
    )
    assert counts == {"deleted": 0, "written": 6, "skipped_images": 1, "skipped_labels": 1}
    assert not Evidence.objects.filter(image_id=gone).exists()
    assert not Evidence.objects.filter(label_id=gone_label).exists()
    assert Evidence.objects.filter(source=source, suggested=True).count() == 6
    source.refresh_from_db()
    assert source.refreshed_at is not None
