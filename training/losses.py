"""Multi-label losses on logits: BCE, sigmoid focal loss, asymmetric loss (ASL).

Normalisation, the same for all three: the per-element loss ``l[i, c]`` (image ``i``, label
``c``) is multiplied by the mask ``m[i, c]`` (0 = ignored, see ``unknown_as``), **summed over
labels and averaged over the images of the batch**::

    loss = (1 / B) * sum_i sum_c m[i, c] * l[i, c]

Ignored elements are left out of the sum but the divisor stays B (the number of images), so an
image's weight does not grow when some of its labels are ignored. Summing over labels (rather
than averaging) keeps the gradient per label independent of how many labels the taxonomy has.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional

from training.config import TrainConfig

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def reduce_per_image(elementwise: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Apply the mask, sum over labels, average over images (the module's normalisation)."""
    if mask is not None:
        elementwise = elementwise * mask
    return elementwise.sum() / max(elementwise.shape[0], 1)


def bce_elementwise(
    logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """``-[w_pos * y * log σ(x) + (1 - y) * log(1 - σ(x))]`` per element (``w_pos`` = pos_weight or 1)."""
    return functional.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight, reduction="none")


def focal_elementwise(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Sigmoid focal loss per element, computed exactly as ``torchvision.ops.sigmoid_focal_loss``.

    ``FL = α_t (1 - p_t)^γ · BCE`` with ``p_t = p`` on positives and ``1 - p`` on negatives,
    ``α_t = α`` on positives and ``1 - α`` on negatives; ``α < 0`` disables the weighting.
    """
    p = torch.sigmoid(logits)
    ce_loss = functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


def asymmetric_elementwise(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma_neg: float = 4.0,
    gamma_pos: float = 0.0,
    clip: float = 0.05,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Asymmetric loss (Ridnik et al., ICCV 2021) per element.

    Positives: ``-(1 - p)^γ+ · log p``. Negatives use the shifted probability
    ``p_m = max(p - clip, 0)``: ``-p_m^γ- · log(1 - p_m)``, so easy negatives (``p < clip``)
    contribute nothing. ``γ+ = γ- = 0`` and ``clip = 0`` give plain BCE.
    """
    targets = targets.to(logits.dtype)
    p = torch.sigmoid(logits)
    log_p = functional.logsigmoid(logits)
    if clip > 0:
        p_m = (p - clip).clamp(min=0)
        log_not_p_m = torch.log((1 - p_m).clamp(min=eps))
    else:
        p_m = p
        log_not_p_m = functional.logsigmoid(-logits)
    loss_pos = -log_p
    if gamma_pos > 0:
        loss_pos = loss_pos * (1 - p) ** gamma_pos
    loss_neg = -log_not_p_m
    if gamma_neg > 0:
        loss_neg = loss_neg * p_m**gamma_neg
    return targets * loss_pos + (1 - targets) * loss_neg


def build_loss(config: TrainConfig) -> LossFn:
    """The configured loss as ``fn(logits, targets, mask) -> scalar`` with the module's normalisation."""
    if config.loss == "bce":

        def bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            weight = None if config.pos_weight is None else logits.new_tensor(config.pos_weight)
            return reduce_per_image(bce_elementwise(logits, targets, weight), mask)

        return bce
    if config.loss == "focal":

        def focal(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            return reduce_per_image(focal_elementwise(logits, targets, config.focal_alpha, config.focal_gamma), mask)

        return focal
    if config.loss == "asl":

        def asl(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
            elementwise = asymmetric_elementwise(
                logits, targets, config.asl_gamma_neg, config.asl_gamma_pos, config.asl_clip
            )
            return reduce_per_image(elementwise, mask)

        return asl
    raise ValueError(f"unknown loss {config.loss!r}")
