"""Folder importer: crawled images for one label enter as unverified candidates.

``job.params``:

- ``folder`` (required): absolute path of the folder; images are found recursively and
  stay where they lie (the folder is their storage root);
- ``label`` (required): the key of the project label the crawl was for;
- ``origin`` (default ``crawled``): the Image.Origin of images not seen before;
- ``source_name`` (default ``crawl:<label key>``): the name of the EvidenceSource.

Every image becomes Evidence of the label from the EvidenceSource of kind ``crawl`` named
``source_name``, with a null score and the folder's name as keyword (usually the search
keyword). Nothing here is truth: no ImageLabel or LabelHistory row is written. See
docs/imports-ui.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext as _

from annotator.dataset.importing.images import images_root_check
from annotator.dataset.ingest import (
    ImageSpec,
    ImportContext,
    ImportFailed,
    apply_evidence,
    evidence_source_get_or_create,
    register_images,
)
from annotator.dataset.models import EvidenceSource, Image
from annotator.taxonomy.models import Label

#: File name endings (case-insensitive) that a folder import picks up.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


def images_root_resolve(value: object, *, field: str, file: str | None = None) -> Path:
    """Check a server-side folder named by an admin and return it resolved.

    It must be given as an absolute path (a worker's working directory is nobody's
    business), exist, and pass the core's ``images_root_check`` (a folder, under one of
    ``settings.IMAGE_ROOTS`` when those are set). Raises ImportFailed naming ``field``.
    Used by the folder and Label Studio importers and by the web form.
    """
    if not isinstance(value, str) or not value.strip():
        raise ImportFailed(_("a folder is required"), file=file, field=field)
    path = Path(value.strip()).expanduser()
    if not path.is_absolute():
        raise ImportFailed(_('"%(value)s" is not an absolute path') % {"value": value}, file=file, field=field)
    return images_root_check(path, file=file, field=field)


def origin_check(value: object, *, default: str, field: str = "origin") -> str:
    """An Image.Origin value, ``default`` when empty; ImportFailed naming ``field`` otherwise."""
    origin = value or default
    if origin not in Image.Origin.values:
        allowed = ", ".join(Image.Origin.values)
        raise ImportFailed(f'unknown origin "{origin}" (one of {allowed})', field=field)
    return str(origin)


def folder_images_find(folder: Path) -> list[str]:
    """Relative POSIX paths of the images below ``folder``, sorted (so rows are stable).

    Hidden files and folders (a leading dot: ``.DS_Store``, macOS ``._x.jpg`` sidecars,
    ``.thumbnails/``) are skipped; symbolic links to folders are not followed.
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        base = Path(dirpath)
        for name in filenames:
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            found.append((base / name).relative_to(folder).as_posix())
    found.sort()
    return found


def run(*, ctx: ImportContext) -> dict[str, int]:
    """Register every image below the folder and record it as crawl evidence for the label."""
    params = ctx.params
    folder = images_root_resolve(params.get("folder"), field="folder")
    key = params.get("label")
    if not isinstance(key, str) or not key.strip():
        raise ImportFailed("a label key is required", field="label")
    label = Label.objects.filter(key=key.strip()).only("id", "key").first()
    if label is None:
        raise ImportFailed(f'unknown label key "{key.strip()}"', field="label")
    origin = origin_check(params.get("origin"), default=Image.Origin.CRAWLED)
    source_name = str(params.get("source_name") or f"crawl:{label.key}")

    ctx.progress("scanning folder", 0, 0)
    paths = folder_images_find(folder)
    if not paths:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ImportFailed(f'no images ({suffixes}) found below "{folder}"', field="folder")
    specs = [
        ImageSpec(path=path, origin=origin, origin_ref=path, file=str(folder / path), row=position)
        for position, path in enumerate(paths, start=1)
    ]
    counts: dict[str, int] = {"files": len(paths)}
    image_ids = register_images(folder, specs, progress=ctx.progress, counts=counts)

    ctx.progress("writing evidence", 0, len(paths))
    source = evidence_source_get_or_create(kind=EvidenceSource.Kind.CRAWL, name=source_name)
    unique_ids = sorted(set(image_ids.values()))
    evidence_counts = apply_evidence(
        ((image_id, label.id, None, folder.name) for image_id in unique_ids),
        source=source,
    )
    ctx.progress("writing evidence", len(paths), len(paths))
    return {**counts, "images": len(unique_ids), **evidence_counts}
