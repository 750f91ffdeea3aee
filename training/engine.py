"""The loops: one training epoch, evaluation and batched prediction, plus their small helpers.

Whole runs (train into a folder, evaluate, predict, re-choose thresholds) are in
:mod:`training.runs`, built from these pieces.

Reproducibility: :func:`epoch_seed` derives every epoch's seeds from ``(seed, epoch, rank)`` so an
epoch's batches and augmentations do not depend on what ran before it; together with the
optimizer/scheduler/scaler/EMA state in the checkpoint this makes a resumed run bit-identical
to an uninterrupted one on the CPU (and on GPUs with ``deterministic: true``).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader

from training.config import TrainConfig
from training.data import MultiLabelDataset, build_loader
from training.distributed import DistInfo, gather_objects
from training.losses import LossFn
from training.models import unwrap
from training.samplers import ShardSampler

log = logging.getLogger(__name__)

ProgressCallback = Callable[[dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the message names the epoch and step."""


@dataclass
class EpochStats:
    """What one training epoch did: mean loss per image, images, skipped images, speed."""

    epoch: int
    loss: float
    images: int
    skipped: int
    steps: int
    seconds: float
    images_per_s: float


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """A well-mixed 63-bit seed for (seed, epoch, rank): neighbouring runs never share streams."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def configure_determinism(config: TrainConfig, device: torch.device) -> None:
    """Deterministic algorithms (and no cuDNN autotuning) when ``config.deterministic``."""
    if config.deterministic:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The mixed-precision dtype to use, or None (AMP runs on CUDA only)."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum) or AdamW (beta1 = momentum); biases and norm weights get no weight decay."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader[Any],
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    epoch: int,
    epochs: int,
    device: torch.device,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_clip: float | None = None,
    ema: AveragedModel | None = None,
    callback: ProgressCallback | None = None,
    progress_every: int = 10,
    distributed: bool = False,
) -> EpochStats:
    """One pass over ``loader``; the scheduler steps every iteration.

    ``callback`` receives ``{"epoch", "epochs", "step", "total", "loss", "lr", "images_per_s",
    "eta_s"}`` every ``progress_every`` steps and after the last one. A NaN/inf loss raises
    :class:`NonFiniteLossError` (checked one step late so the GPU never waits for the CPU).
    A batch whose images were all unreadable is skipped (under DDP the previous batch is run
    again with weight 0 so that every rank still joins the gradient all-reduce).
    """
    model.train()
    total = len(loader)
    loss_sum, images, skipped = 0.0, 0, 0
    pending: tuple[int, torch.Tensor, int] | None = None
    last_batch: dict[str, Any] | None = None
    started = time.perf_counter()

    def settle(entry: tuple[int, torch.Tensor, int]) -> None:
        nonlocal loss_sum
        step, value, count = entry
        loss = float(value.item())
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"loss is {loss} at epoch {epoch}, step {step} of {total}; stopping the run")
        loss_sum += loss * count

    for step, batch in enumerate(loader):
        skipped += int(batch["skipped"])
        weight = 1.0
        if batch["index"].numel() == 0:
            if not distributed or last_batch is None:
                scheduler.step()
                continue
            batch, weight = last_batch, 0.0
        last_batch = batch
        inputs = batch["image"].to(device, non_blocking=True)
        targets = batch["target"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        with _autocast(device, amp_dtype):
            logits = model(inputs)
        loss = loss_fn(logits.float(), targets, mask) * weight
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None and scaler.is_enabled():
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update_parameters(unwrap(model))
        count = int(inputs.shape[0]) if weight else 0
        images += count
        if pending is not None:
            settle(pending)
        pending = (step, loss.detach(), count)
        if callback is not None and ((step + 1) % progress_every == 0 or step + 1 == total):
            elapsed = time.perf_counter() - started
            per_step = elapsed / (step + 1)
            callback(
                {
                    "epoch": epoch,
                    "epochs": epochs,
                    "step": step + 1,
                    "total": total,
                    "loss": loss_sum / max(images - count, 1) if images > count else float(loss.detach().item()),
                    "lr": optimizer.param_groups[0]["lr"],
                    "images_per_s": images / elapsed if elapsed else 0.0,
                    "eta_s": per_step * ((total - step - 1) + (epochs - epoch - 1) * total),
                }
            )
    if pending is not None:
        settle(pending)
    seconds = time.perf_counter() - started
    return EpochStats(
        epoch, loss_sum / max(images, 1), images, skipped, total, seconds, images / seconds if seconds else 0.0
    )


@dataclass
class PredictedBatch:
    """Scores of one batch: record indices, (B, L) sigmoid scores, targets, unreadable images dropped."""

    indices: np.ndarray
    scores: np.ndarray
    targets: np.ndarray | None
    skipped: int


@torch.inference_mode()
def predict_batches(
    model: nn.Module, loader: DataLoader[Any], device: torch.device, amp_dtype: torch.dtype | None = None
) -> Iterator[PredictedBatch]:
    """Sigmoid scores batch by batch (bounded memory); the model is put in eval mode."""
    model.eval()
    for batch in loader:
        if batch["index"].numel() == 0:
            yield PredictedBatch(np.zeros(0, np.int64), np.zeros((0, 0), np.float32), None, int(batch["skipped"]))
            continue
        with _autocast(device, amp_dtype):
            logits = model(batch["image"].to(device, non_blocking=True))
        scores = torch.sigmoid(logits.float()).cpu().numpy()
        targets = batch["target"].numpy().astype(np.uint8) if "target" in batch else None
        yield PredictedBatch(batch["index"].numpy(), scores, targets, int(batch["skipped"]))


@dataclass
class EvalArrays:
    """Scores on an evaluation set, in record order, with the unreadable images left out."""

    indices: np.ndarray
    scores: np.ndarray
    targets: np.ndarray
    skipped: int


def evaluate(
    model: nn.Module,
    loader: DataLoader[Any],
    device: torch.device,
    info: DistInfo,
    amp_dtype: torch.dtype | None = None,
) -> EvalArrays:
    """Scores of every image of ``loader`` (each rank its share), gathered on every rank."""
    parts = [b for b in predict_batches(model, loader, device, amp_dtype) if b.indices.size or b.skipped]
    kept = [b for b in parts if b.indices.size]
    local = (
        np.concatenate([b.indices for b in kept]) if kept else np.zeros(0, np.int64),
        np.concatenate([b.scores for b in kept]) if kept else None,
        np.concatenate([b.targets for b in kept if b.targets is not None]) if kept else None,
        sum(b.skipped for b in parts),
    )
    gathered = gather_objects(info, local)
    with_data = [g for g in gathered if g[1] is not None]
    if not with_data:
        return EvalArrays(
            np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.uint8), sum(g[3] for g in gathered)
        )
    indices = np.concatenate([g[0] for g in with_data])
    order = np.argsort(indices, kind="stable")
    return EvalArrays(
        indices[order],
        np.concatenate([g[1] for g in with_data])[order],
        np.concatenate([g[2] for g in with_data])[order],
        sum(g[3] for g in gathered),
    )


def eval_loader(dataset: MultiLabelDataset, config: TrainConfig, info: DistInfo) -> DataLoader[Any]:
    """An in-order loader over this rank's share of ``dataset`` (for :func:`evaluate` / prediction)."""
    return build_loader(
        dataset,
        batch_size=config.batch_size,
        sampler=ShardSampler(len(dataset), info.world_size, info.rank),
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=False,
        pin_memory=info.device.type == "cuda",
    )
