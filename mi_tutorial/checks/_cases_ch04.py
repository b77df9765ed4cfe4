"""Cases and helpers of chapter 04's checks (`mi_tutorial.checks.ch04`): random and constructed
weights, and `classify_regime`'s answer and typical mistakes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mi_tutorial.checks._keys import superposition as ref


def _W(n_instances: int, d_hidden: int, n_features: int, seed: int, zero_features=()) -> Tensor:
    """Random weights [instance, d_hidden, feature] with norms around 1; listed columns zero."""
    W = torch.randn(
        n_instances, d_hidden, n_features, generator=torch.Generator().manual_seed(seed)
    )
    W = W / math.sqrt(d_hidden)
    for feature in zero_features:
        W[:, :, feature] = 0.0
    return W


def _geometries() -> Tensor:
    """Two instances with known answers: a regular pentagon, and an antipodal pair + an
    orthogonal feature + a dropped one (each instance 5 features in 2 dimensions)."""
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])  # [2, 5]
    mixed = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.3], [0.0, 0.0, 1.2, 0.0, 0.0]])
    mixed[:, 3] = 0.0  # feature 3 not represented
    return torch.stack([pentagon, mixed])


def _weight_cases():
    """(case name, W) for the checks of Exercises 4.4 to 4.6."""
    yield (
        "random W, 3 instances, 5 features in 2 dimensions, feature 2 all zero",
        _W(3, 2, 5, seed=0, zero_features=[2]),
    )
    yield (
        "random square W, 2 instances, 3 features in 3 dimensions",
        _W(2, 3, 3, seed=1),
    )
    yield (
        "a pentagon, and an antipodal pair + an orthogonal feature + a zero column",
        _geometries(),
    )
    yield "random W, 1 instance, 20 features in 5 dimensions", _W(1, 5, 20, seed=2)


def _classify(
    W: Tensor, extra: int, norm_threshold: float, interference_threshold: float
) -> Tensor:
    """The answer: the key's norms and interference (Exercise 4.4), with these thresholds."""
    norms, interference = ref.norms_and_interference(W)
    codes = torch.full((W.shape[0],), ref.SUPERPOSED, dtype=torch.long)
    codes[interference[:, extra] < interference_threshold] = ref.DEDICATED
    codes[norms[:, extra] < norm_threshold] = ref.NOT_REPRESENTED
    return codes


def _classify_variant(
    W: Tensor,
    extra: int,
    norm_threshold: float,
    interference_threshold: float,
    *,
    squared_norm=False,
    normalize=True,
    norm_first=False,
    swap=False,
    norm_at_most=False,
    interference_at_most=False,
) -> Tensor:
    """classify_regime with one of the typical mistakes switched on (computed for column `extra` alone)."""
    norms = W.norm(dim=1)[:, extra]
    dots = torch.einsum("ih,ihf->if", W[:, :, extra], W)  # W_extra . W_j
    if normalize:
        dots = dots / norms.clamp_min(1e-8)[:, None]
    dots[:, extra] = 0
    interference = dots.pow(2).sum(-1)
    norm = norms**2 if squared_norm else norms
    dropped = norm <= norm_threshold if norm_at_most else norm < norm_threshold
    alone = (
        interference <= interference_threshold
        if interference_at_most
        else interference < interference_threshold
    )
    codes = torch.full((W.shape[0],), 1 if swap else 2, dtype=torch.long)
    if norm_first:
        codes[dropped] = 0
        codes[alone] = 2 if swap else 1
    else:
        codes[alone] = 2 if swap else 1
        codes[dropped] = 0
    return codes
