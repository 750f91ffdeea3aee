"""Import pages, the progress API and the Django admin for the dataset: admins only."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image as PILImage

from annotator import celery_app
from annotator.dataset import tasks
from annotator.dataset.models import HistorySource, Image, ImageLabel, ImportJob, LabelHistory, LabelState, Snapshot
from annotator.taxonomy.models import Label


def jpeg(path: Path, color: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", (10, 10), color).save(path, "JPEG")
    return path


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def eager_celery():
    """Tasks run inside ``.delay()`` (after the commit that enqueues them)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def uploads(settings, tmp_path: Path) -> Path:
    settings.IMPORT_UPLOAD_ROOT = tmp_path / "uploads"
    return settings.IMPORT_UPLOAD_ROOT


@pytest.fixture
def images_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    jpeg(root / "a.jpg", (250, 0, 0))
    jpeg(root / "sub" / "b.jpg", (0, 250, 0))
    return root


@pytest.fixture
def cat_taxonomy() -> Label:
    animal = Label.objects.create(key="animal", name_en="Animal")
    return Label.objects.create(key="cat", name_en="Cat", parent=animal)


def post_csv(client: Client, content: bytes, root: Path):
    return client.post(
        reverse("dataset:import_new"),
        {
            "kind": "csv",
            "file": SimpleUploadedFile("labels.csv", content, content_type="text/csv"),
            "images_root": str(root),
            "origin": "internal",
        },
    )


# --- creating imports --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_creates_a_csv_import_by_upload_and_sees_its_counts(
    admin_client_, admin_user, cat_taxonomy, images_root, uploads, eager_celery
):
    response = post_csv(admin_client_, b"image,labels\na.jpg,cat\nsub/b.jpg,\n", images_root)

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dataset:import_detail", args=[job.id])
    assert job.created_by == admin_user
    assert job.params["images_root"] == str(images_root.resolve())
    saved = Path(job.params["file"])
    assert saved.parent == uploads / str(job.id) and saved.read_bytes().startswith(b"image,labels")
    assert job.status == ImportJob.Status.SUCCEEDED

    assert set(ImageLabel.objects.values_list("image__relative_path", "label__key", "state")) == {
        ("a.jpg", "cat", LabelState.POSITIVE),
        ("a.jpg", "animal", LabelState.POSITIVE),
    }
    assert set(LabelHistory.objects.values_list("user__username", flat=True)) == {admin_user.username}

    detail = admin_client_.get(response["Location"])
    text = page_text(detail)
    assert detail.status_code == 200
    assert 'data-testid="import-counts"' in text
    assert "truth_created" in text and "images_created" in text
    # Counts are explained in words, not only by their internal names.
    assert "labels added (truth_created)" in text and "new images (images_created)" in text
    assert 'data-testid="import-error"' not in text

    listing = page_text(admin_client_.get(reverse("dataset:imports")))
    assert reverse("dataset:import_detail", args=[job.id]) in listing


@pytest.mark.django_db(transaction=True)
def test_a_failing_import_shows_its_error(admin_client_, cat_taxonomy, images_root, uploads, eager_celery):
    response = post_csv(admin_client_, b"image,labels\na.jpg,cat\nsub/b.jpg,dog\n", images_root)

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert not ImageLabel.objects.exists()  # all or nothing
    text = page_text(admin_client_.get(response["Location"]))
    assert 'data-testid="import-error"' in text
    assert 'labels.csv, row 3, field "labels": unknown label "dog"' in text
    assert 'data-testid="import-counts"' not in text

    api = admin_client_.get(reverse("dataset:api_import", args=[job.id])).json()
    assert api["status"] == "failed" and api["finished"] is True
    assert 'row 3, field "labels"' in api["error"]


@pytest.mark.django_db
def test_creating_a_job_enqueues_it_after_the_commit(
    admin_client_, images_root, uploads, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: sent.append(job_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post_csv(admin_client_, b"image,labels\na.jpg,\n", images_root)
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.QUEUED and sent == []
    for callback in callbacks:
        callback()
    assert sent == [job.id]


@pytest.mark.django_db
def test_form_refuses_bad_folders_and_creates_nothing(admin_client_, images_root, uploads, settings, tmp_path):
    relative = post_csv(admin_client_, b"image,labels\n", Path("images"))
    assert relative.status_code == 400 and "not an absolute path" in page_text(relative)

    missing = post_csv(admin_client_, b"image,labels\n", tmp_path / "nowhere")
    assert missing.status_code == 400 and "not a folder" in page_text(missing)

    settings.IMAGE_ROOTS = [(tmp_path / "allowed").resolve()]
    outside = post_csv(admin_client_, b"image,labels\n", images_root)
    assert outside.status_code == 400 and "outside the allowed roots" in page_text(outside)

    no_file = admin_client_.post(reverse("dataset:import_new"), {"kind": "csv", "images_root": str(images_root)})
    assert no_file.status_code == 400
    assert not ImportJob.objects.exists()
    assert not uploads.exists()


@pytest.mark.django_db
def test_folder_form_takes_a_server_path_and_a_label(admin_client_, cat_taxonomy, images_root, uploads, monkeypatch):
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: None)
    response = admin_client_.post(
        reverse("dataset:import_new"),
        {"kind": "folder", "folder": str(images_root), "label": "cat", "origin": "crawled"},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert (job.kind, job.params) == (
        ImportJob.Kind.FOLDER,
        {"folder": str(images_root.resolve()), "label": "cat", "origin": "crawled"},
    )


@pytest.mark.django_db
def test_new_import_page_offers_every_kind_and_its_form(admin_client_):
    chooser = page_text(admin_client_.get(reverse("dataset:import_new")))
    for kind in ImportJob.Kind.values:
        assert f"?kind={kind}" in chooser
    expected_fields = {
        "csv": ("file", "images_root"),
        "openimages": ("labels", "classes", "hierarchy", "mapping", "images_root"),
        "folder": ("folder", "label", "origin"),
        "labelstudio": ("export", "images_root", "from_name", "mapping"),
    }
    for kind, fields in expected_fields.items():
        response = admin_client_.get(reverse("dataset:import_new"), {"kind": kind})
        assert response.status_code == 200
        for field in fields:
            assert f'name="{field}"' in page_text(response), (kind, field)
        assert 'enctype="multipart/form-data"' in page_text(response)


# --- live progress -----------------------------------------------------------------------


@pytest.mark.django_db
def test_detail_page_hands_the_progress_endpoint_to_its_script(admin_client_):
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.CSV, status=ImportJob.Status.RUNNING, phase="images", progress_done=5, progress_total=20
    )
    text = page_text(admin_client_.get(reverse("dataset:import_detail", args=[job.id])))
    assert f'data-url="{reverse("dataset:api_import", args=[job.id])}"' in text
    assert 'data-status="running"' in text
    assert "js/import_progress.js" in text
    assert 'value="25"' in text and "images" in text

    api = admin_client_.get(reverse("dataset:api_import", args=[job.id])).json()
    assert api["percent"] == 25 and api["phase"] == "images"
    assert (api["progress_done"], api["progress_total"], api["finished"]) == (5, 20, False)


@pytest.mark.django_db
def test_unknown_job_is_404(admin_client_):
    assert admin_client_.get(reverse("dataset:import_detail", args=[999])).status_code == 404
    assert admin_client_.get(reverse("dataset:api_import", args=[999])).status_code == 404


@pytest.mark.django_db
def test_import_list_query_count_does_not_grow_with_jobs(admin_client_, admin_user):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client_.get(reverse("dataset:imports")).status_code == 200
        return len(captured)

    ImportJob.objects.create(kind=ImportJob.Kind.CSV, created_by=admin_user)
    few = queries()
    ImportJob.objects.bulk_create(ImportJob(kind=ImportJob.Kind.CSV, created_by=admin_user) for _ in range(30))
    assert queries() == few


@pytest.mark.django_db
def test_snapshot_list_shows_snapshots(admin_client_):
    Snapshot.objects.create(
        path="/var/snap/1", content_hash="ab" * 32, image_count=7, label_count=3, positive_count=9, negative_count=2
    )
    text = page_text(admin_client_.get(reverse("dataset:snapshots")))
    assert 'data-testid="snapshot-list"' in text and "/var/snap/1" in text


# --- who may enter -----------------------------------------------------------------------


def _import_urls(job_id: int) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("get", reverse("dataset:imports"), {}),
        ("get", reverse("dataset:import_new"), {}),
        ("get", reverse("dataset:import_new") + "?kind=csv", {}),
        ("post", reverse("dataset:import_new"), {"kind": "folder", "folder": "/tmp", "label": "x"}),
        ("get", reverse("dataset:import_detail", args=[job_id]), {}),
        ("get", reverse("dataset:api_import", args=[job_id]), {}),
        ("get", reverse("dataset:snapshots"), {}),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["annotator", "qa_lead", "outsider"])
def test_other_personas_get_403_everywhere(persona, personas):
    job = ImportJob.objects.create(kind=ImportJob.Kind.CSV)
    client = Client()
    client.force_login(personas[persona])
    for method, url, data in _import_urls(job.id):
        assert getattr(client, method)(url, data).status_code == 403, (persona, method, url)
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client):
    job = ImportJob.objects.create(kind=ImportJob.Kind.CSV)
    for method, url, data in _import_urls(job.id):
        response = getattr(client, method)(url, data)
        if "/api/" in url:
            assert response.status_code in (401, 403), url
        else:
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), url
    assert ImportJob.objects.count() == 1


# --- Django admin ------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_lists_every_dataset_model(admin_client_):
    for model in ("image", "imagelabel", "labelhistory", "evidencesource", "evidence", "importjob", "snapshot"):
        response = admin_client_.get(reverse(f"admin:dataset_{model}_changelist"))
        assert response.status_code == 200, model
    assert admin_client_.get(reverse("admin:dataset_image_changelist"), {"q": "abc"}).status_code == 200


@pytest.mark.django_db
def test_history_and_snapshots_are_read_only_in_admin(admin_client_):
    for model in ("labelhistory", "snapshot", "image"):
        assert admin_client_.get(reverse(f"admin:dataset_{model}_add")).status_code == 403, model
    # "Add import job" leads to the Imports page's form (tests/dataset/test_import_rerun.py).
    assert admin_client_.get(reverse("admin:dataset_importjob_add")).status_code == 302


@pytest.mark.django_db
def test_admin_action_reruns_failed_imports(admin_client_, monkeypatch, django_capture_on_commit_callbacks):
    sent: list[int] = []
    monkeypatch.setattr(tasks.import_job_run, "delay", lambda job_id: sent.append(job_id))
    failed = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.FAILED, error="boom")
    done = ImportJob.objects.create(kind=ImportJob.Kind.CSV, status=ImportJob.Status.SUCCEEDED)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            reverse("admin:dataset_importjob_changelist"),
            {"action": "rerun_failed", "_selected_action": [failed.id, done.id]},
            follow=True,
        )

    assert response.status_code == 200
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, failed.error) == (ImportJob.Status.QUEUED, "")
    assert done.status == ImportJob.Status.SUCCEEDED
    assert sent == [failed.id]
    text = page_text(response)
    assert "1 import queued again." in text and "neither failed nor stalled" in text


@pytest.mark.django_db
def test_truth_edited_in_admin_goes_through_the_history(admin_client_, admin_user, cat_taxonomy):
    image = Image.objects.create(
        content_hash="c" * 64, storage_root="/srv", relative_path="x.jpg", size_bytes=1, width=1, height=1
    )
    response = admin_client_.post(
        reverse("admin:dataset_imagelabel_add"), {"image": image.id, "label": cat_taxonomy.id, "state": 1}
    )
    assert response.status_code == 302
    assert set(ImageLabel.objects.values_list("label__key", "state", "source")) == {
        ("cat", LabelState.POSITIVE, HistorySource.ADMIN),
        ("animal", LabelState.POSITIVE, HistorySource.RELATION),  # the closure applies here too
    }
    history = LabelHistory.objects.get(label=cat_taxonomy)
    assert (history.source, history.user, history.old_state) == (HistorySource.ADMIN, admin_user, None)

    row = ImageLabel.objects.get(label=cat_taxonomy)
    admin_client_.post(reverse("admin:dataset_imagelabel_delete", args=[row.id]), {"post": "yes"})
    assert not ImageLabel.objects.filter(label=cat_taxonomy).exists()
    removed = LabelHistory.objects.filter(label=cat_taxonomy).order_by("-id").first()
    assert (removed.old_state, removed.new_state, removed.source) == (LabelState.POSITIVE, None, HistorySource.ADMIN)
