"""Shared helpers for the import tests: real tiny images, Open Images files, table counts."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from django.apps import apps
from django.core.management import call_command
from PIL import Image as PILImage

from annotator.dataset.models import ImageLabel, ImportJob, LabelState
from annotator.taxonomy.models import Label

FIXTURES = Path(__file__).parent / "fixtures" / "openimages"
CLASSES = FIXTURES / "class-descriptions-boxable.csv"
HIERARCHY = FIXTURES / "bbox_labels_600_hierarchy.json"

# Real MIDs from the class descriptions.
CAT, DOG, CAR, BEAR, TEDDY_BEAR, TORTOISE = "/m/01yrx", "/m/0bt9lr", "/m/0k4j", "/m/01dws", "/m/0kmg4", "/m/011k07"
OI_HEADER = "ImageID,Source,LabelName,Confidence"


def jpeg(path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (32, 24)) -> Path:
    """Write a real (tiny) JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.new("RGB", size, color).save(path, "JPEG", quality=90)
    return path


def oi_write(tmp_path: Path, rows: list[str], *, header: str = OI_HEADER, images: bool = True) -> Path:
    """labels.csv with ``rows`` under tmp_path, and a distinct JPEG for each ImageID under tmp_path/images."""
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    if images:
        for n, image_id in enumerate(sorted({row.split(",")[0] for row in rows})):
            jpeg(tmp_path / "images" / f"{image_id}.jpg", color=(n * 37 % 256, n * 91 % 256, 120))
    (tmp_path / "images").mkdir(exist_ok=True)
    return labels


def oi_import(
    tmp_path: Path,
    *,
    hierarchy: Path | bool = True,
    mapping: Path | None = None,
    labels: Path | None = None,
    classes: Path = CLASSES,
    images_root: Path | None = None,
) -> str:
    """Run import_openimages on tmp_path's labels.csv and images (or the files given); returns its stdout."""
    out = StringIO()
    args = [
        "--labels",
        str(labels or tmp_path / "labels.csv"),
        "--classes",
        str(classes),
        "--images-root",
        str(images_root or tmp_path / "images"),
    ]
    if hierarchy:
        args += ["--hierarchy", str(HIERARCHY if hierarchy is True else hierarchy)]
    if mapping is not None:
        args += ["--mapping", str(mapping)]
    call_command("import_openimages", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def table_counts() -> dict[str, int]:
    """Row counts of every dataset and taxonomy table, except the import job log."""
    models = [*apps.get_app_config("dataset").get_models(), *apps.get_app_config("taxonomy").get_models()]
    return {m._meta.db_table: m._default_manager.count() for m in models if m is not ImportJob}


def labels_of(image_id: int, state: int = LabelState.POSITIVE) -> set[str]:
    """Keys of an image's labels in ``state``."""
    return set(ImageLabel.objects.filter(image_id=image_id, state=state).values_list("label__key", flat=True))


def parent_chain(key: str) -> list[str]:
    """[key, parent key, grandparent key, ...] up to the root."""
    chain = []
    label: Label | None = Label.objects.get(key=key)
    while label is not None:
        chain.append(label.key)
        label = label.parent
    return chain
