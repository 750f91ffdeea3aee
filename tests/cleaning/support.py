"""A small world for the cleaning tests: the sample taxonomy, images on disk, truth and evidence.

animal ⊃ cat ⊃ fold_eared_cat; plant ⊃ tree; scene ⊃ forest, indoor, outdoor;
forest ⇒ tree, forest ⇒ outdoor; indoor ⊘ outdoor (tests/taxonomy/sample.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.utils import timezone
from PIL import Image as PILImage

from annotator.dataset.models import Evidence, EvidenceSource, HistorySource, Image, ImageLabel
from annotator.taxonomy.models import Label
from annotator.taxonomy.services import taxonomy_load
from tests.taxonomy.sample import sample_taxonomy


@dataclass
class World:
    labels: dict[str, Label]
    images: list[Image]
    model: EvidenceSource
    competitor: EvidenceSource
    root: Path

    def label(self, key: str) -> Label:
        return self.labels[key]


def images_make(root: Path, count: int, *, start: int = 0) -> list[Image]:
    root.mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(start, start + count):
        path = root / f"img{i:04d}.png"
        PILImage.new("RGB", (48, 32), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)).save(path)
        images.append(
            Image(
                content_hash=f"{i:064x}",
                storage_root=str(root),
                relative_path=path.name,
                size_bytes=path.stat().st_size,
                width=48,
                height=32,
            )
        )
    return Image.objects.bulk_create(images)


def world_make(root: Path, *, images: int = 12) -> World:
    taxonomy_load(data=sample_taxonomy())
    labels = {label.key: label for label in Label.objects.all()}
    imgs = images_make(root, images)
    now = timezone.now()
    model = EvidenceSource.objects.create(kind="model", name="v1.0", refreshed_at=now)
    competitor = EvidenceSource.objects.create(kind="competitor", name="baidu", refreshed_at=now)
    return World(labels=labels, images=imgs, model=model, competitor=competitor, root=root)


def truth(image: Image, label: Label, state: int) -> None:
    ImageLabel.objects.update_or_create(
        image=image, label=label, defaults={"state": state, "source": HistorySource.IMPORT}
    )


def evidence(image: Image, label: Label, source: EvidenceSource, score: float | None, **extra: object) -> Evidence:
    return Evidence.objects.create(image=image, label=label, source=source, score=score, **extra)  # type: ignore[arg-type]
