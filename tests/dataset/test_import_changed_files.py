"""An image is one file at one place: a file changed since its import fails the next import,
the same bytes under two paths stay one image, and the database holds one image per place."""

from __future__ import annotations

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from annotator.dataset.models import Image, ImportJob
from annotator.taxonomy.models import Label
from tests.dataset.imports_support import jpeg, labels_of, table_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(tmp_path: Path) -> Path:
    Label.objects.create(key="cat", name_en="Cat")
    folder = tmp_path / "photos"
    jpeg(folder / "a.jpg", color=(200, 30, 30))
    jpeg(folder / "b.jpg", color=(30, 200, 30))
    return folder


def csv_import(tmp_path: Path, root: Path, text: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    call_command("import_csv", str(path), "--images-root", str(root), stdout=StringIO(), stderr=StringIO())


def test_a_file_changed_since_its_import_fails_the_next_import(tmp_path, root):
    csv_import(tmp_path, root, "image,labels\na.jpg,cat\nb.jpg,\n")
    first = Image.objects.get(relative_path="b.jpg")
    jpeg(root / "b.jpg", color=(10, 10, 250), size=(40, 30))  # other bytes at the same place
    before = table_counts()

    with pytest.raises(CommandError) as failure:
        csv_import(tmp_path, root, "image,labels\na.jpg,cat\nb.jpg,cat\n")

    changed = f'image "b.jpg": file changed since it was imported as image {first.pk}'
    assert f'labels.csv, row 3, field "image": {changed}' in str(failure.value)
    assert table_counts() == before  # nothing changed: no second image, no label
    assert Image.objects.filter(relative_path="b.jpg").count() == 1
    assert labels_of(first.pk) == set()
    assert ImportJob.objects.order_by("-id").first().status == ImportJob.Status.FAILED


def test_a_file_touched_but_unchanged_is_still_the_same_image(tmp_path, root):
    csv_import(tmp_path, root, "image,labels\na.jpg,cat\n")
    image = Image.objects.get()
    stat = (root / "a.jpg").stat()
    os.utime(root / "a.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    csv_import(tmp_path, root, "image,labels\na.jpg,cat\n")

    assert list(Image.objects.values_list("id", flat=True)) == [image.pk]
    assert ImportJob.objects.order_by("-id").first().counts["images_checked"] == 1  # read again, same content


def test_the_same_bytes_at_two_paths_stay_one_image_at_the_first_path(tmp_path, root):
    (root / "copy.jpg").write_bytes((root / "a.jpg").read_bytes())

    csv_import(tmp_path, root, "image,labels\na.jpg,\ncopy.jpg,cat\n")
    csv_import(tmp_path, root, "image,labels\ncopy.jpg,cat\na.jpg,\n")  # again, in the other order

    only = Image.objects.get()
    assert only.relative_path == "a.jpg"  # the second path is not registered as a row of its own
    assert labels_of(only.pk) == {"cat"}


def test_the_database_holds_one_image_per_place():
    Image.objects.create(
        content_hash="a" * 64, storage_root="/srv", relative_path="x.jpg", size_bytes=1, width=1, height=1
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.create(
            content_hash="b" * 64, storage_root="/srv", relative_path="x.jpg", size_bytes=2, width=1, height=1
        )
    Image.objects.create(  # the same path below another root is another place
        content_hash="c" * 64, storage_root="/mnt", relative_path="x.jpg", size_bytes=3, width=1, height=1
    )
