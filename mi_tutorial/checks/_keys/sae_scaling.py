"""Answer keys for chapter 11 (SAEs at scale), written independently of the chapter's solutions.

Where the chapter sorts, these compare every pair; where it writes an autograd Function for
a straight-through estimator, these use the detach trick (the value of one expression, the
gradient of another); where it fits by a search over the exponent, this fits by a grid and
a golden-section refinement of its own; the frontier's costs count each matmul once.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def power_law_curve(x: Tensor, a: float, b: float, c: float) -> Tensor:
    return a * x.double().pow(-b) + c


def _best_ac(x: Tensor, y: Tensor, b: float) -> tuple[float, float, float]:
    """For a fixed exponent b, the least-squares (a, c) of y ~ a u + c with u = x^-b, from the
    2 x 2 normal equations; returns (a, c, residual sum of squares)."""
    u = x.pow(-b)
    n, su, sy = len(x), u.sum(), y.sum()
    suu, suy = (u * u).sum(), (u * y).sum()
    det = n * suu - su * su
    a = (n * suy - su * sy) / det
    c = (sy - a * su) / n
    rss = ((a * u + c - y) ** 2).sum()
    return a.item(), c.item(), rss.item()


def fit_power_law(x: Tensor, loss: Tensor) -> tuple[float, float, float]:
    """Least-squares (a, b, c) of loss ~ a x^-b + c, b in (0, 4]: a grid over b, then a
    golden-section search around the best grid point."""
    x, y = x.double(), loss.double()
    grid = torch.linspace(0.002, 4.0, 2000, dtype=torch.float64).tolist()
    scores = [_best_ac(x, y, b)[2] for b in grid]
    i = min(range(len(grid)), key=scores.__getitem__)
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        m1, m2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _best_ac(x, y, m1)[2] < _best_ac(x, y, m2)[2]:
            hi = m2
        else:
            lo = m1
    b = (lo + hi) / 2
    a, c, _ = _best_ac(x, y, b)
    return a, b, c


def rss(x: Tensor, loss: Tensor, a: float, b: float, c: float) -> float:
    return (power_law_curve(x, a, b, c) - loss.double()).pow(2).sum().item()


def pareto_frontier(compute: Tensor, loss: Tensor) -> Tensor:
    """Points that no other point dominates (compute <= and loss <=, one of them <)."""
    c, l = compute.double(), loss.double()
    no_worse = (c[None, :] <= c[:, None]) & (l[None, :] <= l[:, None])  # [i, j]: j vs i
    better = (c[None, :] < c[:, None]) | (l[None, :] < l[:, None])
    return ~(no_worse & better).any(1)


def detection_scores(fires: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
    f, y = fires.float(), label.float()
    hits = y @ f  # [d_sae]
    n_fires = f.sum(0)
    precision = torch.where(n_fires > 0, hits / n_fires.clamp_min(1), torch.zeros_like(hits))
    recall = hits / y.sum().clamp_min(1)
    return precision, recall


def child_coverage(fires: Tensor, groups: Tensor, children: list[int], n_groups: int) -> Tensor:
    one_hot = torch.zeros(len(groups), n_groups)
    inside = groups >= 0
    one_hot[inside.nonzero().squeeze(1), groups[inside]] = 1.0
    hits = fires[:, children].float().T @ one_hot  # [children, n_groups]
    size = one_hot.sum(0)
    return torch.where(size > 0, hits / size.clamp_min(1), torch.zeros_like(hits))


def batch_topk(pre: Tensor, k: int) -> Tensor:
    """Threshold formulation: keep the entries >= the (k * batch)-th largest, after a ReLU."""
    flat = pre.flatten()
    cut = flat.sort(descending=True).values[k * pre.shape[0] - 1]
    return torch.where(pre >= cut, pre.relu(), torch.zeros_like(pre))


def batchtopk_threshold(codes: list[Tensor]) -> float:
    minima = [c[c > 0].min().item() for c in codes]
    return sum(minima) / len(minima)


def _rectangle(u: Tensor) -> Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


def jumprelu(pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
    """Value pre * H(pre - θ); gradient H to pre, -(θ/ε) K((pre - θ)/ε) to θ (detach trick)."""
    gate = (pre > threshold).to(pre.dtype)
    kernel = _rectangle((pre.detach() - threshold.detach()) / bandwidth)
    # d/dθ of (-θ.detach()/ε K) * θ is the pseudo-derivative; its value is cancelled below.
    surrogate = -(threshold.detach() / bandwidth) * kernel * threshold
    return pre * gate + surrogate - surrogate.detach()


def step_l0(pre: Tensor, threshold: Tensor, bandwidth: float) -> Tensor:
    gate = (pre > threshold).to(pre.dtype)
    kernel = _rectangle((pre.detach() - threshold.detach()) / bandwidth)
    surrogate = -(kernel / bandwidth) * threshold
    per_entry = gate.detach() + surrogate - surrogate.detach()
    return per_entry.sum(-1).mean()


def absorption_rate(fires: Tensor, label: Tensor, general: int, specific: list[int]) -> float:
    silent = ~fires[:, general]
    caught = fires[:, specific].any(1) if specific else torch.zeros_like(silent)
    n = label.sum().item()
    return ((label & silent & caught).sum().item() / n) if n else 0.0


def frontier_costs(
    d_sae: int, d_model: int, k: int, tokens: float, bytes_per_value: int, flops_per_second: float
) -> dict[str, float]:
    """Counted from the tensors' shapes and a list of the matmuls of one training step."""
    shapes = {
        "W_enc": (d_model, d_sae),
        "W_dec": (d_sae, d_model),
        "b_enc": (d_sae,),
        "b_dec": (d_model,),
    }
    # Multiply-adds per token: the encoder's forward and its weight gradient (no gradient into
    # the input is needed), the k-sparse decoder's forward, input and weight gradients.
    multiply_adds = [
        ("encoder forward", d_model * d_sae),
        ("encoder weight gradient", d_model * d_sae),
        ("decoder forward", k * d_model),
        ("decoder input gradient", k * d_model),
        ("decoder weight gradient", k * d_model),
    ]
    flops_per_token = 2 * sum(count for _, count in multiply_adds)
    flops = float(tokens) * flops_per_token
    return {
        "parameters": float(sum(math.prod(shape) for shape in shapes.values())),
        "decoder_bytes": float(math.prod(shapes["W_dec"]) * bytes_per_value),
        "activation_bytes": float(tokens) * math.prod(shapes["b_dec"]) * bytes_per_value,
        "train_flops": flops,
        "accelerator_hours": flops / flops_per_second / 60 / 60,
    }
