"""Folder import: crawled images for one label enter as crawl evidence, never as truth."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from annotator.dataset.importers.folder import folder_images_find
from annotator.dataset.models import Evidence, EvidenceSource, Image, ImageLabel, ImportJob, LabelHistory
from annotator.taxonomy.models import Label

# The command runs import_job_execute, whose progress goes through a second connection
# that must see the committed job row: these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)


def jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (12, 8)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", size, color).save(path, "JPEG")
    return path


def dataset_state() -> dict[str, list[tuple[object, ...]]]:
    """Everything an import may write, row by row (ids and timestamps included)."""
    return {
        "images": list(Image.objects.order_by("id").values_list()),
        "truth": list(ImageLabel.objects.order_by("id").values_list()),
        "history": list(LabelHistory.objects.order_by("id").values_list()),
        "sources": list(EvidenceSource.objects.order_by("id").values_list()),
        "evidence": list(Evidence.objects.order_by("id").values_list()),
    }


@pytest.fixture
def cat() -> Label:
    animal = Label.objects.create(key="animal", name_en="Animal")
    return Label.objects.create(key="cat", name_en="Cat", parent=animal)


@pytest.fixture
def crawl(tmp_path: Path) -> Path:
    """A crawl for "scottish fold": images in sub-folders, plus files that are not images."""
    folder = tmp_path / "scottish fold"
    jpeg(folder / "a.jpg", (200, 10, 10))
    jpeg(folder / "page2" / "b.JPEG", (10, 200, 10))
    PILImage.new("RGB", (9, 9), (10, 10, 200)).save(folder / "page2" / "c.png", "PNG")
    PILImage.new("RGB", (9, 9), (90, 90, 20)).save(folder / "d.webp", "WEBP")
    (folder / "urls.txt").write_text("https://example.com/a.jpg\n")
    (folder / "._a.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble sidecar, not an image")
    (folder / ".thumbs").mkdir()
    (folder / ".thumbs" / "a.jpg").write_bytes(b"not an image either")
    return folder


def test_images_are_found_recursively_hidden_files_skipped(crawl):
    assert folder_images_find(crawl) == ["a.jpg", "d.webp", "page2/b.JPEG", "page2/c.png"]


def test_candidates_appear_as_crawl_evidence_not_truth(cat, crawl, capsys):
    call_command("import_folder", str(crawl), "--label", "cat")

    images = Image.objects.order_by("relative_path")
    assert [i.relative_path for i in images] == ["a.jpg", "d.webp", "page2/b.JPEG", "page2/c.png"]
    assert {i.origin for i in images} == {Image.Origin.CRAWLED}
    assert {i.storage_root for i in images} == {str(crawl.resolve())}

    source = EvidenceSource.objects.get()
    assert (source.kind, source.name) == (EvidenceSource.Kind.CRAWL, "crawl:cat")
    evidence = Evidence.objects.filter(source=source)
    assert sorted(e.image.relative_path for e in evidence) == [i.relative_path for i in images]
    assert {(e.label_id, e.score, e.keyword) for e in evidence} == {(cat.id, None, "scottish fold")}

    # Not truth: no label (not even the parent), no history.
    assert not ImageLabel.objects.exists()
    assert not LabelHistory.objects.exists()

    job = ImportJob.objects.get()
    assert (job.kind, job.status) == (ImportJob.Kind.FOLDER, ImportJob.Status.SUCCEEDED)
    assert job.counts["files"] == 4 and job.counts["evidence_created"] == 4
    assert "succeeded" in capsys.readouterr().out


def test_same_folder_twice_changes_nothing(cat, crawl):
    call_command("import_folder", str(crawl), "--label", "cat")
    before = dataset_state()

    call_command("import_folder", str(crawl), "--label", "cat")

    assert dataset_state() == before
    second = ImportJob.objects.order_by("-id").first()
    assert second.status == ImportJob.Status.SUCCEEDED
    assert second.counts["evidence_created"] == second.counts["evidence_updated"] == 0
    assert second.counts["images_created"] == 0


def test_corrupt_file_fails_naming_it_and_changes_nothing(cat, crawl):
    call_command("import_folder", str(crawl), "--label", "cat")
    before = dataset_state()
    # A new good image and a truncated one: the whole import must fail.
    jpeg(crawl / "a2.jpg", (1, 2, 3))
    good = (crawl / "page2" / "b.JPEG").read_bytes()
    (crawl / "page2" / "broken.jpg").write_bytes(good[: len(good) // 2])

    with pytest.raises(CommandError) as failure:
        call_command("import_folder", str(crawl), "--label", "cat")

    message = str(failure.value)
    # Files sorted: a.jpg, a2.jpg, d.webp, page2/b.JPEG, page2/broken.jpg -> row 5.
    assert "broken.jpg" in message and "row 5" in message and "nothing was changed" in message
    assert dataset_state() == before
    job = ImportJob.objects.order_by("-id").first()
    assert job.status == ImportJob.Status.FAILED
    assert "broken.jpg" in job.error and "row 5" in job.error


def test_unknown_label_key_is_a_clear_error(cat, crawl):
    with pytest.raises(CommandError, match='field "label": unknown label key "dog"'):
        call_command("import_folder", str(crawl), "--label", "dog")
    assert not Image.objects.exists()


def test_source_name_and_origin_options(cat, crawl):
    call_command("import_folder", str(crawl), "--label", "cat", "--source-name", "baidu-2024", "--origin", "customer")

    assert EvidenceSource.objects.get().name == "baidu-2024"
    assert set(Image.objects.values_list("origin", flat=True)) == {Image.Origin.CUSTOMER}


def test_empty_or_missing_folder_is_a_clear_error(cat, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CommandError, match="no images"):
        call_command("import_folder", str(empty), "--label", "cat")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_folder", str(tmp_path / "missing"), "--label", "cat")


def test_folder_outside_image_roots_is_refused(cat, crawl, tmp_path, settings):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    settings.IMAGE_ROOTS = [allowed.resolve()]
    with pytest.raises(CommandError, match="outside the allowed roots"):
        call_command("import_folder", str(crawl), "--label", "cat")
    assert not Image.objects.exists()
