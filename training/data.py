"""Manifest, taxonomy and images → a dataset of multi-hot targets, plus transforms and loaders.

Label order is the taxonomy's label order everywhere (targets, model outputs, files); labels marked
``"active": false`` are not model outputs (see :func:`taxonomy_label_keys`).
A manifest is held in flat numpy arrays (paths in one byte buffer, labels in CSR form) so that
a million-line snapshot costs tens of megabytes and forked data-loading workers share it
without copying.

An image that cannot be read (missing, truncated, not an image) never stops a run: the dataset
returns ``None`` for it, :func:`collate_skip_unreadable` drops it from the batch and reports how
many it dropped in ``batch["skipped"]``, which the engine adds up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ExifTags, Image
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data import default_collate as torch_default_collate
from torchvision.transforms import v2

from training.config import TrainConfig

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_MAX_REPORTED_ERRORS = 10
_EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class DataError(ValueError):
    """Bad manifest or taxonomy content; the message names the file and line or field."""


def load_taxonomy(path: str | Path) -> dict[str, Any]:
    """Read a taxonomy JSON file and check the fields training relies on (labels, unique keys, active flags)."""
    try:
        with open(path, encoding="utf-8") as handle:
            taxonomy = json.load(handle)
    except OSError as error:
        raise DataError(f"cannot read taxonomy {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise DataError(f"taxonomy {path} is not valid JSON: {error}") from error
    labels = taxonomy.get("labels") if isinstance(taxonomy, dict) else None
    if not isinstance(labels, list) or not labels:
        raise DataError(f"taxonomy {path}: 'labels' must be a non-empty list")
    seen: set[str] = set()
    for position, label in enumerate(labels):
        key = label.get("key") if isinstance(label, dict) else None
        if not isinstance(key, str) or not key:
            raise DataError(f"taxonomy {path}: labels[{position}] has no string 'key'")
        if key in seen:
            raise DataError(f"taxonomy {path}: label key {key!r} appears twice")
        if "active" in label and not isinstance(label["active"], bool):
            raise DataError(f"taxonomy {path}: label {key!r} field 'active' must be true or false")
        seen.add(key)
    if all(label.get("active") is False for label in labels):
        raise DataError(f"taxonomy {path}: every label is inactive ('active': false); nothing to train")
    for position, relation in enumerate(taxonomy.get("relations") or []):
        for end in ("src", "dst"):
            if relation.get(end) not in seen:
                raise DataError(f"taxonomy {path}: relations[{position}].{end} {relation.get(end)!r} is not a label")
    return taxonomy


def taxonomy_label_keys(taxonomy: dict[str, Any]) -> list[str]:
    """The active label keys in taxonomy order: the columns of targets and model outputs.

    A label with ``"active": false`` is not a column: snapshots keep inactive labels in the
    taxonomy (it is the taxonomy as it was) but never list them in a manifest, so as columns
    they would only learn "always absent". They stay in the taxonomy for relations, so a
    child of an inactive label still implies the active labels above it.
    """
    return [label["key"] for label in taxonomy["labels"] if label.get("active") is not False]


@dataclass(frozen=True)
class Manifest:
    """A manifest in flat arrays: image paths, split codes and CSR lists of label columns.

    ``positives(i)`` / ``negatives(i)`` give label column indices of image ``i``; ``split[i]`` is
    the index into :data:`SPLITS`.
    """

    path_bytes: np.ndarray  # uint8, every path utf-8 encoded back to back
    path_offsets: np.ndarray  # int64 (N + 1,)
    split: np.ndarray  # uint8 (N,)
    pos_offsets: np.ndarray  # int64 (N + 1,)
    pos_labels: np.ndarray  # int32
    neg_offsets: np.ndarray
    neg_labels: np.ndarray

    def __len__(self) -> int:
        return int(self.split.shape[0])

    def image(self, index: int) -> str:
        """The relative image path of record ``index``."""
        start, stop = self.path_offsets[index], self.path_offsets[index + 1]
        return self.path_bytes[start:stop].tobytes().decode("utf-8")

    def positives(self, index: int) -> np.ndarray:
        """Label columns listed as present for record ``index``."""
        return self.pos_labels[self.pos_offsets[index] : self.pos_offsets[index + 1]]

    def negatives(self, index: int) -> np.ndarray:
        """Label columns verified absent for record ``index``."""
        return self.neg_labels[self.neg_offsets[index] : self.neg_offsets[index + 1]]

    def indices_of(self, split: str) -> np.ndarray:
        """Record indices whose split is ``split`` ("train" or "val"); "all" gives every record."""
        if split == "all":
            return np.arange(len(self))
        return np.flatnonzero(self.split == SPLITS.index(split))

    def subset(self, indices: np.ndarray) -> Manifest:
        """A new manifest holding records ``indices`` in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        path_offsets, path_bytes = _gather_csr(self.path_offsets, self.path_bytes, indices)
        pos_offsets, pos_labels = _gather_csr(self.pos_offsets, self.pos_labels, indices)
        neg_offsets, neg_labels = _gather_csr(self.neg_offsets, self.neg_labels, indices)
        return Manifest(path_bytes, path_offsets, self.split[indices], pos_offsets, pos_labels, neg_offsets, neg_labels)

    def label_counts(self, num_labels: int) -> np.ndarray:
        """How many records list each label as present, (L,) int64."""
        return np.bincount(self.pos_labels, minlength=num_labels).astype(np.int64)

    def targets(self, num_labels: int) -> np.ndarray:
        """Dense (N, L) uint8 multi-hot matrix of the positives (for evaluation of small sets)."""
        dense = np.zeros((len(self), num_labels), dtype=np.uint8)
        rows = np.repeat(np.arange(len(self)), np.diff(self.pos_offsets))
        dense[rows, self.pos_labels] = 1
        return dense


def _gather_csr(offsets: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lengths = (offsets[rows + 1] - offsets[rows]) if rows.size else np.zeros(0, dtype=np.int64)
    new_offsets = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    starts = np.repeat(offsets[rows] - new_offsets[:-1], lengths)
    positions = starts + np.arange(new_offsets[-1], dtype=np.int64)
    return new_offsets, values[positions]


def _label_columns(
    record: dict[str, Any],
    field: str,
    columns: dict[str, int] | None,
    where: str,
    problems: list[str],
    ignored: Collection[str] = (),
) -> list[int]:
    values = record.get(field, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        problems.append(f"{where}: {field!r} must be a list of label keys")
        return []
    if columns is None:
        return []
    unknown = [v for v in values if v not in columns and v not in ignored]
    if unknown:
        problems.append(f"{where}: {field} {', '.join(map(repr, unknown))} not in the taxonomy")
        return []
    return sorted({columns[v] for v in values if v in columns})


def inactive_label_keys(taxonomy: dict[str, Any]) -> set[str]:
    """Keys of the taxonomy's inactive labels: known, but not model outputs."""
    return {label["key"] for label in taxonomy["labels"] if label.get("active") is False}


def read_manifest(path: str | Path, label_keys: Sequence[str] | None, *, ignored: Collection[str] = ()) -> Manifest:
    """Read a JSON Lines manifest; labels become column indices into ``label_keys``.

    With ``label_keys=None`` labels are not read at all (prediction only needs images).
    Raises :class:`DataError` listing the first problems with their line numbers: bad JSON,
    missing ``image``, a ``split`` other than train/val, a label unknown to the taxonomy, a label
    both listed and verified absent. Labels in ``ignored`` (the taxonomy's inactive labels) are
    known but not columns: they are skipped, not reported.
    """
    columns = None if label_keys is None else {key: i for i, key in enumerate(label_keys)}
    paths: list[bytes] = []
    splits: list[int] = []
    pos_rows: list[list[int]] = []
    neg_rows: list[list[int]] = []
    problems: list[str] = []
    if not Path(path).is_file():
        raise DataError(f"cannot read manifest {path}: no such file")
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{where}: not valid JSON ({error.msg})")
                continue
            image = record.get("image") if isinstance(record, dict) else None
            if not isinstance(image, str) or not image:
                problems.append(f"{where}: missing 'image'")
                continue
            if record.get("split") not in SPLITS:
                problems.append(f"{where}: split {record.get('split')!r} is not one of {', '.join(SPLITS)}")
                continue
            positives = _label_columns(record, "labels", columns, where, problems, ignored)
            negatives = _label_columns(record, "negatives", columns, where, problems, ignored)
            both = set(positives) & set(negatives)
            if both and label_keys is not None:
                keys = ", ".join(repr(label_keys[c]) for c in sorted(both))
                problems.append(f"{where}: {keys} listed both in labels and negatives")
            paths.append(image.encode("utf-8"))
            splits.append(SPLITS.index(record["split"]))
            pos_rows.append(positives)
            neg_rows.append(negatives)
            if len(problems) >= _MAX_REPORTED_ERRORS:
                break
    if problems:
        more = " (stopped after the first problems)" if len(problems) >= _MAX_REPORTED_ERRORS else ""
        raise DataError(f"manifest {path} has errors{more}:\n  " + "\n  ".join(problems))
    return Manifest(
        path_bytes=np.frombuffer(b"".join(paths), dtype=np.uint8),
        path_offsets=_offsets([len(p) for p in paths]),
        split=np.asarray(splits, dtype=np.uint8),
        pos_offsets=_offsets([len(r) for r in pos_rows]),
        pos_labels=np.fromiter((c for r in pos_rows for c in r), dtype=np.int32),
        neg_offsets=_offsets([len(r) for r in neg_rows]),
        neg_labels=np.fromiter((c for r in neg_rows for c in r), dtype=np.int32),
    )


def _offsets(lengths: list[int]) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    return offsets


def load_image(path: str | os.PathLike[str], draft_size: int | None = None) -> Image.Image:
    """Open an image as RGB, honouring EXIF orientation (as browsers show it to annotators).

    ``draft_size`` lets the JPEG decoder downscale by 1/2, 1/4 or 1/8 while keeping both sides
    at least that many pixels: decoding a 12-megapixel photo gets several times faster.
    """
    with Image.open(path) as opened:
        if draft_size and opened.format == "JPEG":
            opened.draft("RGB", (draft_size, draft_size))
        # Read the orientation ourselves: ImageOps.exif_transpose copies the whole image even
        # when there is nothing to turn, which costs as much as the decode of a large photo.
        turn = _EXIF_TRANSPOSE.get(opened.getexif().get(ExifTags.Base.Orientation, 1))
        image = opened.convert("RGB")
    return image if turn is None else image.transpose(turn)


def train_transform(config: TrainConfig) -> v2.Compose:
    """RandomResizedCrop + horizontal flip + ColorJitter, then float tensor normalised as ImageNet."""
    ops: list[Any] = [
        v2.RandomResizedCrop(config.image_size, scale=(config.crop_scale_min, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.PILToTensor(),
    ]
    if config.color_jitter > 0:
        ops.append(v2.ColorJitter(config.color_jitter, config.color_jitter, config.color_jitter))
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(ops)


def eval_transform(config: TrainConfig) -> v2.Compose:
    """Resize the short side to ``image_size / eval_crop_ratio``, center-crop ``image_size``, normalise."""
    resize = int(round(config.image_size / config.eval_crop_ratio))
    return v2.Compose(
        [
            v2.Resize(resize, antialias=True),
            v2.CenterCrop(config.image_size),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def draft_size(config: TrainConfig, train: bool) -> int | None:
    """Smallest decoded short side that still gives every crop full resolution (None: no draft)."""
    if not config.decode_draft:
        return None
    if train:
        # RandomResizedCrop's smallest crop side: sqrt(scale_min * 3/4) of the short side.
        return math.ceil(config.image_size / math.sqrt(config.crop_scale_min * 0.75))
    return math.ceil(config.image_size / config.eval_crop_ratio)


class MultiLabelDataset(Dataset[dict[str, Any] | None]):
    """Images of a manifest with multi-hot targets and loss masks.

    An item is ``{"image": float tensor (3, S, S), "target": float (L,), "mask": float (L,),
    "index": int}``, or ``None`` when the image cannot be read. ``mask`` is 1 where the label
    counts in the loss: everywhere with ``unknown_as="negative"``; with ``"ignore"`` only on
    positives and verified negatives.
    """

    def __init__(
        self,
        manifest: Manifest,
        images_root: str | Path,
        num_labels: int,
        transform: Any,
        *,
        unknown_as: str = "negative",
        draft: int | None = None,
    ) -> None:
        if unknown_as not in ("negative", "ignore"):
            raise ValueError(f"unknown_as must be 'negative' or 'ignore', got {unknown_as!r}")
        self.manifest = manifest
        self.images_root = Path(images_root)
        self.num_labels = num_labels
        self.transform = transform
        self.unknown_as = unknown_as
        self.draft = draft

    def __len__(self) -> int:
        return len(self.manifest)

    def image_path(self, index: int) -> Path:
        """Absolute path of record ``index``."""
        return self.images_root / self.manifest.image(index)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        path = self.image_path(index)
        try:
            image = load_image(path, self.draft)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            log.warning("skipping unreadable image %s: %s", path, error)
            return None
        target = torch.zeros(self.num_labels, dtype=torch.float32)
        target[torch.from_numpy(self.manifest.positives(index).astype(np.int64))] = 1.0
        if self.unknown_as == "ignore":
            mask = torch.zeros(self.num_labels, dtype=torch.float32)
            mask[torch.from_numpy(self.manifest.positives(index).astype(np.int64))] = 1.0
            mask[torch.from_numpy(self.manifest.negatives(index).astype(np.int64))] = 1.0
        else:
            mask = torch.ones(self.num_labels, dtype=torch.float32)
        return {"image": self.transform(image), "target": target, "mask": mask, "index": index}


def collate_skip_unreadable(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Collate readable items; ``batch["skipped"]`` counts the unreadable ones dropped.

    A batch where every image was unreadable has ``batch["index"]`` empty and no ``image``.
    """
    readable = [item for item in items if item is not None]
    skipped = len(items) - len(readable)
    if not readable:
        return {"index": torch.zeros(0, dtype=torch.int64), "skipped": skipped}
    batch: dict[str, Any] = torch_default_collate(readable)
    batch["skipped"] = skipped
    return batch


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed.

    The torch seed is the loader generator's per-epoch base seed + worker id, so worker
    randomness is fixed by (seed, rank, epoch) and a resumed run draws the same augmentations.
    """
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def build_loader(
    dataset: MultiLabelDataset,
    *,
    batch_size: int,
    sampler: Sampler[int],
    num_workers: int,
    generator: torch.Generator,
    drop_last: bool,
    pin_memory: bool,
) -> DataLoader[Any]:
    """A DataLoader with seeded workers, unreadable-image skipping and a caller-owned generator.

    Re-seed ``generator`` before each epoch (the engine does) to fix the workers' augmentation
    seeds for that epoch. Workers are not persistent, so they restart from that seed each epoch.
    """
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_skip_unreadable,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=seed_worker,
        generator=generator,
        prefetch_factor=4 if num_workers > 0 else None,
    )
