"""Thumbnails for the review grid: made once per image, kept under DATA_DIR/thumbnails.

A thumbnail is named by the image's content hash (``ab/cd/abcd….webp``): the bytes of an
image never change under its hash, so a thumbnail never goes stale, may be cached by the
browser for a year, and two runs (or two workers) that meet the same image write the same
file. Writes go to a temporary file moved into place with ``os.replace``: a reader never
sees half a file, and a killed worker leaves at most a stray ``.tmp``.

The whole-dataset job walks the images in id order in bounded batches (``thumbnails_batch``,
called by the Celery task ``thumbnails_make``, which re-queues itself with the next cursor);
its progress lives in Redis so that the admin page and the management command can show it.
A new run supersedes an older one still going (the older one's next batch sees another
run id and stops), so a double click costs one batch, not a second pass.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from PIL import Image as PILImage
from PIL import ImageOps

from annotator.accounts.access import ANY_ROLE
from annotator.accounts.roles import user_has_role
from annotator.dataset.models import Image

logger = logging.getLogger(__name__)

#: Longest side of a thumbnail in pixels: a 48-tile review grid shows them at ~160-200 CSS px,
#: so 256 stays sharp on a 1.5x screen.
THUMBNAIL_SIZE = 256
THUMBNAIL_FORMAT = "WEBP"
THUMBNAIL_CONTENT_TYPE = "image/webp"
THUMBNAIL_QUALITY = 80
#: Images per Celery batch. A 256 px WEBP from a typical 1-4 MP JPEG takes 10-25 ms on one
#: core (JPEG draft decoding keeps it cheap), so a batch is ~5-15 s: short enough for a
#: worker to stay responsive and for progress to move, long enough that queue overhead is
#: negligible.
THUMBNAIL_BATCH = 500
#: Redis hash holding the job's progress.
PROGRESS_KEY = "labelloop:thumbnails:progress"


def thumbnail_root() -> Path:
    return Path(settings.DATA_DIR) / "thumbnails"


def thumbnail_path(content_hash: str) -> Path:
    """Where the thumbnail of the image with this content hash lives (sharded by hash prefix)."""
    if len(content_hash) < 8 or not content_hash.isalnum():
        raise ValueError(f"not a content hash: {content_hash!r}")
    return thumbnail_root() / content_hash[:2] / content_hash[2:4] / f"{content_hash}.webp"


def thumbnail_etag(content_hash: str) -> str:
    return f'"{content_hash[:32]}-{THUMBNAIL_SIZE}"'


class ThumbnailSourceError(Exception):
    """The original image could not be read or decoded."""


def image_source_path(image: Image) -> Path:
    return Path(image.storage_root) / image.relative_path


def thumbnail_make(image: Image) -> tuple[Path, bool]:
    """Make the thumbnail of ``image`` unless it exists; returns (path, made now).

    Raises ThumbnailSourceError when the original is missing or unreadable.
    """
    target = thumbnail_path(image.content_hash)
    if target.exists():
        return target, False
    source = image_source_path(image)
    try:
        with PILImage.open(source) as original:
            # JPEG draft decoding: decode at 1/2, 1/4 or 1/8 scale straight away (much faster).
            original.draft("RGB", (THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2))
            picture = ImageOps.exif_transpose(original).convert("RGB")
            picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), PILImage.Resampling.LANCZOS)
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise ThumbnailSourceError(f"{source}: {exc}") from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        picture.save(temporary, THUMBNAIL_FORMAT, quality=THUMBNAIL_QUALITY, method=4)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target, True


def thumbnail_image_get_for_user(*, user: AbstractBaseUser | AnonymousUser, image_id: int) -> Image:
    """The Image ``image_id`` if ``user`` may see thumbnails (every team role): PermissionDenied, else Http404."""
    if not user_has_role(user, *ANY_ROLE):
        raise PermissionDenied
    image = Image.objects.only("id", "content_hash", "storage_root", "relative_path").filter(pk=image_id).first()
    if image is None:
        raise Http404("no such image")
    return image


# --- the whole-dataset job -----------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    made: int
    skipped: int
    failed: int
    last_id: int | None  # None: nothing left after the cursor


def thumbnails_batch(*, after_id: int, limit: int = THUMBNAIL_BATCH) -> BatchResult:
    """Make the missing thumbnails of up to ``limit`` images with id > ``after_id`` (id order)."""
    images = list(
        Image.objects.filter(id__gt=after_id)
        .order_by("id")
        .only("id", "content_hash", "storage_root", "relative_path")[:limit]
    )
    made = skipped = failed = 0
    for image in images:
        try:
            _, fresh = thumbnail_make(image)
        except ThumbnailSourceError as exc:
            failed += 1
            logger.warning("thumbnail of image %s not made: %s", image.id, exc)
            continue
        made += fresh
        skipped += not fresh
    last = images[-1].id if len(images) == limit else None
    return BatchResult(made, skipped, failed, last)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def thumbnails_progress() -> dict[str, object]:
    """The job's progress: state (idle/running/done), done, total, made, skipped, failed, percent."""
    raw = _redis().hgetall(PROGRESS_KEY)
    if not raw:
        return {"state": "idle", "done": 0, "total": 0, "made": 0, "skipped": 0, "failed": 0, "percent": 0}
    numbers = {key: int(raw.get(key, 0)) for key in ("done", "total", "made", "skipped", "failed")}
    total = numbers["total"]
    percent = 100 if raw.get("state") == "done" else (min(100, 100 * numbers["done"] // total) if total else 0)
    return {"state": raw.get("state", "idle"), **numbers, "percent": percent, "run": raw.get("run", "")}


def thumbnails_run_start() -> str:
    """Begin a new run over every image (superseding one in progress); returns its run id."""
    run = uuid.uuid4().hex
    _redis().delete(PROGRESS_KEY)
    _redis().hset(
        PROGRESS_KEY,
        mapping={
            "run": run,
            "state": "running",
            "done": 0,
            "total": Image.objects.count(),
            "made": 0,
            "skipped": 0,
            "failed": 0,
            "updated": int(time.time()),
        },
    )
    return run


def thumbnails_run_step(*, run: str, after_id: int, limit: int = THUMBNAIL_BATCH) -> int | None:
    """One batch of run ``run``; returns the next cursor, or None when the run ended or was superseded."""
    client = _redis()
    if client.hget(PROGRESS_KEY, "run") != run:
        return None  # a newer run took over
    result = thumbnails_batch(after_id=after_id, limit=limit)
    pipe = client.pipeline()
    pipe.hincrby(PROGRESS_KEY, "made", result.made)
    pipe.hincrby(PROGRESS_KEY, "skipped", result.skipped)
    pipe.hincrby(PROGRESS_KEY, "failed", result.failed)
    pipe.hincrby(PROGRESS_KEY, "done", result.made + result.skipped + result.failed)
    pipe.hset(PROGRESS_KEY, "updated", int(time.time()))
    if result.last_id is None:
        pipe.hset(PROGRESS_KEY, "state", "done")
    pipe.execute()
    return result.last_id
