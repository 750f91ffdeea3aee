"""Losses: equal to their references, normalised as documented, honouring the ignore mask."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torchvision
from torch.nn import functional

from tests.training.test_data import tiny_config
from training.losses import (
    asymmetric_elementwise,
    bce_elementwise,
    build_loss,
    focal_elementwise,
    reduce_per_image,
)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=generator) * 4
    targets = (torch.rand(6, 5, generator=generator) < 0.3).float()
    return logits, targets


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.9, 1.5)])
def test_focal_equals_torchvision(batch: tuple[torch.Tensor, torch.Tensor], alpha: float, gamma: float) -> None:
    logits, targets = batch
    ours = focal_elementwise(logits, targets, alpha, gamma)
    theirs = torchvision.ops.sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="none")
    assert torch.equal(ours, theirs)
    loss = build_loss(tiny_config(loss="focal", focal_alpha=alpha, focal_gamma=gamma))(logits, targets, None)
    reference = torchvision.ops.sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma, reduction="sum") / 6
    torch.testing.assert_close(loss, reference, rtol=1e-6, atol=0)


def test_bce_sums_labels_and_averages_images(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, targets = batch
    loss = build_loss(tiny_config(loss="bce"))(logits, targets, None)
    reference = functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum") / logits.shape[0]
    torch.testing.assert_close(loss, reference)
    weighted = build_loss(tiny_config(loss="bce", pos_weight=3.0))(logits, targets, None)
    reference = (
        functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=torch.tensor(3.0), reduction="sum")
        / logits.shape[0]
    )
    torch.testing.assert_close(weighted, reference)


@pytest.mark.parametrize("name", ["bce", "focal", "asl"])
def test_ignore_mask_removes_elements(batch: tuple[torch.Tensor, torch.Tensor], name: str) -> None:
    logits, targets = batch
    mask = torch.ones_like(targets)
    mask[:, 1] = 0
    mask[2, :] = 0
    loss_fn = build_loss(tiny_config(loss=name))
    changed = logits.clone()
    changed[mask == 0] = 50.0  # whatever the model says there must not matter
    changed.requires_grad_(True)
    loss = loss_fn(changed, targets, mask)
    torch.testing.assert_close(loss, loss_fn(logits, targets, mask))
    loss.backward()
    assert changed.grad is not None and torch.all(changed.grad[mask == 0] == 0)
    # Divisor stays the number of images even when a whole image is ignored.
    elementwises: dict[str, Callable[..., torch.Tensor]] = {
        "bce": bce_elementwise,
        "focal": focal_elementwise,
        "asl": asymmetric_elementwise,
    }
    elementwise = elementwises[name]
    torch.testing.assert_close(loss_fn(logits, targets, mask), (elementwise(logits, targets) * mask).sum() / 6)


def test_asl_without_focusing_is_bce(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    logits, targets = batch
    torch.testing.assert_close(
        asymmetric_elementwise(logits, targets, gamma_neg=0, gamma_pos=0, clip=0), bce_elementwise(logits, targets)
    )


def _asl_reference(x: torch.Tensor, y: torch.Tensor, gamma_neg: float, gamma_pos: float, clip: float) -> torch.Tensor:
    """The authors' AsymmetricLoss.forward (Alibaba-MIIL/ASL, losses.py), element-wise, eps = 1e-8."""
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=1e-8))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=1e-8))
    loss = los_pos + los_neg
    pt = xs_pos * y + xs_neg * (1 - y)
    one_sided_gamma = gamma_pos * y + gamma_neg * (1 - y)
    return -loss * torch.pow(1 - pt, one_sided_gamma)


@pytest.mark.parametrize(("gamma_neg", "gamma_pos", "clip"), [(4.0, 0.0, 0.05), (2.0, 1.0, 0.1), (4.0, 1.0, 0.0)])
def test_asl_matches_the_reference(gamma_neg: float, gamma_pos: float, clip: float) -> None:
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 7, generator=generator, dtype=torch.float64) * 3
    targets = (torch.rand(8, 7, generator=generator) < 0.4).double()
    ours = asymmetric_elementwise(logits, targets, gamma_neg, gamma_pos, clip)
    torch.testing.assert_close(ours, _asl_reference(logits, targets, gamma_neg, gamma_pos, clip), rtol=1e-6, atol=1e-7)


def test_asl_is_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[-200.0, 200.0, 0.0]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    loss = reduce_per_image(asymmetric_elementwise(logits, targets), None)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and torch.isfinite(logits.grad).all()
