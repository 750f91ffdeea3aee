"""Image registration: validate each file, hash it, get-or-create the Image by content."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from annotator.dataset.importing.errors import ProgressFn


@dataclass(frozen=True)
class ImageSpec:
    """One image an input names.

    ``path`` is relative to the images root, as written in the input (``a/b.jpg``); it is
    also the key of ``register_images``' result. ``file``/``row``/``field`` say where the
    input names it, for the error message. ``split`` ("train"/"val"/"") is set on images
    that have none yet; an image whose split differs is an error (val is the regression set).
    """

    path: str
    origin: str = "public"
    origin_ref: str = ""
    file: str | None = None
    row: int | None = None
    field: str | None = None
    split: str = ""


def register_images(root: Path, specs: Iterable[ImageSpec], *, progress: ProgressFn | None = None) -> dict[str, int]:
    """Validate and register images; returns ``{spec.path: image_id}``.

    Each file must exist, lie inside ``root`` (no ``..``, no symlink escaping it), be
    readable, be an image that fully decodes (truncated files fail) and have at most
    ``settings.MAX_IMAGE_PIXELS`` pixels (decompression bombs fail). The same bytes under
    two paths are one image (get-or-create by sha256). A file already registered at the
    same root and path with the same size and mtime is not read again.
    Raises ImportFailed naming the spec's file/row/field. Runs inside the import transaction.
    """
    raise NotImplementedError
