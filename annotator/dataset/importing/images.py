"""Image registration: validate each file, hash it, get-or-create the Image by content.

An Image is one content at one place (storage root + relative path, unique): the same
bytes under a second path map to the image already registered (the second path gets no
row of its own), and a file whose content changed since it was registered fails the
import ("file changed since it was imported as image N") rather than becoming a second
image at the same place.

Speed (a 250k-image Open Images import):

- a file already registered at the same root and relative path with the same size and
  mtime (``Image.file_mtime_ns``) is trusted without being read again: a re-import, or a
  second labels file over the same images, costs one ``lstat`` per image;
- a new file is read once; the same bytes are hashed (sha256) and decoded;
- JPEGs decode in Pillow's draft mode (DCT scaling to 1/8): every byte of the
  entropy-coded data is still decoded, so truncated and corrupt files fail as with a
  full decode, for about half the CPU;
- files are checked by a pool of ``CHECK_WORKERS`` threads: Pillow's decoder, hashlib and
  file reads release the GIL, and threads (unlike processes) also work inside a Celery
  prefork worker, whose daemonic processes may not fork children.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.utils.translation import gettext
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from annotator.dataset.importing.errors import ImportFailed, ProgressFn, progress_none
from annotator.dataset.importing.staging import copy_rows, raw_cursor, temp_table_create
from annotator.dataset.models import Image

logger = logging.getLogger(__name__)

# Two threads: the machines this runs on have 2+ cores and decoding is CPU-bound.
CHECK_WORKERS = max(1, min(2, os.cpu_count() or 1))
# Files checked between two progress reports / result hand-overs (bounded memory).
CHECK_BATCH = 512
# Files per task handed to a thread.
CHECK_CHUNK = 16


class ImageSpec(NamedTuple):
    """One image an input names.

    ``path`` is relative to the images root, as written in the input (``a/b.jpg``); it is
    also the key of ``register_images``' result. ``file``/``row``/``field`` say where the
    input names it, for the error message (``row`` may be None: the caller can find it
    from ``ImportFailed.subject``, the path). ``split`` ("train"/"val"/"") is set on
    images that have none yet; an image already in the other split is an error (the val
    split is the fixed regression set and never changes).
    """

    path: str
    origin: str = Image.Origin.PUBLIC
    origin_ref: str = ""
    file: str | None = None
    row: int | None = None
    field: str | None = None
    split: str = ""


class _Located(NamedTuple):
    spec: ImageSpec
    relative_path: str  # normalized, "/"-separated
    absolute_path: str  # symlinks resolved, inside the root
    size: int
    mtime_ns: int


class _Checked(NamedTuple):
    content_hash: str
    size: int
    width: int
    height: int
    mtime_ns: int


def _fail(spec: ImageSpec, message: str, *, field: str | None = None) -> ImportFailed:
    return ImportFailed(message, file=spec.file, row=spec.row, field=field or spec.field, subject=spec.path)


def images_root_check(root: Path | str, *, file: str | None = None, field: str | None = "images_root") -> Path:
    """The resolved images root; ImportFailed when it is no folder or lies outside IMAGE_ROOTS."""
    resolved = Path(root).resolve()
    if not resolved.is_dir():
        raise ImportFailed(gettext('images root "%(root)s" is not a folder') % {"root": root}, file=file, field=field)
    allowed: list[Path] = list(settings.IMAGE_ROOTS)
    if allowed and not any(resolved == a or resolved.is_relative_to(a) for a in allowed):
        raise ImportFailed(
            gettext('images root "%(root)s" is outside the allowed roots (LABELLOOP_IMAGE_ROOTS)') % {"root": root},
            file=file,
            field=field,
        )
    return resolved


class _Locator:
    """Finds a spec's file below the root: no absolute paths, no ``..``, no symlink escape.

    Directory real paths are cached, so a file costs one ``lstat`` (plus a ``realpath``
    only when the file itself is a symlink).
    """

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.prefix = self.root.rstrip(os.sep) + os.sep
        self._dirs: dict[str, str] = {}

    def _inside(self, real: str) -> bool:
        return real == self.root or real.startswith(self.prefix)

    def locate(self, spec: ImageSpec) -> _Located:
        raw = spec.path
        if os.sep not in raw and raw not in ("", ".", "..") and "\x00" not in raw:
            rel, folder, name = raw, "", raw  # a plain file name (Open Images): nothing to normalize
        else:
            if not raw or "\x00" in raw:
                raise _fail(spec, "empty image path" if not raw else "image path contains a NUL byte")
            if os.path.isabs(raw):
                raise _fail(spec, f'image path "{raw}" is absolute; it must be relative to the images root')
            rel = os.path.normpath(raw)
            if rel == ".." or rel.startswith(".." + os.sep) or rel == ".":
                raise _fail(spec, f'image path "{raw}" is outside the images root')
            folder, name = os.path.split(rel)
        real_dir = self._dirs.get(folder)
        if real_dir is None:
            real_dir = os.path.realpath(os.path.join(self.root, folder))
            self._dirs[folder] = real_dir
        if not self._inside(real_dir):
            raise _fail(spec, f'image path "{raw}" is outside the images root (a symlink leads out of it)')
        full = f"{real_dir}{os.sep}{name}"
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                full = os.path.realpath(full)
                if not self._inside(full):
                    raise _fail(spec, f'image path "{raw}" is outside the images root (a symlink leads out of it)')
                st = os.stat(full)
        except FileNotFoundError:
            raise _fail(spec, f'image "{raw}" not found under the images root') from None
        except OSError as exc:
            raise _fail(spec, f'image "{raw}" is unreadable ({exc.strerror})') from None
        if not stat.S_ISREG(st.st_mode):
            raise _fail(spec, f'image "{raw}" is not a regular file')
        return _Located(spec, rel.replace(os.sep, "/"), full, st.st_size, st.st_mtime_ns)


def _inspect(path: str, max_pixels: int) -> _Checked | str:
    """Read, hash and decode one file; an error message instead when it is no usable image."""
    try:
        with open(path, "rb") as fh:
            mtime_ns = os.fstat(fh.fileno()).st_mtime_ns
            data = fh.read()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not data:
        return "the file is empty, not an image"
    digest = hashlib.sha256(data).hexdigest()
    try:
        with PILImage.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                return _bomb(width, height, max_pixels)
            if img.format == "JPEG":
                # DCT scaling: all entropy-coded data is still decoded (see module docstring).
                img.draft(None, (max(1, width // 8), max(1, height // 8)))
            img.load()
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as exc:
        return f"decompression bomb: {exc} (LABELLOOP_MAX_IMAGE_PIXELS)"
    except UnidentifiedImageError:
        return "not an image (no image format recognises it)"
    except Exception as exc:  # a decoder boundary: any failure means the file is damaged
        return f"corrupt or truncated image ({exc})"
    return _Checked(digest, len(data), width, height, mtime_ns)


def _changed_message(path: str, image_id: int) -> str:
    return (
        f'image "{path}": file changed since it was imported as image {image_id} '
        "(its content is not what was registered at this path; put the original back, "
        "or give the new file a new name)"
    )


def _bomb(width: int, height: int, max_pixels: int) -> str:
    return (
        f"decompression bomb: {width}x{height} = {width * height} pixels, "
        f"the limit is {max_pixels} (LABELLOOP_MAX_IMAGE_PIXELS)"
    )


def _check_all(
    located: list[_Located], *, placed: dict[str, _Placed], progress: ProgressFn, done_before: int, total: int
) -> list[_Checked]:
    """Inspect files with a thread pool, in order; ImportFailed for the first bad one.

    A file whose place (root and path) is registered with other content is bad too: the
    image there would silently become a second image at the same place.
    """
    max_pixels = int(settings.MAX_IMAGE_PIXELS)
    results: list[_Checked] = []
    saved_limit = PILImage.MAX_IMAGE_PIXELS
    PILImage.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings(), ThreadPoolExecutor(CHECK_WORKERS) as pool:
            # Set in this thread, seen by the pool's threads: a bomb warning is an error too.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            for start in range(0, len(located), CHECK_BATCH):
                batch = located[start : start + CHECK_BATCH]
                # A few files per task: one future per file costs as much as checking a tiny file.
                chunks = [batch[i : i + CHECK_CHUNK] for i in range(0, len(batch), CHECK_CHUNK)]
                outcomes = [
                    o
                    for chunk in pool.map(lambda c: [_inspect(x.absolute_path, max_pixels) for x in c], chunks)
                    for o in chunk
                ]
                for item, outcome in zip(batch, outcomes, strict=True):
                    if isinstance(outcome, str):
                        raise _fail(item.spec, f'image "{item.spec.path}": {outcome}')
                    there = placed.get(item.relative_path)
                    if there is not None and there.content_hash != outcome.content_hash:
                        raise _fail(item.spec, _changed_message(item.spec.path, there.image_id))
                    results.append(outcome)
                progress("images", done_before + start + len(batch), total)
    finally:
        PILImage.MAX_IMAGE_PIXELS = saved_limit
    return results


def register_images(
    root: Path | str,
    specs: Iterable[ImageSpec],
    *,
    progress: ProgressFn | None = None,
    counts: dict[str, int] | None = None,
) -> dict[str, int]:
    """Validate and register images; returns ``{spec.path: image_id}``.

    Each file must exist, lie inside ``root`` (no ``..``, no symlink escaping it), be
    readable, be an image that fully decodes (truncated files fail) and have at most
    ``settings.MAX_IMAGE_PIXELS`` pixels (decompression bombs fail). The same bytes under
    two paths are one image (get-or-create by sha256; the first path registered stays
    the image's location, the other path gets no row). A file already registered at the
    same root and path with the same size and mtime is not read again; one whose content
    differs from what is registered there fails ("file changed since it was imported").
    Raises ImportFailed naming the spec's file/row/field, with ``subject`` = the spec's
    path. Must run inside the import transaction. Adds images_created / images_existing /
    images_checked to ``counts``.
    """
    report = progress or progress_none
    root_path = images_root_check(root)
    storage_root = str(root_path)

    unique: dict[str, ImageSpec] = {}
    for spec in specs:
        first = unique.setdefault(spec.path, spec)
        if first.split != spec.split and spec.split:
            if first.split:
                raise _fail(
                    spec, f'image "{spec.path}" is given two splits ("{first.split}", "{spec.split}")', field="split"
                )
            unique[spec.path] = spec
    valid_origins = set(Image.Origin.values)
    valid_splits = {"", *Image.Split.values}
    locator = _Locator(root_path)
    located: list[_Located] = []
    total = len(unique)
    for i, spec in enumerate(unique.values(), 1):
        if spec.origin not in valid_origins:
            raise _fail(
                spec, f'unknown origin "{spec.origin}" (one of {", ".join(sorted(valid_origins))})', field="origin"
            )
        if spec.split not in valid_splits:
            raise _fail(spec, f'unknown split "{spec.split}" (train, val or empty)', field="split")
        located.append(locator.locate(spec))
        if i % 50_000 == 0:
            report("locate images", i, total)

    with raw_cursor() as cur:
        placed = _known_images(cur, storage_root, located)
        trusted: dict[str, tuple[int, str]] = {}  # spec path -> (image id, split)
        to_check: list[_Located] = []
        for loc in located:
            hit = placed.get(loc.relative_path)
            if hit is not None and hit.mtime_ns is not None and (hit.size, hit.mtime_ns) == (loc.size, loc.mtime_ns):
                trusted[loc.spec.path] = (hit.image_id, hit.split)
            else:
                to_check.append(loc)
        report("images", len(trusted), total)
        checked = _check_all(to_check, placed=placed, progress=report, done_before=len(trusted), total=total)
        created, by_path = _get_or_create(cur, storage_root, to_check, checked)
        ids = {path: image_id for path, (image_id, _) in trusted.items()}
        splits = {path: split for path, (_, split) in trusted.items()}
        for path, (image_id, split) in by_path.items():
            ids[path] = image_id
            splits[path] = split
        _splits_apply(cur, unique, ids, splits)

    if counts is not None:
        counts["images_created"] = counts.get("images_created", 0) + created
        counts["images_existing"] = counts.get("images_existing", 0) + len(unique) - created
        counts["images_checked"] = counts.get("images_checked", 0) + len(to_check)
    logger.info(
        "images: %d named, %d trusted (size+mtime), %d checked, %d created",
        len(unique),
        len(trusted),
        len(to_check),
        created,
    )
    return {spec.path: ids[spec.path] for spec in unique.values()}


class _Placed(NamedTuple):
    """An image already registered at a path below this root."""

    image_id: int
    content_hash: str
    size: int
    mtime_ns: int | None
    split: str


def _known_images(cur: Any, storage_root: str, located: list[_Located]) -> dict[str, _Placed]:
    """Images already registered at these paths below ``storage_root``, by relative path."""
    if not located:
        return {}
    temp_table_create(cur, "tt_image_paths", "relative_path text")
    copy_rows(cur, "tt_image_paths", ["relative_path"], ((loc.relative_path,) for loc in located))
    cur.execute(
        """SELECT i.relative_path, i.id, i.content_hash, i.size_bytes, i.file_mtime_ns, i.split
           FROM dataset_image i JOIN (SELECT DISTINCT relative_path FROM tt_image_paths) p
             ON p.relative_path = i.relative_path
           WHERE i.storage_root = %s""",
        [storage_root],
    )
    return {path: _Placed(*rest) for path, *rest in cur.fetchall()}


def _get_or_create(
    cur: Any, storage_root: str, located: list[_Located], checked: list[_Checked]
) -> tuple[int, dict[str, tuple[int, str]]]:
    """Insert the images whose content is new; returns (created, {spec path: (id, split)})."""
    if not located:
        return 0, {}
    temp_table_create(
        cur,
        "tt_image_new",
        "content_hash text, relative_path text, size_bytes bigint, width integer, height integer, "
        "origin text, origin_ref text, file_mtime_ns bigint, ord integer",
    )
    copy_rows(
        cur,
        "tt_image_new",
        [
            "content_hash",
            "relative_path",
            "size_bytes",
            "width",
            "height",
            "origin",
            "origin_ref",
            "file_mtime_ns",
            "ord",
        ],
        (
            (
                c.content_hash,
                loc.relative_path,
                c.size,
                c.width,
                c.height,
                loc.spec.origin,
                loc.spec.origin_ref[:500],
                c.mtime_ns,
                i,
            )
            for i, (loc, c) in enumerate(zip(located, checked, strict=True))
        ),
    )
    # The first path naming some bytes becomes their location; ON CONFLICT: already known.
    cur.execute(
        """INSERT INTO dataset_image (content_hash, storage_root, relative_path, size_bytes, width, height,
                                      origin, origin_ref, split, file_mtime_ns, created_at)
           SELECT DISTINCT ON (content_hash) content_hash, %s, relative_path, size_bytes, width, height,
                  origin, origin_ref, '', file_mtime_ns, now()
           FROM tt_image_new ORDER BY content_hash, ord
           ON CONFLICT (content_hash) DO NOTHING""",
        [storage_root],
    )
    created = cur.rowcount
    # Same bytes at the same place, touched since: remember the new mtime (trusted next time).
    cur.execute(
        """UPDATE dataset_image i SET file_mtime_ns = n.file_mtime_ns
           FROM tt_image_new n
           WHERE i.content_hash = n.content_hash AND i.storage_root = %s AND i.relative_path = n.relative_path
             AND i.file_mtime_ns IS DISTINCT FROM n.file_mtime_ns""",
        [storage_root],
    )
    cur.execute(
        """SELECT n.ord, i.id, i.split FROM tt_image_new n JOIN dataset_image i ON i.content_hash = n.content_hash"""
    )
    by_ord = {ord_: (image_id, split) for ord_, image_id, split in cur.fetchall()}
    return created, {loc.spec.path: by_ord[i] for i, loc in enumerate(located)}


def _splits_apply(cur: Any, specs: dict[str, ImageSpec], ids: dict[str, int], splits: dict[str, str]) -> None:
    """Give images without a split the one their spec names; a different split is an error."""
    wanted: dict[int, str] = {}
    for path, spec in specs.items():
        if not spec.split:
            continue
        current = splits[path]
        if current and current != spec.split:
            raise _fail(
                spec,
                f'image "{path}" is already in the {current} split; the file says {spec.split} '
                "(an image keeps its split: val is the fixed regression set)",
                field="split",
            )
        if not current:
            previous = wanted.setdefault(ids[path], spec.split)
            if previous != spec.split:
                raise _fail(
                    spec, f'image "{path}" has the same content as an image given split {previous}', field="split"
                )
    if wanted:
        temp_table_create(cur, "tt_image_split", "image_id bigint, split text")
        copy_rows(cur, "tt_image_split", ["image_id", "split"], wanted.items())
        cur.execute(
            """UPDATE dataset_image i SET split = s.split FROM tt_image_split s
               WHERE i.id = s.image_id AND i.split = ''"""
        )
