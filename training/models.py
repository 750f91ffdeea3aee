"""Backbones with a multi-label head: one logit per taxonomy label.

Any torchvision classification model can be named (``resnet18``/``34``/``50``/``101``,
``efficientnet_b0``, ``convnext_tiny``, ...); it is built with ``weights=None`` (nothing is
ever downloaded) and ``num_classes`` = the number of labels. Pretrained weights come only from
a local file the user names; the old classification head in it is skipped because its shape
differs. The head's bias starts at ``log(p / (1 - p))`` of each label's training prior ``p``, so
the first iterations do not spend themselves learning label frequencies.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn

log = logging.getLogger(__name__)

_PRIOR_CLIP = 1e-4


class TinyCNN(nn.Module):
    """A four-layer CNN for tests and demos on the CPU (about 30k parameters)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for width in (16, 32, 48, 64):
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits, (B, num_classes)."""
        return self.fc(self.features(x))


LOCAL_MODELS = {"tiny_cnn": TinyCNN}


def available_backbones() -> list[str]:
    """Names accepted by :func:`build_model`: torchvision's classification models plus local ones."""
    return sorted(set(torchvision.models.list_models(module=torchvision.models)) | set(LOCAL_MODELS))


def classifier_head(model: nn.Module, num_labels: int) -> tuple[str, nn.Linear]:
    """Name and module of the final ``nn.Linear`` with ``num_labels`` outputs (resnet ``fc``, ...)."""
    heads = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if not heads:
        raise ValueError(f"{type(model).__name__} has no linear layer with {num_labels} outputs")
    return heads[-1]


def init_head_bias(head: nn.Linear, label_prior: np.ndarray) -> None:
    """Set the head bias to the log-odds of each label's prior (clipped to [1e-4, 1 - 1e-4])."""
    if head.bias is None:
        return
    prior = np.clip(np.asarray(label_prior, dtype=np.float64), _PRIOR_CLIP, 1 - _PRIOR_CLIP)
    with torch.no_grad():
        head.bias.copy_(torch.from_numpy(np.log(prior / (1 - prior))).to(head.bias.dtype))


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("module.", "_orig_mod."):
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


def load_pretrained(model: nn.Module, path: str | Path) -> set[str]:
    """Load a local state dict into ``model``, skipping tensors whose shape differs (the old head).

    Accepts a bare state dict or a checkpoint holding one under ``model``/``state_dict``, with or
    without a DDP ``module.`` prefix. Returns the keys loaded; raises ValueError when less than
    half of the model's tensors are found in the file (another architecture, most likely).
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ValueError(f"pretrained weights file {path} does not exist") from error
    if isinstance(loaded, dict):
        for key in ("model", "state_dict"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} does not hold a state dict")
    state = _strip_prefixes(loaded)
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if len(fitting) < len(own) / 2:
        raise ValueError(
            f"only {len(fitting)} of the model's {len(own)} tensors match {path}; is it a different architecture?"
        )
    skipped = sorted(k for k in state if k not in fitting)
    missing = sorted(k for k in own if k not in fitting)
    model.load_state_dict(fitting, strict=False)
    log.info("loaded %d tensors from %s; skipped %s; left initialised: %s", len(fitting), path, skipped, missing)
    return set(fitting)


def build_model(
    backbone: str,
    num_labels: int,
    *,
    pretrained: str | Path | None = None,
    label_prior: np.ndarray | None = None,
) -> nn.Module:
    """A ``backbone`` with ``num_labels`` outputs, optional local pretrained weights and a prior-initialised bias."""
    if backbone in LOCAL_MODELS:
        model: nn.Module = LOCAL_MODELS[backbone](num_classes=num_labels)
    else:
        try:
            model = torchvision.models.get_model(backbone, weights=None, num_classes=num_labels)
        except ValueError as error:
            raise ValueError(f"unknown backbone {backbone!r}; see training.models.available_backbones()") from error
    loaded = load_pretrained(model, pretrained) if pretrained else set()
    head_name, head = classifier_head(model, num_labels)
    # A head loaded from the file (same label count, e.g. a previous run) keeps its bias.
    if label_prior is not None and f"{head_name}.bias" not in loaded:
        init_head_bias(head, label_prior)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or the module itself)."""
    inner = getattr(model, "module", model)
    return inner if isinstance(inner, nn.Module) else model
