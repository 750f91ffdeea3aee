"""Learning-rate schedules equal their formulas, iteration by iteration."""

from __future__ import annotations

import math

import pytest
import torch

from tests.training.test_data import tiny_config
from training.schedules import build_scheduler


def _lrs(config_changes: dict, iters_per_epoch: int, steps: int) -> list[float]:
    config = tiny_config(**config_changes)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = build_scheduler(optimizer, config, iters_per_epoch)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def test_warmup_then_cosine_to_zero() -> None:
    lr, epochs, per_epoch, warmup, start = 0.1, 5, 10, 10, 0.001
    values = _lrs(
        {"lr": lr, "epochs": epochs, "schedule": "cosine", "warmup_epochs": 1.0, "warmup_start_factor": start},
        per_epoch,
        epochs * per_epoch + 1,
    )
    total = epochs * per_epoch
    for t, value in enumerate(values):
        if t < warmup:
            expected = lr * (start + (1 - start) * t / warmup)
        else:
            expected = 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) * lr
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-15), t
    assert values[total] == pytest.approx(0.0, abs=1e-15)


def test_warmup_iters_take_precedence() -> None:
    values = _lrs({"lr": 1.0, "epochs": 2, "warmup_epochs": 1.0, "warmup_iters": 4, "warmup_start_factor": 0.0}, 10, 5)
    assert values == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_no_warmup_cosine() -> None:
    values = _lrs({"lr": 2.0, "epochs": 1, "warmup_epochs": 0.0}, 8, 8)
    assert values == pytest.approx([1.0 * (1 + math.cos(math.pi * t / 8)) for t in range(8)])


def test_multistep_with_warmup() -> None:
    lr, per_epoch = 0.5, 4
    values = _lrs(
        {
            "lr": lr,
            "epochs": 6,
            "schedule": "multistep",
            "milestones": [2, 4],
            "gamma": 0.1,
            "warmup_epochs": 0.5,
            "warmup_start_factor": 0.5,
        },
        per_epoch,
        24,
    )
    for t, value in enumerate(values):
        expected = lr * 0.1 ** sum(t >= m * per_epoch for m in (2, 4))
        if t < 2:
            expected *= 0.5 + 0.5 * t / 2
        assert value == pytest.approx(expected, rel=1e-12), t
