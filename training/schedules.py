"""Per-iteration learning-rate schedules: linear warmup, then cosine decay to zero or multistep.

With peak rate ``η``, ``W`` warmup iterations, ``T`` iterations in all, ``s`` the warmup start
factor and ``t`` the iteration (0-based, the scheduler steps once per optimizer step)::

    warmup   (t < W):  η_t = η · (s + (1 - s) · t / W)
    cosine   (t ≥ W):  η_t = ½ (1 + cos(π (t - W) / (T - W))) · η       (reaches 0 at t = T)
    multistep(t ≥ W):  η_t = γ^k · η,  k = number of milestones m with m · I ≤ t

where ``I`` is the number of iterations per epoch (milestones are given in epochs).
The factors are plain callable objects so ``LambdaLR.state_dict()`` stores them with the run.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from training.config import TrainConfig


class WarmupCosine:
    """``factor(t)``: linear warmup over ``warmup`` iterations, cosine to 0 at ``total``."""

    def __init__(self, total: int, warmup: int, start_factor: float) -> None:
        self.total = total
        self.warmup = min(warmup, total)
        self.start_factor = start_factor

    def __call__(self, t: int) -> float:
        if t < self.warmup:
            return self.start_factor + (1 - self.start_factor) * t / self.warmup
        span = max(self.total - self.warmup, 1)
        progress = min((t - self.warmup) / span, 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupMultiStep:
    """``factor(t)``: linear warmup, then ``gamma`` to the power of the milestones passed."""

    def __init__(self, milestones: Sequence[int], gamma: float, warmup: int, start_factor: float) -> None:
        self.milestones = sorted(milestones)
        self.gamma = gamma
        self.warmup = warmup
        self.start_factor = start_factor

    def __call__(self, t: int) -> float:
        factor: float = self.gamma ** bisect.bisect_right(self.milestones, t)
        if t < self.warmup:
            factor *= self.start_factor + (1 - self.start_factor) * t / self.warmup
        return factor


def warmup_iterations(config: TrainConfig, iters_per_epoch: int) -> int:
    """Warmup length in iterations: ``warmup_iters`` if set, else ``warmup_epochs · iters_per_epoch``."""
    if config.warmup_iters > 0:
        return config.warmup_iters
    return int(round(config.warmup_epochs * iters_per_epoch))


def build_scheduler(optimizer: Optimizer, config: TrainConfig, iters_per_epoch: int) -> LambdaLR:
    """A ``LambdaLR`` to be stepped after every optimizer step, as configured (module docstring)."""
    total = config.epochs * iters_per_epoch
    warmup = warmup_iterations(config, iters_per_epoch)
    factor: WarmupCosine | WarmupMultiStep
    if config.schedule == "cosine":
        factor = WarmupCosine(total, warmup, config.warmup_start_factor)
    elif config.schedule == "multistep":
        milestones = [m * iters_per_epoch for m in config.milestones]
        factor = WarmupMultiStep(milestones, config.gamma, warmup, config.warmup_start_factor)
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}")
    return LambdaLR(optimizer, factor)
