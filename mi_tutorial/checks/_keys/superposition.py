"""Reference answers for chapter 04, superposition (the toy models of Elhage et al., 2022).

The chapter-04 checks (`mi_tutorial.checks.ch04`) compare the learner's functions with
these. They are written for clarity and for being obviously right, not for speed: where
the chapter uses einsums, these spell the sums out with broadcasting.

Shapes: a *batch of models* ("instances") is trained at once, so every weight has a
leading `instance` axis. `W` is `[instance, d_hidden, feature]`: column `W[k, :, i]` is
feature i's direction in instance k's hidden space (the paper's W_i).
"""

from __future__ import annotations

import torch
from torch import Tensor

NORM_THRESHOLD = 0.5  # a feature with ||W_i|| below this counts as "not represented"
INTERFERENCE_THRESHOLD = 0.1  # below this, a represented feature has a dimension to itself
EPS = 1e-8  # guards the division when normalizing a column of zeros

NOT_REPRESENTED, DEDICATED, SUPERPOSED = 0, 1, 2
REGIMES = ("not represented", "dedicated dimension", "superposition")


def _check_W(W: Tensor, name: str = "W") -> None:
    if not isinstance(W, Tensor) or W.ndim != 3:
        shape = tuple(W.shape) if isinstance(W, Tensor) else type(W).__name__
        raise ValueError(
            f"{name} must be a tensor of shape [instance, d_hidden, feature], got {shape}."
        )


def toy_model_forward(W: Tensor, b_final: Tensor, features: Tensor) -> Tensor:
    """x' = ReLU(W^T W x + b) for every instance. features: [batch, instance, feature]."""
    _check_W(W)
    hidden = (W[None] * features[:, :, None, :]).sum(-1)  # [batch, instance, d_hidden]
    recon = (W[None] * hidden[..., None]).sum(-2)  # [batch, instance, feature]
    return torch.relu(recon + b_final)


def importance_weighted_loss(out: Tensor, features: Tensor, importance: Tensor) -> Tensor:
    """Per instance: mean over the batch of sum_i I_i (x_i - x'_i)^2. Returns [instance]."""
    return (importance * (features - out).pow(2)).sum(-1).mean(0)


def column_norms(W: Tensor) -> Tensor:
    """||W_i|| for every instance and feature: [instance, feature]."""
    _check_W(W)
    return W.pow(2).sum(1).sqrt()


def _overlaps(W: Tensor) -> Tensor:
    """(W_i-hat . W_j) for every instance, i and j: [instance, feature_i, feature_j]."""
    W_hat = W / column_norms(W).clamp_min(EPS)[:, None, :]
    return (W_hat[:, :, :, None] * W[:, :, None, :]).sum(1)


def norms_and_interference(W: Tensor) -> tuple[Tensor, Tensor]:
    """(||W_i||, sum over j != i of (W_i-hat . W_j)^2), each [instance, feature]."""
    squared = _overlaps(W).pow(2)
    interference = squared.sum(-1) - torch.diagonal(squared, dim1=-2, dim2=-1)
    return column_norms(W), interference


def feature_dimensionality(W: Tensor) -> Tensor:
    """D_i = ||W_i||^2 / sum_j (W_i-hat . W_j)^2, 0 for a zero column: [instance, feature]."""
    squared_norms = column_norms(W).pow(2)
    denominator = _overlaps(W).pow(2).sum(-1)  # includes j = i, which is ||W_i||^2
    return torch.where(squared_norms > 0, squared_norms / denominator.clamp_min(EPS**2), 0.0)


def dimensions_per_feature(W: Tensor) -> Tensor:
    """The paper's D* = m / ||W||_F^2 for every instance: [instance]."""
    _check_W(W)
    return W.shape[1] / W.pow(2).sum((1, 2))


def regime_losses(importance: Tensor, density: Tensor) -> Tensor:
    """Expected loss per sample of the three ways n=2, m=1 can treat the extra feature.

    Feature 0 has importance 1, the extra feature 1 has `importance`; both are present
    with probability `density` and uniform on [0, 1] when present, so E[x] = density/2 and
    E[x^2] = density/3. Returns [3, *shape]:
    - not represented, W = [1, 0], b = [0, density/2]: the extra feature is replaced by its
      mean and costs importance x its variance;
    - dedicated, W = [0, 1], b = [density/2, 0]: the same, for feature 0 (importance 1);
    - superposed, W = [1, -1], b = 0: exact unless both are present (probability
      density^2), and then each loses min(x_0, x_1)^2, whose mean is 1/6.
    """
    importance, density = torch.broadcast_tensors(
        torch.as_tensor(importance), torch.as_tensor(density)
    )
    variance = density / 3 - density**2 / 4
    not_represented = importance * variance
    dedicated = variance
    superposed = density**2 * (1 + importance) / 6
    return torch.stack([not_represented, dedicated, superposed])


def classify_regime(W: Tensor, extra: int) -> Tensor:
    """0 not represented, 1 dedicated dimension, 2 superposition, for feature `extra`:
    [instance]."""
    norms, interference = norms_and_interference(W)
    codes = torch.full(norms.shape[:1], SUPERPOSED, dtype=torch.long)
    codes[interference[:, extra] < INTERFERENCE_THRESHOLD] = DEDICATED
    codes[norms[:, extra] < NORM_THRESHOLD] = NOT_REPRESENTED
    return codes


def generate_features(
    feature_probability: Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Tensor:
    """Sparse features [batch, instance, feature]: uniform on [0, 1] with probability p, else 0."""
    if feature_probability.ndim != 2:
        raise ValueError(
            "feature_probability must be [instance, feature], "
            f"got shape {tuple(feature_probability.shape)}."
        )
    shape = (batch_size, *feature_probability.shape)
    present = torch.rand(shape, generator=generator) < feature_probability
    return torch.rand(shape, generator=generator) * present
