"""Repeat-factor sampling and epoch sharding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.samplers import (
    EpochSampler,
    ShardSampler,
    image_repeat_factors,
    label_repeat_factors,
    stochastic_round,
)


def _csr(rows: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    return offsets, np.asarray([c for r in rows for c in r], dtype=np.int32)


@pytest.mark.parametrize("mode", ["uniform", "sqrt"])
def test_label_factors_follow_the_formula(mode: str) -> None:
    fraction = np.array([0.5, 0.1, 0.01, 0.001, 0.0])
    threshold = 0.05
    factors = label_repeat_factors(fraction, threshold, mode)  # type: ignore[arg-type]
    transform = (lambda v: v) if mode == "uniform" else math.sqrt
    expected = [max(1.0, transform(threshold / f)) if f > 0 else 1.0 for f in fraction]
    np.testing.assert_allclose(factors, expected, rtol=1e-12)


def test_image_factor_is_the_max_over_its_labels() -> None:
    rows = [[0], [1], [0, 2], [], [1, 2], [0, 1, 2], [0], [0]]
    offsets, columns = _csr(rows)
    factors = image_repeat_factors(offsets, columns, 3, threshold=0.5, mode="uniform")
    fraction = np.array([5, 3, 3]) / 8  # label 0 on 5 of 8 images, 1 and 2 on 3
    per_label = np.maximum(1.0, 0.5 / fraction)
    expected = [max((per_label[c] for c in r), default=1.0) for r in rows]
    np.testing.assert_allclose(factors, expected)
    assert factors[3] == 1.0


def test_stochastic_rounding_is_unbiased() -> None:
    factors = np.array([1.0, 1.25, 2.5, 3.9])
    rng = np.random.default_rng(0)
    draws = np.stack([stochastic_round(factors, rng) for _ in range(20000)])
    for column, r in enumerate(factors):
        assert set(np.unique(draws[:, column])) <= {math.floor(r), math.ceil(r)}
    np.testing.assert_allclose(draws.mean(axis=0), factors, atol=0.02)


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    sampler = EpochSampler(50, seed=7)
    sampler.set_epoch(3)
    first = list(sampler)
    other = EpochSampler(50, seed=7)
    other.load_state_dict(sampler.state_dict())
    assert list(other) == first
    sampler.set_epoch(4)
    assert list(sampler) != first
    assert sorted(first) == list(range(50))


def test_rfs_repeats_rare_images_with_a_fixed_epoch_length() -> None:
    factors = np.ones(40)
    factors[:4] = 3.0
    factors[4:8] = 1.5
    sampler = EpochSampler(40, seed=0, repeat_factors=factors)
    assert len(sampler) == math.ceil(factors.sum()) == 50
    totals = np.zeros(40)
    for epoch in range(200):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == 50
        totals += np.bincount(indices, minlength=40)
    means = totals / 200
    assert means[:4].mean() == pytest.approx(3.0, abs=0.15)
    assert means[4:8].mean() == pytest.approx(1.5, abs=0.15)
    assert means[8:].mean() == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(("items", "replicas"), [(20, 2), (21, 2), (10, 3)])
def test_ranks_get_disjoint_equal_shares(items: int, replicas: int) -> None:
    shares = []
    for rank in range(replicas):
        sampler = EpochSampler(items, seed=1, num_replicas=replicas, rank=rank)
        sampler.set_epoch(5)
        shares.append(list(sampler))
    assert len({len(s) for s in shares}) == 1 and len(shares[0]) == math.ceil(items / replicas)
    union = [i for s in shares for i in s]
    assert set(union) == set(range(items))
    padding = len(union) - items
    assert len(union) - len(set(union)) == padding  # only the wrap-around padding repeats
    if padding == 0:
        assert all(not set(a) & set(b) for k, a in enumerate(shares) for b in shares[k + 1 :])


def test_rfs_shards_partition_the_same_epoch_list() -> None:
    factors = np.linspace(1, 3, 30)
    lists = []
    for rank in range(2):
        sampler = EpochSampler(30, seed=3, repeat_factors=factors, num_replicas=2, rank=rank)
        sampler.set_epoch(2)
        lists.append(list(sampler))
    full = EpochSampler(30, seed=3, repeat_factors=factors, num_replicas=2, rank=0)
    full.set_epoch(2)
    whole = full.epoch_indices().tolist()
    assert lists[0] == whole[0::2] and lists[1] == whole[1::2]


def test_shard_sampler_is_unpadded() -> None:
    assert list(ShardSampler(5, 2, 0)) == [0, 2, 4]
    assert list(ShardSampler(5, 2, 1)) == [1, 3]
