"""The training loop and the model builder, on the tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision

from tests.training.test_data import KEYS, make_tiny_dataset, one_thread, tiny_config  # noqa: F401 (fixture)
from training import checkpoint as ckpt
from training.data import MultiLabelDataset, build_loader, eval_transform, read_manifest
from training.engine import NonFiniteLossError, build_optimizer, train_one_epoch
from training.losses import build_loss
from training.models import build_model, classifier_head
from training.runs import train_run
from training.samplers import EpochSampler
from training.schedules import build_scheduler

pytestmark = pytest.mark.usefixtures("one_thread")


def test_loss_falls_and_outputs_are_written(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=64)
    progress: list[dict[str, Any]] = []
    result = train_run(
        tiny_config(epochs=5, lr=0.1),
        manifest=data.manifest,
        taxonomy=data.taxonomy,
        images_root=data.root,
        run_dir=tmp_path / "run",
        callback=progress.append,
    )
    losses = [epoch["loss"] for epoch in result.history]
    assert losses[-1] < 0.75 * losses[0], losses
    assert set(progress[0]) >= {"epoch", "step", "total", "loss", "lr", "images_per_s", "eta_s"}
    assert progress[-1]["step"] == progress[-1]["total"] and progress[-1]["epoch"] == 4
    assert result.evaluation is not None
    metrics = ckpt.read_json(tmp_path / "run" / "metrics.json")
    assert set(metrics["labels"]) == set(KEYS)
    assert metrics["mAP"] > 0.6 and "mAP_relations" in metrics
    for name in (
        "checkpoint.pt",
        "config.yaml",
        "labels.json",
        "taxonomy.json",
        "pr_curves.json",
        "thresholds.json",
        "val_scores.npz",
        "train_stats.json",
    ):
        assert (tmp_path / "run" / name).exists(), name


def _one_epoch(tmp_path: Path, loss_fn: Any, **kwargs: Any) -> Any:
    data = make_tiny_dataset(tmp_path, n=24)
    config = tiny_config()
    manifest = read_manifest(data.manifest, KEYS)
    dataset = MultiLabelDataset(manifest, data.root, len(KEYS), eval_transform(config))
    loader = build_loader(
        dataset,
        batch_size=4,
        sampler=EpochSampler(len(dataset), seed=0),
        num_workers=0,
        generator=torch.Generator().manual_seed(0),
        drop_last=True,
        pin_memory=False,
    )
    model = build_model("tiny_cnn", len(KEYS))
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, len(loader))
    return train_one_epoch(
        model, loader, loss_fn, optimizer, scheduler, epoch=1, epochs=2, device=torch.device("cpu"), **kwargs
    )


def test_nan_loss_stops_with_epoch_and_step(tmp_path: Path) -> None:
    calls = {"n": 0}
    base = build_loss(tiny_config())

    def poisoned(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        calls["n"] += 1
        loss = base(logits, targets, mask)
        return loss * float("nan") if calls["n"] == 3 else loss

    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 1, step 2 of 6"):
        _one_epoch(tmp_path, poisoned)


def test_grad_clip_and_ema_run(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=24)
    result = train_run(
        tiny_config(epochs=1, ema=True, ema_decay=0.9, grad_clip=0.5),
        manifest=data.manifest,
        taxonomy=data.taxonomy,
        images_root=data.root,
        run_dir=tmp_path / "run",
    )
    state = ckpt.load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert int(state["ema"]["n_averaged"]) == result.history[0]["steps"] == 2
    assert not torch.equal(state["ema"]["module.fc.weight"], state["model"]["fc.weight"])


def test_resnet_head_and_prior_bias() -> None:
    prior = np.array([0.5, 0.1, 0.001, 0.0])
    model = build_model("resnet18", 4, label_prior=prior)
    name, head = classifier_head(model, 4)
    assert name == "fc"
    expected = np.log(np.clip(prior, 1e-4, 1 - 1e-4) / (1 - np.clip(prior, 1e-4, 1 - 1e-4)))
    np.testing.assert_allclose(head.bias.detach().numpy(), expected, rtol=1e-6)
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 4)


def test_pretrained_weights_come_from_a_local_file(tmp_path: Path) -> None:
    imagenet_like = torchvision.models.resnet18(weights=None)  # 1000-class head, like a downloaded file
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet_like.state_dict(), path)
    loaded = build_model("resnet18", 3, pretrained=path, label_prior=np.full(3, 0.2)).state_dict()
    original = imagenet_like.state_dict()
    for key in ("conv1.weight", "layer4.1.bn2.running_var", "layer2.0.downsample.0.weight"):
        assert torch.equal(loaded[key], original[key]), key
    assert loaded["fc.weight"].shape == (3, 512)
    with pytest.raises(ValueError, match="does not exist"):
        build_model("resnet18", 3, pretrained=tmp_path / "missing.pth")
    torch.save(build_model("tiny_cnn", 3).state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(ValueError, match="only 1 of the model"):
        build_model("resnet18", 3, pretrained=tmp_path / "tiny.pth")


def test_unknown_backbone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'resnet19'"):
        build_model("resnet19", 3)


def test_unreadable_training_images_are_counted(tmp_path: Path) -> None:
    data = make_tiny_dataset(tmp_path / "data", n=24)
    for name in ("0001.jpg", "0002.jpg"):
        (data.root / "images" / name).write_bytes(b"garbage")
    result = train_run(
        tiny_config(epochs=1, batch_size=6),
        manifest=data.manifest,
        taxonomy=data.taxonomy,
        images_root=data.root,
        run_dir=tmp_path / "run",
    )
    assert result.history[0]["skipped"] == 2
    assert result.history[0]["images"] == 18 - 2  # 18 train images in 3 batches of 6, 2 unreadable
