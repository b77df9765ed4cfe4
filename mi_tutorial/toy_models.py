"""Chapter 04's toy models of superposition (Elhage et al., 2022), for the chapters after it.

Chapter 04 introduces them and has you write them (its exercises `generate_features` and
`importance_weighted_loss`); chapter 05 trains one here to get activations whose true
features it knows. Chapter 04 never imports this module: these are its answers.

Shapes: a batch of models ("instances") is trained at once, so every weight has a leading
`instance` axis. `W` is [instance, d_hidden, feature]: column W[k, :, i] is feature i's
direction in instance k's hidden space.
"""

from __future__ import annotations

import torch
from torch import Tensor

NORM_THRESHOLD = 0.5  # a feature with ||W_i|| below this counts as "not represented"


def generate_features(
    feature_probability: Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Tensor:
    """Sparse features [batch, instance, feature]: each uniform on [0, 1] with probability
    feature_probability [instance, feature], else 0."""
    if feature_probability.ndim != 2:
        raise ValueError(
            "feature_probability must be [instance, feature], "
            f"got shape {tuple(feature_probability.shape)}."
        )
    shape = (batch_size, *feature_probability.shape)
    present = torch.rand(shape, generator=generator) < feature_probability
    return torch.rand(shape, generator=generator) * present


def toy_model_forward(W: Tensor, b_final: Tensor, features: Tensor) -> Tensor:
    """x' = ReLU(W^T W x + b) for every instance; features [batch, instance, feature]."""
    hidden = torch.einsum("khf,bkf->bkh", W, features)
    return torch.relu(torch.einsum("khf,bkh->bkf", W, hidden) + b_final)


def importance_weighted_loss(out: Tensor, features: Tensor, importance: Tensor) -> Tensor:
    """Per instance, the mean over the batch of sum_i I_i (x_i - x'_i)^2: [instance]."""
    return (importance * (features - out) ** 2).sum(dim=-1).mean(dim=0)
