"""Thumbnails: made once from the real image file, served with year-long cache headers to team
members only, made on the fly when the job has not reached an image, never made twice."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
import redis
from django.core.management import call_command
from django.urls import reverse
from PIL import Image as PILImage

from annotator.cleaning.thumbnails import (
    PROGRESS_KEY,
    THUMBNAIL_SIZE,
    thumbnail_path,
    thumbnails_progress,
    thumbnails_run_start,
    thumbnails_run_step,
)
from annotator.dataset.models import Image
from tests.cleaning.support import images_make

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path: Path) -> Path:
    settings.DATA_DIR = tmp_path / "data"
    redis.Redis.from_url(settings.REDIS_URL).delete(PROGRESS_KEY)
    return settings.DATA_DIR


def big_images(root: Path, count: int) -> list[Image]:
    """Images larger than a thumbnail (1000 x 600), so the resize is real."""
    images = images_make(root, count)
    for image in images:
        PILImage.new("RGB", (1000, 600), (image.id * 40 % 256, 90, 160)).save(root / image.relative_path)
    return images


def run_all(batch: int) -> None:
    run = thumbnails_run_start()
    cursor: int | None = 0
    while cursor is not None:
        cursor = thumbnails_run_step(run=run, after_id=cursor, limit=batch)


def test_the_job_makes_real_webp_files_under_the_data_dir(tmp_path, data_dir):
    images = big_images(tmp_path / "src", 5)
    run_all(batch=2)
    for image in images:
        path = thumbnail_path(image.content_hash)
        assert path.is_relative_to(data_dir / "thumbnails")
        with PILImage.open(path) as thumb:
            assert thumb.format == "WEBP"
            assert max(thumb.size) == THUMBNAIL_SIZE and thumb.size == (256, 154)  # aspect kept
    progress = thumbnails_progress()
    assert progress["state"] == "done" and progress["percent"] == 100
    assert (progress["done"], progress["total"], progress["made"], progress["failed"]) == (5, 5, 5, 0)


def test_a_second_run_makes_nothing_twice(tmp_path):
    images = big_images(tmp_path / "src", 4)
    run_all(batch=3)
    first = {image.id: thumbnail_path(image.content_hash).stat().st_mtime_ns for image in images}
    run_all(batch=3)
    progress = thumbnails_progress()
    assert (progress["made"], progress["skipped"]) == (0, 4)
    assert {image.id: thumbnail_path(image.content_hash).stat().st_mtime_ns for image in images} == first


def test_an_unreadable_image_is_counted_and_the_others_still_made(tmp_path):
    images = big_images(tmp_path / "src", 3)
    (tmp_path / "src" / images[1].relative_path).write_bytes(b"not an image")
    run_all(batch=10)
    progress = thumbnails_progress()
    assert (progress["made"], progress["failed"]) == (2, 1)
    assert not thumbnail_path(images[1].content_hash).exists()
    assert thumbnail_path(images[2].content_hash).exists()


def test_a_newer_run_supersedes_an_older_one(tmp_path):
    big_images(tmp_path / "src", 3)
    old = thumbnails_run_start()
    thumbnails_run_start()
    assert thumbnails_run_step(run=old, after_id=0, limit=1) is None  # stops at once, makes nothing
    assert thumbnails_progress()["made"] == 0


def test_the_command_makes_them_and_reports_progress(tmp_path, capsys):
    images = big_images(tmp_path / "src", 3)
    call_command("make_thumbnails", "--batch", "2")
    assert "3/3 images (100%), 3 made" in capsys.readouterr().out
    assert all(thumbnail_path(image.content_hash).exists() for image in images)


# --- the view --------------------------------------------------------------------------------


def test_the_view_serves_it_with_long_cache_headers_and_an_etag(tmp_path, annotator_client):
    image = big_images(tmp_path / "src", 1)[0]
    response = annotator_client.get(reverse("cleaning:thumbnail", args=[image.id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    etag = response["ETag"]
    assert image.content_hash[:32] in etag
    body = b"".join(response.streaming_content)
    with PILImage.open(BytesIO(body)) as thumb:
        assert max(thumb.size) == THUMBNAIL_SIZE
    # made on the fly (no job ran) and kept: the job finds it there
    assert thumbnail_path(image.content_hash).exists()
    again = annotator_client.get(reverse("cleaning:thumbnail", args=[image.id]), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag


@pytest.mark.parametrize("persona", ["qa_client", "admin_client_"])
def test_every_team_role_may_see_thumbnails(request, persona, tmp_path):
    image = big_images(tmp_path / "src", 1)[0]
    assert request.getfixturevalue(persona).get(reverse("cleaning:thumbnail", args=[image.id])).status_code == 200


def test_outsiders_and_anonymous_are_refused(tmp_path, outsider_client, client):
    image = big_images(tmp_path / "src", 1)[0]
    url = reverse("cleaning:thumbnail", args=[image.id])
    assert outsider_client.get(url).status_code == 403
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert not thumbnail_path(image.content_hash).exists()  # refused before any work


def test_a_missing_image_or_file_is_a_404_not_cached(tmp_path, annotator_client):
    image = big_images(tmp_path / "src", 1)[0]
    assert annotator_client.get(reverse("cleaning:thumbnail", args=[image.id + 100])).status_code == 404
    (tmp_path / "src" / image.relative_path).unlink()
    gone = annotator_client.get(reverse("cleaning:thumbnail", args=[image.id]))
    assert gone.status_code == 404 and gone["Cache-Control"] == "no-store"


def test_admins_start_the_job_from_the_health_page(tmp_path, admin_client_, django_capture_on_commit_callbacks):
    from annotator import celery_app

    celery_app.conf.task_always_eager = True
    try:
        images = big_images(tmp_path / "src", 3)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client_.post(reverse("cleaning:thumbnails_start"))
        assert response.status_code == 302 and response["Location"] == reverse("cleaning:health")
        # the task ran eagerly, batch after batch, once the request's transaction committed
        assert all(thumbnail_path(image.content_hash).exists() for image in images)
        progress = admin_client_.get(reverse("cleaning:api_thumbnails")).json()
        assert progress["state"] == "done" and progress["made"] == 3
    finally:
        celery_app.conf.task_always_eager = False


def test_only_admins_start_the_job_or_read_its_progress(annotator_client, qa_client):
    for client in (annotator_client, qa_client):
        assert client.post(reverse("cleaning:thumbnails_start")).status_code == 403
        assert client.get(reverse("cleaning:api_thumbnails")).status_code == 403
    assert thumbnails_progress()["state"] == "idle"
