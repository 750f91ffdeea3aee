"""Starting jobs: admins only (403 and nothing queued for anyone else); bad input refused before queuing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotator.modeling.models import Job
from tests.modeling.support import TINY_YAML

pytestmark = pytest.mark.django_db


def _queued(broker) -> int:
    return sum(broker.llen(queue) for queue in ("gpu", "celery"))


def _form(snapshot_id, **changes):
    data = {
        "kind": "train",
        "snapshot": str(snapshot_id),
        "recipe": "custom",
        "backbone": "",
        "epochs": "1",
        "custom_yaml": TINY_YAML,
        "version": "",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("persona", ["annotator_client", "qa_client", "outsider_client"])
def test_only_admins_start_jobs_and_nothing_is_queued_for_the_others(
    request, persona, demo, test_broker, django_capture_on_commit_callbacks
):
    client = request.getfixturevalue(persona)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(reverse("modeling:job_new"), _form(demo.id))
        api = client.post(
            reverse("modeling:api_jobs"),
            {"kind": "train", "snapshot": demo.id, "recipe": "custom", "custom_yaml": TINY_YAML},
            content_type="application/json",
        )
    assert (page.status_code, api.status_code) == (403, 403)
    assert not Job.objects.exists()
    assert _queued(test_broker) == 0


def test_an_admin_start_is_queued_once_on_the_gpu_queue(
    admin_client_, demo, test_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_post = admin_client_.post(reverse("modeling:job_new"), _form(demo.id))
    job = Job.objects.get()
    assert client_post.status_code == 302 and response["Location"] == reverse("modeling:job_detail", args=[job.id])
    assert test_broker.llen("gpu") == 1 and test_broker.llen("celery") == 0
    assert (job.status, job.kind, job.backbone, job.epochs, job.snapshot_id) == (
        "queued",
        "train",
        "tiny_cnn",
        1,
        demo.id,
    )
    assert job.config["image_size"] == 32 and job.config["num_workers"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        api = admin_client_.post(
            reverse("modeling:api_jobs"),
            {"kind": "ablate", "snapshot": demo.id, "custom_yaml": TINY_YAML, "epochs": 1},
            content_type="application/json",
        )
    assert api.status_code == 201 and api.json()["kind"] == "ablate" and test_broker.llen("gpu") == 2
    # every role reads jobs
    listing = admin_client_.get(reverse("modeling:api_jobs")).json()
    assert [row["id"] for row in listing["results"]] == [api.json()["id"], job.id]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"custom_yaml": "lr: [1, 2"}, "not valid YAML"),
        ({"custom_yaml": "- a\n- b\n"}, "must be a mapping"),
        ({"custom_yaml": "learning_rate: 0.1\n"}, "learning_rate"),
        ({"custom_yaml": "batch_size: 0\n"}, "batch_size"),
        ({"custom_yaml": "epochs: 0\n"}, "epochs"),
        ({"custom_yaml": "", "recipe": "custom"}, "needs its YAML"),
        ({"backbone": "resnet9000", "custom_yaml": "image_size: 32\n"}, "unknown backbone"),
        ({"snapshot": "999999"}, "Select a valid choice"),
        ({"kind": "predict", "version": ""}, "choose the model version"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error_and_nothing_queued(
    admin_client_, bare_snapshot, test_broker, django_capture_on_commit_callbacks, changes, message
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(reverse("modeling:job_new"), _form(bare_snapshot.id, **changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Job.objects.exists() and _queued(test_broker) == 0


def test_the_api_names_the_bad_key(admin_client_, bare_snapshot, test_broker):
    response = admin_client_.post(
        reverse("modeling:api_jobs"),
        {"kind": "train", "snapshot": bare_snapshot.id, "recipe": "baseline", "custom_yaml": "sampler: bogus\n"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "sampler" in str(response.json()) and not Job.objects.exists()


@pytest.mark.parametrize("persona", ["annotator_client", "qa_client"])
def test_readers_see_jobs_but_cannot_cancel_or_resume(request, persona, bare_snapshot, admin_user, test_broker):
    from tests.modeling.support import train_job

    job = train_job(admin_user, bare_snapshot)
    client = request.getfixturevalue(persona)
    assert client.get(reverse("modeling:job_detail", args=[job.id])).status_code == 200
    assert client.get(reverse("modeling:api_job", args=[job.id])).json()["status"] == "queued"
    assert client.post(reverse("modeling:job_action", args=[job.id]), {"action": "cancel"}).status_code == 403
    assert client.post(reverse("modeling:api_job_cancel", args=[job.id])).status_code == 403
    job.refresh_from_db()
    assert job.status == "queued" and not job.cancel_requested
