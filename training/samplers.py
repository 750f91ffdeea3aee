"""Epoch samplers: plain shuffling or repeat-factor sampling (RFS), sharded across DDP ranks.

Repeat-factor sampling (Gupta et al., LVIS, 2019) repeats images that carry rare labels:

- label factor ``r(c) = max(1, F(t / f(c)))``, ``f(c)`` the fraction of training images with
  label ``c``, ``t`` the threshold, ``F`` the identity ("uniform") or the square root ("sqrt");
- image factor ``r(i) = max over the image's labels of r(c)``, 1 for an image without labels;
- every epoch, image ``i`` appears ``floor(r(i))`` times plus once more with probability
  ``r(i) - floor(r(i))`` (stochastic rounding).

The epoch's index list comes from a generator seeded with ``seed + epoch`` and is the same on
every rank; rank ``k`` of ``W`` takes positions ``k, k + W, k + 2W, ...`` after the list is padded
(by wrapping around) to a multiple of ``W``, so ranks get disjoint shares of equal length.
With RFS the epoch length is fixed to ``ceil(sum r(i))`` (the rounded list is cut or wrapped to
it) so that the number of iterations, and with it the learning-rate schedule, is known up front.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from torch.utils.data import Sampler


def label_repeat_factors(label_fraction: np.ndarray, threshold: float, mode: Literal["uniform", "sqrt"]) -> np.ndarray:
    """Per-label ``r(c) = max(1, F(t / f(c)))``; a label with ``f(c) = 0`` gets 1 (it has no images)."""
    if mode not in ("uniform", "sqrt"):
        raise ValueError(f"rfs mode must be 'uniform' or 'sqrt', got {mode!r}")
    fraction = np.asarray(label_fraction, dtype=np.float64)
    ratio = np.divide(threshold, fraction, out=np.ones_like(fraction), where=fraction > 0)
    if mode == "sqrt":
        ratio = np.sqrt(ratio)
    return np.maximum(1.0, ratio)


def image_repeat_factors(
    label_offsets: np.ndarray,
    label_columns: np.ndarray,
    num_labels: int,
    threshold: float,
    mode: Literal["uniform", "sqrt"],
) -> np.ndarray:
    """Per-image ``r(i) = max over its labels of r(c)`` (1 without labels), from CSR label lists.

    ``label_offsets`` (N + 1,) and ``label_columns`` describe each training image's positive
    label columns; ``f(c)`` is computed over these same N images.
    """
    num_images = label_offsets.shape[0] - 1
    counts = np.bincount(label_columns, minlength=num_labels)
    per_label = label_repeat_factors(counts / max(num_images, 1), threshold, mode)
    factors = np.ones(num_images, dtype=np.float64)
    lengths = np.diff(label_offsets)
    has_labels = lengths > 0
    if label_columns.size:
        # reduceat over non-empty segments only (it misreads empty ones).
        maxima = np.maximum.reduceat(per_label[label_columns], label_offsets[:-1][has_labels])
        factors[has_labels] = maxima
    return factors


def stochastic_round(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Integer repeat counts: ``floor(r) + 1`` with probability ``r - floor(r)``, else ``floor(r)``."""
    base = np.floor(factors)
    return (base + (rng.random(factors.shape[0]) < factors - base)).astype(np.int64)


class EpochSampler(Sampler[int]):
    """Shuffled indices (optionally repeat-factor resampled) for one rank of a (possibly DDP) run.

    Call :meth:`set_epoch` before each epoch. The order depends only on ``seed + epoch``, so it is
    identical across ranks and across a resume; :meth:`state_dict` holds all that is needed.
    """

    def __init__(
        self,
        num_items: int,
        *,
        seed: int,
        repeat_factors: np.ndarray | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        if repeat_factors is not None and repeat_factors.shape != (num_items,):
            raise ValueError(f"{repeat_factors.shape[0]} repeat factors for {num_items} items")
        self.num_items = num_items
        self.seed = seed
        self.repeat_factors = repeat_factors
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.epoch = 0
        base = num_items if repeat_factors is None else math.ceil(float(repeat_factors.sum()) - 1e-9)
        self.epoch_length = base
        self.per_rank = math.ceil(base / num_replicas) if base else 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose index list :meth:`__iter__` yields."""
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """The full (all ranks) index list of the current epoch, padded to a multiple of the ranks."""
        rng = np.random.default_rng(self.seed + self.epoch)
        if self.repeat_factors is None:
            indices = np.arange(self.num_items, dtype=np.int64)
        else:
            indices = np.repeat(np.arange(self.num_items, dtype=np.int64), stochastic_round(self.repeat_factors, rng))
        if self.shuffle:
            indices = rng.permutation(indices)
        total = self.per_rank * self.num_replicas
        if indices.size == 0 or total == 0:
            return indices[:0]
        # Cut (RFS drew more than its fixed length) or wrap around (fewer, or DDP padding).
        return np.resize(indices, total)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.per_rank

    def state_dict(self) -> dict[str, Any]:
        """Everything that fixes the order: the seed and the epoch (the generator is rebuilt from them)."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])


class ShardSampler(Sampler[int]):
    """In-order, unpadded share of rank ``rank``: positions ``rank, rank + W, ...`` (evaluation)."""

    def __init__(self, num_items: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.indices = list(range(rank, num_items, num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
