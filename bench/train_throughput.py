"""Training throughput: our input pipeline + training step vs a plain torchvision ImageFolder loop.

Both sides train the same model (same initial weights, optimizer, loss, batch size, transforms,
number of workers and AMP setting) on the same generated JPEGs; only the way images reach the
model differs: ours is ``training.data`` (manifest → multi-hot targets, unreadable-image
skipping, seeded per-epoch sampler) driven by ``training.engine.train_one_epoch`` (NaN check,
progress accounting); the reference is ``torchvision.datasets.ImageFolder`` + a shuffled
``DataLoader`` + a bare loop. Each side runs one warm-up epoch, then ``--epochs`` timed epochs,
interleaved with the other side's; the best epoch of each side counts.

CPU, about a minute::

    python bench/train_throughput.py

GPU (for scale: NVIDIA publishes about 2,470 images/s for ResNet-50 AMP training on one
A100-80GB, with DALI data loading)::

    python bench/train_throughput.py --device cuda --backbone resnet50 --image-size 224 --amp \\
        --images 4096 --source-size 500 --batch-size 256 --num-workers 12
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import TrainConfig, default_config  # noqa: E402
from training.data import (  # noqa: E402
    MultiLabelDataset,
    build_loader,
    draft_size,
    load_taxonomy,
    read_manifest,
    taxonomy_label_keys,
    train_transform,
)
from training.engine import autocast_dtype, build_optimizer, train_one_epoch  # noqa: E402
from training.losses import build_loss  # noqa: E402
from training.models import build_model  # noqa: E402
from training.samplers import EpochSampler  # noqa: E402
from training.schedules import build_scheduler  # noqa: E402

NUM_LABELS = 10


def generate(root: Path, count: int, size: int, seed: int = 0) -> tuple[Path, Path]:
    """JPEGs in ImageFolder layout (folder = first label) plus a manifest and taxonomy over the same files."""
    rng = np.random.default_rng(seed)
    keys = [f"label{k}" for k in range(NUM_LABELS)]
    lines = []
    for i in range(count):
        labels = sorted({int(rng.integers(NUM_LABELS))} | set(rng.choice(NUM_LABELS, int(rng.integers(0, 3)))))
        folder = root / keys[labels[0]]
        folder.mkdir(parents=True, exist_ok=True)
        base = rng.integers(0, 255, (size // 8, size // 8, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((size, int(size * 0.75)), Image.Resampling.BILINEAR)
        image.save(folder / f"{i:05d}.jpg", quality=90)
        lines.append({"image": f"{keys[labels[0]]}/{i:05d}.jpg", "labels": [keys[c] for c in labels], "split": "train"})
    manifest = root.parent / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    taxonomy = root.parent / "taxonomy.json"
    taxonomy.write_text(json.dumps({"labels": [{"key": k, "parent": None} for k in keys], "relations": []}))
    return manifest, taxonomy


class _Step:
    """One training step shared by the reference loop: the same AMP, scaler and loss as the engine."""

    def __init__(self, config: TrainConfig, model: torch.nn.Module, device: torch.device, iters: int) -> None:
        self.model, self.device = model, device
        self.loss_fn = build_loss(config)
        self.optimizer = build_optimizer(model, config)
        self.scheduler = build_scheduler(self.optimizer, config, iters)
        self.dtype = autocast_dtype(config, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.dtype == torch.float16)

    def __call__(self, images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        targets = targets.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            logits = self.model(images)
        loss = self.loss_fn(logits.float(), targets, None)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(device: torch.device, run: Callable[[], int]) -> float:
    _sync(device)
    started = time.perf_counter()
    images = run()
    _sync(device)
    return images / (time.perf_counter() - started)


def ours(config: TrainConfig, manifest: Path, taxonomy: Path, root: Path, device: torch.device) -> Callable[[], int]:
    """One epoch of training.data + training.engine.train_one_epoch; returns the images trained on."""
    keys = taxonomy_label_keys(load_taxonomy(taxonomy))
    records = read_manifest(manifest, keys)
    dataset = MultiLabelDataset(records, root, len(keys), train_transform(config), draft=draft_size(config, True))
    sampler = EpochSampler(len(dataset), seed=config.seed)
    generator = torch.Generator()
    loader = build_loader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        generator=generator,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, len(keys)).to(device)
    step = _Step(config, model, device, len(loader))
    done = [0]

    def epoch() -> int:
        sampler.set_epoch(done[0])
        generator.manual_seed(done[0])
        done[0] += 1
        stats = train_one_epoch(
            model,
            loader,
            step.loss_fn,
            step.optimizer,
            step.scheduler,
            epoch=done[0] - 1,
            epochs=config.epochs,
            device=device,
            scaler=step.scaler,
            amp_dtype=step.dtype,
        )
        return stats.images

    return epoch


def reference(config: TrainConfig, root: Path, device: torch.device) -> Callable[[], int]:
    """One epoch of ImageFolder + DataLoader(shuffle=True) + a bare loop with the same step."""
    dataset = torchvision.datasets.ImageFolder(str(root), transform=train_transform(config))
    loader: DataLoader[Any] = DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, NUM_LABELS).to(device)
    step = _Step(config, model, device, len(loader))

    def epoch() -> int:
        model.train()
        images = 0
        for inputs, classes in loader:
            step(inputs, torch.nn.functional.one_hot(classes, NUM_LABELS).float())
            images += inputs.shape[0]
        return images

    return epoch


def main(argv: list[str] | None = None) -> int:
    """Run both pipelines and print images/s and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--source-size", type=int, default=96, help="width of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per side, interleaved (the best counts)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = default_config(
        backbone=args.backbone,
        image_size=args.image_size,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        amp=args.amp,
        device=args.device,
        deterministic=False,
        warmup_epochs=0.0,
        epochs=args.epochs + 1,
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        root = Path(tmp) / "images"
        manifest, taxonomy = generate(root, args.images, args.source_size)
        print(
            f"{args.images} JPEGs of {args.source_size}px, {args.backbone} at {args.image_size}px, batch "
            f"{args.batch_size}, {args.num_workers} workers, {device}{' AMP' if args.amp else ''}, "
            f"{torch.get_num_threads()} torch threads"
        )
        sides = {"ours": ours(config, manifest, taxonomy, root, device), "reference": reference(config, root, device)}
        rates: dict[str, list[float]] = {name: [] for name in sides}
        for epoch in sides.values():
            epoch()  # warm-up: page cache, allocator, cuDNN autotuning
        for _ in range(args.epochs):  # interleaved, so load changes on the machine hit both sides alike
            for name, epoch in sides.items():
                rates[name].append(_timed(device, epoch))
        ours_rate, reference_rate = max(rates["ours"]), max(rates["reference"])
    every = {name: ", ".join(f"{r:.1f}" for r in values) for name, values in rates.items()}
    print(f"training (ours):          {ours_rate:8.1f} images/s   (epochs: {every['ours']})")
    print(f"ImageFolder reference:    {reference_rate:8.1f} images/s   (epochs: {every['reference']})")
    print(f"ratio ours / reference:   {ours_rate / reference_rate:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
