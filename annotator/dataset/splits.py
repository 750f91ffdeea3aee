"""Per-label stratified train/val split for multi-label data, stable forever.

Label membership: an image belongs to label L when it has a positive ImageLabel for L
or for any label whose closure holds L (cat ⇒ animal), so the split is balanced for the
labels a snapshot manifest will list. Only active labels count.

Algorithm (iterative stratification, Sechidis, Tsoumakas & Vlahavas 2011, in batches):

1. Each label L with n(L) images wants ``round(f·n(L))`` of them in val
   (f = settings.VAL_FRACTION). Images that already have a split keep it; what they
   contribute is subtracted, so new images make up for the difference.
2. Labels are processed rarest first (fewest images still without a split). All of
   the label's free images are placed at once: exactly as many go to val as the label
   still needs, and the ones chosen are those whose *other* labels lack val images the
   most (the share of their remaining images that must still go to val). Because the
   label's remaining images add up to exactly what it still needs, a label ends off
   target only when rarer labels already pushed too many of its images to one side.
3. A repair pass flips single new images between train and val while that lowers the
   worst deviation without pushing another label past one image off.
4. Images without any label fill val up to the global fraction.

Everything is numpy on integer arrays read with a binary COPY, and the result is
written with ``UPDATE … WHERE id = ANY(%s) AND split = ''`` in batches; an image that
has a split is never touched (the guard in the WHERE makes that true even for rows
another process assigned meanwhile). Measured on the 2-core reference machine under
load, 1M images with 3.9M positives (7.6M memberships after the closure): 16 s to read
and expand, 3 s to assign, about 80 s for PostgreSQL to update the million rows;
520 MB peak. A later run reads the same but updates only the new images.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from annotator.dataset.models import Image, LabelState
from annotator.taxonomy.models import Label
from annotator.taxonomy.selectors import taxonomy_graph_get

logger = logging.getLogger(__name__)

FREE, TRAIN, VAL = 0, 1, 2
SPLIT_CODES = {"": FREE, Image.Split.TRAIN: TRAIN, Image.Split.VAL: VAL}
# Rows per UPDATE: 50k ids are a 400 kB array parameter and took 3-5 s on the 2-core
# reference machine (PostgreSQL rewrites each row and its five index entries); small
# enough that progress shows in the log, large enough that round trips do not matter.
UPDATE_BATCH = 50_000
# The acceptance bound ("9:1 within one image") applies to labels with this many images.
BOUND_MIN_IMAGES = 10
# Flips tried per repair step at most (a frequent label can have 500k candidates).
REPAIR_CANDIDATES = 20_000
# First halves of a swap tried per repair step (the flips that hurt least on their own).
SWAP_FIRST_MOVES = 16
SPLIT_LOCK_ID = 0x7A40_0002


@dataclass(frozen=True)
class LabelSplitCount:
    key: str
    images: int
    train: int
    val: int
    target_val: int

    @property
    def deviation(self) -> int:
        """val − round(f·images): positive when val holds too many."""
        return self.val - self.target_val


@dataclass(frozen=True)
class SplitReport:
    seed: int
    val_fraction: float
    assigned_train: int
    assigned_val: int
    total_train: int
    total_val: int
    labels: list[LabelSplitCount]

    @property
    def worst(self) -> LabelSplitCount | None:
        """The label furthest from its target among labels with ≥ BOUND_MIN_IMAGES images."""
        bounded = [row for row in self.labels if row.images >= BOUND_MIN_IMAGES]
        return max(bounded, key=lambda row: (abs(row.deviation), row.images), default=None)

    @property
    def worst_deviation(self) -> int:
        worst = self.worst
        return abs(worst.deviation) if worst is not None else 0


# ---------------------------------------------------------------------------------------
# The algorithm, on plain arrays


@dataclass
class Memberships:
    """Images × labels as CSR (labels of each image) and CSC (images of each label)."""

    n_images: int
    n_labels: int
    indptr: np.ndarray  # by image
    indices: np.ndarray  # label index per entry
    label_indptr: np.ndarray  # by label
    label_images: np.ndarray  # image index per entry

    @classmethod
    def from_pairs(cls, images: np.ndarray, labels: np.ndarray, *, n_images: int, n_labels: int) -> Memberships:
        """From (image index, label index) pairs; duplicates are dropped."""
        # sort + neighbour compare: np.unique is over 100× slower on this in numpy 2.4.
        keys = np.sort(images.astype(np.int64) * n_labels + labels.astype(np.int64))
        if len(keys):
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        # int32 halves the memory of the big arrays (7.6M memberships at 1M images: 400 MB saved).
        image_of, label_of = (keys // n_labels).astype(np.int32), (keys % n_labels).astype(np.int32)
        del keys
        indptr = np.zeros(n_images + 1, dtype=np.int64)
        np.cumsum(np.bincount(image_of, minlength=n_images), out=indptr[1:])
        order = np.argsort(label_of, kind="stable")
        label_indptr = np.zeros(n_labels + 1, dtype=np.int64)
        np.cumsum(np.bincount(label_of, minlength=n_labels), out=label_indptr[1:])
        return cls(n_images, n_labels, indptr, label_of, label_indptr, image_of[order])

    def labels_of(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``images``, label index) for every label of the given images."""
        starts, ends = self.indptr[images], self.indptr[images + 1]
        lengths = ends - starts
        owner = np.repeat(np.arange(len(images)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return owner, self.indices[np.repeat(starts, lengths) + offsets]

    def images_of(self, label: int) -> np.ndarray:
        return self.label_images[self.label_indptr[label] : self.label_indptr[label + 1]]

    def counts(self, codes: np.ndarray, code: int) -> np.ndarray:
        """Per label: how many of its images have ``code``."""
        chosen = np.flatnonzero(codes == code)
        _, labels = self.labels_of(chosen)
        return np.bincount(labels, minlength=self.n_labels)


def label_targets(sizes: np.ndarray, val_fraction: float) -> np.ndarray:
    """round(f·n), halves rounded up, the same everywhere (report, tests, assignment)."""
    return np.floor(sizes * val_fraction + 0.5).astype(np.int64)


def stratified_assign(members: Memberships, codes: np.ndarray, *, val_fraction: float, seed: int) -> np.ndarray:
    """Codes for every image: the given TRAIN/VAL codes kept, every FREE one assigned."""
    rng = np.random.default_rng(seed)
    codes = codes.astype(np.int8).copy()
    free = codes == FREE
    sizes = np.diff(members.label_indptr)
    need_val = label_targets(sizes, val_fraction) - members.counts(codes, VAL)
    remaining = members.counts(np.where(free, 1, 0), 1)  # free images per label

    done = remaining == 0
    while not done.all():
        label = int(np.argmin(np.where(done, np.iinfo(np.int64).max, remaining)))
        done[label] = True
        batch = members.images_of(label)
        batch = batch[codes[batch] == FREE]
        if len(batch) == 0:
            continue
        to_val = int(np.clip(need_val[label], 0, len(batch)))
        chosen = _pick_val(members, batch, to_val, need_val, remaining, val_fraction, rng)
        codes[batch] = TRAIN
        codes[chosen] = VAL
        _, labels = members.labels_of(batch)
        remaining -= np.bincount(labels, minlength=members.n_labels)
        _, val_labels = members.labels_of(chosen)
        need_val -= np.bincount(val_labels, minlength=members.n_labels)

    labelled = np.diff(members.indptr) > 0
    _repair(members, codes, free & labelled, sizes, val_fraction, rng)

    unlabelled = np.flatnonzero(free & ~labelled)
    if len(unlabelled):
        wanted = math.floor(len(codes) * val_fraction + 0.5) - int((codes == VAL).sum())
        take = int(np.clip(wanted, 0, len(unlabelled)))
        order = rng.permutation(unlabelled)
        codes[order[:take]] = VAL
        codes[order[take:]] = TRAIN
    return codes


def _pick_val(
    members: Memberships,
    batch: np.ndarray,
    count: int,
    need_val: np.ndarray,
    remaining: np.ndarray,
    val_fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``count`` images of ``batch`` for val: those whose labels lack val images the most.

    Picked in a few rounds so that a label whose need is met stops attracting picks
    (its urgency turns negative) before the batch overshoots it.
    """
    if count == 0:
        return batch[:0]
    if count == len(batch):
        return batch
    need = need_val.astype(np.float64).copy()
    left = remaining.astype(np.float64).copy()
    available = np.ones(len(batch), dtype=bool)
    owner, labels = members.labels_of(batch)
    jitter = rng.random(len(batch)) * 1e-6  # seeded tie-break
    picked: list[np.ndarray] = []
    still = count
    rounds = 8
    while still > 0:
        urgency = need / np.maximum(left, 1.0) - val_fraction
        score = np.bincount(owner, weights=urgency[labels], minlength=len(batch)) + jitter
        score[~available] = -np.inf
        take = still if rounds <= 1 else max(1, math.ceil(still / rounds))
        best = np.argpartition(-score, take - 1)[:take]
        available[best] = False
        picked.append(best)
        chosen_labels = labels[np.isin(owner, best)]
        need -= np.bincount(chosen_labels, minlength=len(need))
        left -= np.bincount(chosen_labels, minlength=len(left))
        still -= take
        rounds -= 1
    return batch[np.concatenate(picked)]


def _cost(deviation: np.ndarray) -> np.ndarray:
    """Quadratic, and steeply worse past one image off (the acceptance bound)."""
    over = np.maximum(np.abs(deviation) - 1, 0).astype(np.float64)
    return deviation.astype(np.float64) ** 2 + 64.0 * over**2


def _flip_gains(members: Memberships, images: np.ndarray, deviation: np.ndarray, step: int) -> np.ndarray:
    """Change of total cost if each image alone moved, changing its labels' val counts by ``step``."""
    owner, labels = members.labels_of(images)
    delta = _cost(deviation[labels] + step) - _cost(deviation[labels])
    return np.bincount(owner, weights=delta, minlength=len(images))


def _repair(
    members: Memberships,
    codes: np.ndarray,
    movable: np.ndarray,
    sizes: np.ndarray,
    val_fraction: float,
    rng: np.random.Generator,
) -> None:
    """Move new images between train and val while that strictly lowers the total cost.

    The worst label is fixed first, by one flip of an image it has or, when every such
    flip would push another label too far (a child and its parent share all images),
    by a swap: that flip plus one image of the other side moving back.
    """
    deviation = members.counts(codes, VAL) - label_targets(sizes, val_fraction)
    stuck = np.zeros(members.n_labels, dtype=bool)
    for _ in range(10 * members.n_labels + 1000):
        open_ = np.where(stuck, 0, np.abs(deviation))
        label = int(np.argmax(open_))
        if open_[label] <= 1:
            return
        source, target, step = (VAL, TRAIN, -1) if deviation[label] > 0 else (TRAIN, VAL, 1)
        ours = members.images_of(label)
        ours = ours[movable[ours] & (codes[ours] == source)]
        if len(ours) > REPAIR_CANDIDATES:
            ours = rng.choice(ours, REPAIR_CANDIDATES, replace=False)
        moves = _best_move(members, codes, movable, ours, label, deviation, step, target, rng)
        if not moves:
            stuck[label] = True
            continue
        for image, image_step in moves:
            codes[image] = VAL if image_step > 0 else TRAIN
            deviation[members.indices[members.indptr[image] : members.indptr[image + 1]]] += image_step
        stuck[:] = False
    logger.warning("split repair stopped at its step limit")


def _best_move(
    members: Memberships,
    codes: np.ndarray,
    movable: np.ndarray,
    ours: np.ndarray,
    label: int,
    deviation: np.ndarray,
    step: int,
    target: int,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """The improving flip or swap for ``label`` as [(image, step)…]; empty when none helps."""
    if len(ours) == 0:
        return []
    gains = _flip_gains(members, ours, deviation, step)
    best = int(np.argmin(gains))
    if gains[best] < 0:
        return [(int(ours[best]), step)]
    # Swap partners: new images on the other side without this label, moving back.
    others = np.flatnonzero(movable & (codes == target))
    if len(others) > REPAIR_CANDIDATES:
        others = rng.choice(others, REPAIR_CANDIDATES, replace=False)
    owner, labels = members.labels_of(others)
    others = others[np.bincount(owner, weights=labels == label, minlength=len(others)) == 0]
    if len(others) == 0:
        return []
    owner, labels = members.labels_of(others)
    best_total, best_pair = 0.0, None
    for first in np.argsort(gains, kind="stable")[:SWAP_FIRST_MOVES]:
        image = int(ours[first])
        moved = deviation.copy()
        moved[members.indices[members.indptr[image] : members.indptr[image + 1]]] += step
        delta = _cost(moved[labels] - step) - _cost(moved[labels])
        back = np.bincount(owner, weights=delta, minlength=len(others))
        second = int(np.argmin(back))
        total = gains[first] + back[second]
        if total < best_total:
            best_total, best_pair = total, [(image, step), (int(others[second]), -step)]
    return best_pair or []


# ---------------------------------------------------------------------------------------
# Database I/O


def _copy_int64(sql: str, params: list[object] | None = None, *, columns: int) -> np.ndarray:
    """Run ``COPY (sql) TO STDOUT`` in binary and return an (n, columns) int64 array.

    Every column must be a non-null bigint: each row is then a fixed 2 + 12·columns
    bytes, which numpy reads in one go instead of a Python object per value.
    """
    buffer = bytearray()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
            for block in copy:
                buffer += block
    if not buffer:
        return np.zeros((0, columns), dtype=np.int64)
    if not buffer.startswith(b"PGCOPY\n\xff\r\n\x00"):
        raise RuntimeError("unexpected COPY binary header")
    header = 19 + int.from_bytes(buffer[15:19], "big")
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for column in range(columns):
        fields += [(f"length{column}", ">i4"), (f"value{column}", ">i8")]
    dtype = np.dtype(fields)
    rows = (len(buffer) - header - 2) // dtype.itemsize
    data = np.frombuffer(buffer, dtype=dtype, count=rows, offset=header)
    if (data["count"] != columns).any() or any((data[f"length{c}"] != 8).any() for c in range(columns)):
        raise RuntimeError("COPY returned a null or non-bigint column")
    return np.stack([data[f"value{c}"].astype(np.int64) for c in range(columns)], axis=1)


@dataclass
class SplitInput:
    image_ids: np.ndarray
    codes: np.ndarray
    members: Memberships
    label_keys: list[str]


def _split_input() -> SplitInput:
    """Images (id, split) and their active labels, expanded through the closure."""
    images = _copy_int64(
        "SELECT id::bigint, (CASE split WHEN 'train' THEN 1 WHEN 'val' THEN 2 ELSE 0 END)::bigint "
        "FROM dataset_image ORDER BY id",
        columns=2,
    )
    image_ids, codes = images[:, 0], images[:, 1].astype(np.int8)
    pairs = _copy_int64(
        "SELECT image_id::bigint, label_id::bigint FROM dataset_imagelabel WHERE state = %s",
        [int(LabelState.POSITIVE)],
        columns=2,
    )
    graph = taxonomy_graph_get()
    active = dict(Label.objects.filter(is_active=True).order_by("id").values_list("id", "key"))
    active_index = {label_id: index for index, label_id in enumerate(active)}
    all_ids = np.array(sorted(graph.parent), dtype=np.int64)
    # For each label (active or not): the active labels its positive makes positive.
    expansion = [
        sorted(active_index[i] for i in graph.expand([label_id]) if i in active_index) for label_id in all_ids.tolist()
    ]
    exp_len = np.array([len(e) for e in expansion], dtype=np.int64)
    exp_flat = np.array([i for e in expansion for i in e], dtype=np.int64)
    exp_start = np.cumsum(exp_len) - exp_len

    image_pos = np.searchsorted(image_ids, pairs[:, 0])
    label_pos = np.searchsorted(all_ids, pairs[:, 1])
    known = (image_pos < len(image_ids)) & (label_pos < len(all_ids))
    known[known] &= (image_ids[image_pos[known]] == pairs[known, 0]) & (all_ids[label_pos[known]] == pairs[known, 1])
    image_pos, label_pos = image_pos[known], label_pos[known]  # rows added since the images were read
    del pairs, known
    lengths = exp_len[label_pos]
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    offsets += np.repeat(exp_start[label_pos], lengths)
    expanded = exp_flat[offsets]
    del offsets
    members = Memberships.from_pairs(
        np.repeat(image_pos, lengths), expanded, n_images=len(image_ids), n_labels=len(active)
    )
    return SplitInput(image_ids, codes, members, list(active.values()))


def _report(data: SplitInput, codes: np.ndarray, *, seed: int, val_fraction: float) -> SplitReport:
    members = data.members
    sizes = np.diff(members.label_indptr)
    val = members.counts(codes, VAL)
    targets = label_targets(sizes, val_fraction)
    new = data.codes == FREE
    return SplitReport(
        seed=seed,
        val_fraction=val_fraction,
        assigned_train=int((new & (codes == TRAIN)).sum()),
        assigned_val=int((new & (codes == VAL)).sum()),
        total_train=int((codes == TRAIN).sum()),
        total_val=int((codes == VAL).sum()),
        labels=[
            LabelSplitCount(key, int(sizes[i]), int(sizes[i] - val[i]), int(val[i]), int(targets[i]))
            for i, key in enumerate(data.label_keys)
        ],
    )


def _write(image_ids: np.ndarray, split: str) -> int:
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(image_ids), UPDATE_BATCH):
            batch = image_ids[start : start + UPDATE_BATCH].tolist()
            cursor.execute("UPDATE dataset_image SET split = %s WHERE id = ANY(%s) AND split = ''", [split, batch])
            written += cursor.rowcount
    return written


def splits_assign(*, seed: int = 0) -> SplitReport:
    """Give every image without a split one (train or val), stratified per label.

    Images that have a split keep it forever. Deterministic for a given seed and
    database state. Returns per-label counts over all images and the worst deviation.
    """
    val_fraction = float(settings.VAL_FRACTION)
    with transaction.atomic():
        with connection.cursor() as cursor:  # one splitter at a time; imports may go on
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SPLIT_LOCK_ID])
        data = _split_input()
        codes = stratified_assign(data.members, data.codes, val_fraction=val_fraction, seed=seed)
        new = data.codes == FREE
        expected = int(new.sum())
        written = _write(data.image_ids[new & (codes == TRAIN)], Image.Split.TRAIN)
        written += _write(data.image_ids[new & (codes == VAL)], Image.Split.VAL)
    if written != expected:
        logger.warning("split: %d of %d images were assigned by someone else meanwhile", expected - written, expected)
    report = _report(data, codes, seed=seed, val_fraction=val_fraction)
    logger.info(
        "split: %d train + %d val assigned; worst deviation %d image(s)",
        report.assigned_train,
        report.assigned_val,
        report.worst_deviation,
    )
    return report
