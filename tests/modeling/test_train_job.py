"""A training job run by the worker code (inline here): version registered, idempotent, cancellable."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.dataset.models import EvidenceSource
from annotator.modeling import runner
from annotator.modeling.models import Job, ModelVersion
from annotator.modeling.runner import job_execute
from annotator.modeling.selectors import label_ap_latest
from annotator.taxonomy.models import Label
from tests.modeling.support import train_job

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_training_job_registers_versions_with_metrics_curves_and_parents(demo, admin_user, test_broker):
    job = train_job(admin_user, demo)
    assert job.status == "queued" and job.config["backbone"] == "tiny_cnn" and job.epochs == 1
    assert job_execute(job_id=job.id) == "succeeded"

    job.refresh_from_db()
    first = ModelVersion.objects.get()
    assert first.name == "v1.0" and first.parent is None and first.job_id == job.id
    assert first.snapshot_id == demo.id and Path(first.run_dir) == Path(job.run_dir)
    assert (Path(first.run_dir) / "checkpoint.pt").is_file()
    assert set(first.label_keys) == set(first.metrics["labels"]) == set(first.pr_curves)
    assert 0.0 < first.map <= 1.0 and first.metrics["mAP"] == first.map
    assert first.source.kind == EvidenceSource.Kind.MODEL and first.source.name == "v1.0"
    assert sum(first.train_counts.values()) > 0
    curve = next(c for c in first.pr_curves.values() if c is not None)
    assert len(curve["precision"]) == len(curve["recall"]) == len(curve["thresholds"]) + 1
    assert job.device == "cpu" and job.progress_done == job.progress_total > 0 and job.loss is not None
    assert "epoch 1/1" in job.log_tail and job.results["version"] == "v1.0"

    # label health reads the latest version's AP by label id
    ap = label_ap_latest()
    key = next(k for k, v in first.metrics["labels"].items() if v["ap"] is not None)
    assert ap[Label.objects.get(key=key).id] == first.metrics["labels"][key]["ap"]

    second = train_job(admin_user, demo)
    assert second.version_id == first.id  # compared with the latest version
    job_execute(job_id=second.id)
    assert ModelVersion.objects.get(job=second).name == "v1.1"
    assert ModelVersion.objects.get(job=second).parent_id == first.id


def test_a_second_delivery_changes_nothing(demo, admin_user, test_broker):
    job = train_job(admin_user, demo)
    assert job_execute(job_id=job.id) == "succeeded"
    before = Job.objects.values().get(pk=job.id)
    assert job_execute(job_id=job.id) == ""  # not queued: not claimed, not run
    assert Job.objects.values().get(pk=job.id) == before
    assert ModelVersion.objects.count() == 1


def test_cancel_stops_a_running_job_at_its_next_report(demo, admin_user, test_broker, monkeypatch):
    job = train_job(admin_user, demo, epochs=3)
    real = runner._train_config

    def config_then_admin_cancels(job_row, progress):
        config = real(job_row, progress)
        Job.objects.filter(pk=job_row.pk).update(cancel_requested=True)  # the admin clicks Cancel
        return config

    monkeypatch.setattr(runner, "_train_config", config_then_admin_cancels)
    assert job_execute(job_id=job.id) == "cancelled"
    job.refresh_from_db()
    assert job.finished_at is not None and not ModelVersion.objects.exists()
    assert job.epoch <= 1  # stopped in the first epoch


def test_a_queued_job_is_cancelled_without_running(demo, admin_user, test_broker):
    from annotator.modeling.services import job_cancel

    job = train_job(admin_user, demo)
    assert job_cancel(job_id=job.id) == "cancelled"
    assert job_execute(job_id=job.id) == ""  # the queued message arrives later: nothing runs
    job.refresh_from_db()
    assert job.status == "cancelled" and job.started_at is None and job.attempts == 0
    assert not Path(job.run_dir).exists()


def test_the_recipe_comparison_trains_three_recipes_and_shows_the_table(demo, admin_user, qa_client, test_broker):
    from django.urls import reverse

    from annotator.modeling.services import JobRequest, job_start
    from tests.modeling.support import TINY_YAML

    job = job_start(
        user=admin_user, request=JobRequest(kind="ablate", snapshot_id=demo.id, custom_yaml=TINY_YAML, epochs=1)
    )
    assert job_execute(job_id=job.id) == "succeeded"
    job.refresh_from_db()
    rows = job.results["rows"]
    assert [row["recipe"] for row in rows] == ["baseline", "rfs", "rfs_focal"]
    assert [(row["loss"], row["sampler"]) for row in rows] == [("bce", "none"), ("bce", "rfs"), ("focal", "rfs")]
    assert all(0.0 <= row["mAP"] <= 1.0 for row in rows)
    assert (Path(job.run_dir) / "ablation.md").is_file() and not ModelVersion.objects.exists()
    html = qa_client.get(reverse("modeling:job_detail", args=[job.id])).content.decode()
    assert 'data-testid="ablation"' in html and "rfs_focal" in html
    listing = qa_client.get(reverse("modeling:jobs")).content.decode()
    assert f'href="{reverse("modeling:job_detail", args=[job.id])}"' in listing
