"""Whole runs on a run folder: train (resumable, DDP-aware), evaluate, predict, re-choose thresholds.

These are what ``python -m training`` and the web app's jobs call; the files they read and write
are listed in :mod:`training.checkpoint`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from training import checkpoint as ckpt
from training import relations as relations_lib
from training import thresholds as thresholds_lib
from training.config import TrainConfig, load_config
from training.data import (
    DataError,
    Manifest,
    MultiLabelDataset,
    build_loader,
    draft_size,
    eval_transform,
    inactive_label_keys,
    load_taxonomy,
    read_manifest,
    taxonomy_label_keys,
    train_transform,
)
from training.distributed import DistInfo, barrier, init_distributed, resolve_device, shutdown
from training.engine import (
    ProgressCallback,
    autocast_dtype,
    build_optimizer,
    configure_determinism,
    epoch_seed,
    eval_loader,
    evaluate,
    predict_batches,
    seed_everything,
    train_one_epoch,
)
from training.losses import build_loss
from training.metrics import average_precision
from training.models import build_model
from training.samplers import EpochSampler, image_repeat_factors
from training.schedules import build_scheduler

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What :func:`train_run` produced (the files are in ``run_dir``); ``evaluation`` on rank 0 only."""

    run_dir: Path
    label_keys: list[str]
    train_label_counts: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    evaluation: ckpt.Evaluation | None = None
    skipped_val: int = 0


@dataclass
class _Training:
    """Everything one training process is made of."""

    config: TrainConfig
    info: DistInfo
    keys: list[str]
    model: nn.Module
    ema: AveragedModel | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    sampler: EpochSampler
    generator: torch.Generator
    loader: DataLoader[Any]
    amp_dtype: torch.dtype | None

    @property
    def final_model(self) -> nn.Module:
        """The weights to evaluate: the EMA's when one is kept."""
        return self.ema.module if self.ema is not None else self.model


def _build(
    config: TrainConfig, info: DistInfo, keys: list[str], train_set: Manifest, images_root: Path, pretrained: str | None
) -> _Training:
    counts = train_set.label_counts(len(keys))
    seed_everything(config.seed)  # the same initial weights on every rank
    model = build_model(config.backbone, len(keys), pretrained=pretrained, label_prior=counts / len(train_set))
    model = model.to(info.device)
    ema = None
    if config.ema:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    factors = None
    if config.sampler == "rfs":
        factors = image_repeat_factors(
            train_set.pos_offsets, train_set.pos_labels, len(keys), config.rfs_threshold, config.rfs_mode
        )
    sampler = EpochSampler(
        len(train_set), seed=config.seed, repeat_factors=factors, num_replicas=info.world_size, rank=info.rank
    )
    generator = torch.Generator()
    dataset = MultiLabelDataset(
        train_set,
        images_root,
        len(keys),
        train_transform(config),
        unknown_as=config.unknown_as,
        draft=draft_size(config, train=True),
    )
    loader = build_loader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        generator=generator,
        drop_last=True,
        pin_memory=info.device.type == "cuda",
    )
    if len(loader) == 0:
        raise DataError(f"{len(sampler)} training images per process is fewer than batch_size {config.batch_size}")
    optimizer = build_optimizer(model, config)
    amp_dtype = autocast_dtype(config, info.device)
    return _Training(
        config,
        info,
        keys,
        model,
        ema,
        optimizer,
        build_scheduler(optimizer, config, len(loader)),
        torch.amp.GradScaler(info.device.type, enabled=amp_dtype == torch.float16),
        sampler,
        generator,
        loader,
        amp_dtype,
    )


def _restore(run: _Training, state: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.scaler.load_state_dict(state["scaler"])
    if run.ema is not None and state.get("ema") is not None:
        run.ema.load_state_dict(state["ema"])
    run.sampler.load_state_dict(state["sampler"])
    ckpt.restore_rng_state(state["rng"])
    return int(state["epoch"]), list(state["history"])


def _save(run: _Training, run_dir: Path, epoch: int, metric: dict[str, Any], history: list[dict[str, Any]]) -> None:
    ckpt.save_checkpoint(
        run_dir / ckpt.CHECKPOINT,
        {
            "model": run.model.state_dict(),
            "ema": run.ema.state_dict() if run.ema is not None else None,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(),
            "epoch": epoch + 1,
            "config": run.config.to_dict(),
            "metric": metric,
            "history": history,
            "label_keys": run.keys,
            "rng": ckpt.capture_rng_state(),
            "sampler": run.sampler.state_dict(),
        },
    )


def train_run(
    config: TrainConfig,
    *,
    manifest: str | Path,
    taxonomy: str | Path,
    images_root: str | Path,
    run_dir: str | Path,
    resume: bool = False,
    callback: ProgressCallback | None = None,
) -> RunResult:
    """Train on split "train", evaluate on "val", write every output into ``run_dir``.

    Under torchrun each process calls this; rank 0 writes the files and calls ``callback``.
    With ``resume`` the run continues from ``run_dir/checkpoint.pt`` (pass the run's saved
    config). A callback may raise to stop the run; the last finished epoch's checkpoint stays.
    """
    joined_before = torch.distributed.is_available() and torch.distributed.is_initialized()
    info = init_distributed(config.device)
    try:
        return _train(config, info, Path(manifest), Path(taxonomy), Path(images_root), Path(run_dir), resume, callback)
    finally:
        if info.distributed and not joined_before:
            shutdown(info)


def _train(
    config: TrainConfig,
    info: DistInfo,
    manifest_path: Path,
    taxonomy_path: Path,
    images_root: Path,
    run_dir: Path,
    resume: bool,
    callback: ProgressCallback | None,
) -> RunResult:
    configure_determinism(config, info.device)
    taxonomy = load_taxonomy(taxonomy_path)
    keys = taxonomy_label_keys(taxonomy)
    records = read_manifest(manifest_path, keys, ignored=inactive_label_keys(taxonomy))
    train_set, val_set = records.subset(records.indices_of("train")), records.subset(records.indices_of("val"))
    if len(train_set) == 0:
        raise DataError(f"manifest {manifest_path} has no images with split 'train'")
    state = ckpt.load_checkpoint(run_dir / ckpt.CHECKPOINT) if resume else None  # CPU: RNG states must stay there
    if state is not None and state["label_keys"] != keys:
        raise DataError(f"taxonomy {taxonomy_path} labels differ from those of the checkpoint in {run_dir}")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        ckpt.write_run_header(run_dir, config, keys, taxonomy)
    run = _build(config, info, keys, train_set, images_root, None if state else config.pretrained)
    start_epoch, history = _restore(run, state) if state is not None else (0, [])
    if state is not None:
        log.info("resuming %s after epoch %d of %d", run_dir, start_epoch, config.epochs)
    val_data = MultiLabelDataset(
        val_set, images_root, len(keys), eval_transform(config), draft=draft_size(config, False)
    )
    net: nn.Module = run.model
    if info.distributed:
        net = DistributedDataParallel(run.model, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    loss_fn = build_loss(config)
    counts = train_set.label_counts(len(keys))
    for epoch in range(start_epoch, config.epochs):
        seed = epoch_seed(config.seed, epoch, info.rank)
        seed_everything(seed)
        run.generator.manual_seed(seed)
        run.sampler.set_epoch(epoch)
        stats = train_one_epoch(
            net,
            run.loader,
            loss_fn,
            run.optimizer,
            run.scheduler,
            epoch=epoch,
            epochs=config.epochs,
            device=info.device,
            scaler=run.scaler,
            amp_dtype=run.amp_dtype,
            grad_clip=config.grad_clip,
            ema=run.ema,
            callback=callback if info.is_main else None,
            progress_every=config.progress_every,
            distributed=info.distributed,
        )
        metric: dict[str, Any] = {"train_loss": stats.loss}
        if config.eval_every and (epoch + 1) % config.eval_every == 0 and epoch + 1 < config.epochs and len(val_set):
            arrays = evaluate(run.final_model, eval_loader(val_data, config, info), info.device, info, run.amp_dtype)
            ap = average_precision(arrays.scores, arrays.targets)
            metric["val_mAP"] = float(np.nanmean(ap)) if np.isfinite(ap).any() else None
        history.append({**asdict(stats), **metric})
        if info.is_main:
            _save(run, run_dir, epoch, metric, history)
            ckpt.write_train_stats(run_dir, keys, counts, len(train_set), history)
            log.info(
                "epoch %d/%d: loss %.4f, %.1f images/s, %d unreadable images skipped",
                epoch + 1,
                config.epochs,
                stats.loss,
                stats.images_per_s,
                stats.skipped,
            )
        barrier(info)
    result = RunResult(run_dir, keys, counts, history)
    if len(val_set) == 0:
        log.warning("manifest %s has no 'val' images: no metrics, thresholds or PR curves", manifest_path)
        return result
    arrays = evaluate(run.final_model, eval_loader(val_data, config, info), info.device, info, run.amp_dtype)
    result.skipped_val = arrays.skipped
    if info.is_main:
        result.evaluation = ckpt.write_evaluation(
            run_dir,
            arrays.scores,
            arrays.targets,
            [val_set.image(int(i)) for i in arrays.indices],
            keys,
            taxonomy,
            mode=config.threshold_mode,
            target=config.threshold_target,
            use_relations=config.relations,
        )
    barrier(info)
    return result


def _single_process(config: TrainConfig) -> DistInfo:
    return DistInfo(rank=0, world_size=1, local_rank=0, device=resolve_device(config.device))


def load_run_model(run_dir: str | Path, config: TrainConfig, keys: list[str], device: torch.device) -> nn.Module:
    """A run's model with its final weights (the EMA weights when the run kept an EMA)."""
    state = ckpt.load_checkpoint(Path(run_dir) / ckpt.CHECKPOINT)
    model = build_model(config.backbone, len(keys)).to(device)
    if state.get("ema") is not None:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        ema.load_state_dict(state["ema"])
        return ema.module
    model.load_state_dict(state["model"])
    return model


def evaluate_run(
    run_dir: str | Path,
    *,
    manifest: str | Path,
    taxonomy: str | Path,
    images_root: str | Path,
    overrides: Sequence[str] = (),
) -> ckpt.Evaluation:
    """Score the val split with a run's model; write metrics.json, pr_curves.json and val_scores.npz.

    The run's thresholds.json is reused when present (else chosen as the config says). Relations
    come from ``taxonomy`` (the current one, which may have gained relations since training);
    it must still hold every label of the run. ``overrides`` are ``key=value`` settings for this
    evaluation only (device, batch_size, num_workers, relations, ...).
    """
    run_dir = Path(run_dir)
    config = load_config(overrides=overrides, base_path=run_dir / ckpt.CONFIG)
    keys = list(ckpt.read_json(run_dir / ckpt.LABELS))
    tax = load_taxonomy(taxonomy)
    # A label deactivated since training is still a column of this run: evaluate it.
    missing = sorted(set(keys) - {label["key"] for label in tax["labels"]})
    if missing:
        raise DataError(f"taxonomy {taxonomy} lacks labels the run was trained on: {', '.join(missing)}")
    # Labels added to the taxonomy after training are not outputs of this run: skip them.
    records = read_manifest(manifest, keys, ignored={label["key"] for label in tax["labels"]} - set(keys))
    val_set = records.subset(records.indices_of("val"))
    if len(val_set) == 0:
        raise DataError(f"manifest {manifest} has no images with split 'val'")
    info = _single_process(config)
    model = load_run_model(run_dir, config, keys, info.device)
    data = MultiLabelDataset(val_set, images_root, len(keys), eval_transform(config), draft=draft_size(config, False))
    arrays = evaluate(model, eval_loader(data, config, info), info.device, info, autocast_dtype(config, info.device))
    if arrays.skipped:
        log.warning("%d unreadable val images were left out", arrays.skipped)
    images = [val_set.image(int(i)) for i in arrays.indices]
    return ckpt.write_evaluation(
        run_dir,
        arrays.scores,
        arrays.targets,
        images,
        keys,
        tax,
        mode=config.threshold_mode,
        target=config.threshold_target,
        use_relations=config.relations,
        reuse_thresholds=True,
    )


@dataclass
class PredictStats:
    """What :func:`predict_run` wrote: images, unreadable images skipped, time, speed."""

    images: int
    skipped: int
    seconds: float
    images_per_s: float


def predict_run(
    run_dir: str | Path,
    *,
    manifest: str | Path,
    images_root: str | Path,
    out: str | Path,
    split: str = "all",
    overrides: Sequence[str] = (),
) -> PredictStats:
    """Write one JSON line per image of ``split``: raw scores of every label and the labels kept.

    ``{"image": path, "scores": {key: score}, "labels": [keys]}``; scores are sigmoid outputs
    rounded to 5 decimals, labels those passing the run's thresholds after relations. Lines are
    streamed to a temporary file that replaces ``out`` at the end, so memory stays bounded.
    """
    run_dir, out = Path(run_dir), Path(out)
    config = load_config(overrides=overrides, base_path=run_dir / ckpt.CONFIG)
    keys = list(ckpt.read_json(run_dir / ckpt.LABELS))
    records = read_manifest(manifest, None)
    records = records.subset(records.indices_of(split))
    threshold_file = run_dir / ckpt.THRESHOLDS
    if not threshold_file.exists():
        log.warning("%s has no thresholds.json: every label is disabled, 'labels' will be empty", run_dir)
    threshold_array = thresholds_lib.to_array(
        thresholds_lib.load(threshold_file) if threshold_file.exists() else {}, keys
    )
    index = None
    if config.relations:
        index = relations_lib.RelationIndex.from_taxonomy(ckpt.read_json(run_dir / ckpt.TAXONOMY), keys)
    info = _single_process(config)
    model = load_run_model(run_dir, config, keys, info.device)
    data = MultiLabelDataset(records, images_root, len(keys), eval_transform(config), draft=draft_size(config, False))
    written, skipped, started = 0, 0, time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        for batch in predict_batches(
            model, eval_loader(data, config, info), info.device, autocast_dtype(config, info.device)
        ):
            skipped += batch.skipped
            if not batch.indices.size:
                continue
            # Thresholds apply to the rounded scores written out, as they did in evaluation.
            scores = ckpt.round_scores(batch.scores)
            if index is not None:
                keep = relations_lib.apply(scores, index, threshold_array)[1]
            else:
                keep = scores >= threshold_array[None, :]
            rounded = scores.tolist()
            for row, record in enumerate(batch.indices.tolist()):
                line = {
                    "image": records.image(record),
                    "scores": dict(zip(keys, rounded[row], strict=True)),
                    "labels": [keys[j] for j in np.flatnonzero(keep[row])],
                }
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            written += batch.indices.size
    os.replace(temporary, out)
    seconds = time.perf_counter() - started
    return PredictStats(written, skipped, seconds, written / seconds if seconds else 0.0)


def recompute_thresholds(run_dir: str | Path, *, mode: thresholds_lib.Mode, target: float | None) -> ckpt.Evaluation:
    """Re-choose thresholds from the saved val scores; rewrite thresholds, metrics and PR curves."""
    run_dir = Path(run_dir)
    config = load_config(base_path=run_dir / ckpt.CONFIG)
    keys = list(ckpt.read_json(run_dir / ckpt.LABELS))
    scores, targets, images = ckpt.load_val_scores(run_dir)
    taxonomy = ckpt.read_json(run_dir / ckpt.TAXONOMY)
    return ckpt.write_evaluation(
        run_dir, scores, targets, images, keys, taxonomy, mode=mode, target=target, use_relations=config.relations
    )
