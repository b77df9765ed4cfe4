"""Trusted answers for chapter 07 (lenses and probes). Private: a chapter never imports this.

Where TransformerLens 4.3 computes the same thing, the answer is TransformerLens's:
`ActivationCache.accumulated_resid` for the residual stack, `tools.analysis.logit_readout` for
the logit lens, and `tools.analysis.sparse_probing`'s train-split feature scores for the choice
of latents. The rest are written another way than the chapter's solutions: loops, `F.kl_div`,
Newton's method for the logistic probe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from transformer_lens.tools.analysis import logit_readout, sparse_probing


def residual_stack(model, tokens: Tensor, positions: Tensor) -> Tensor:
    """accumulated_resid ([n_layers + 1, batch, pos, d_model]) at each prompt's position."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        stack = cache.accumulated_resid(layer=None, incl_mid=False)
    return torch.stack([stack[:, i, int(p)] for i, p in enumerate(positions)], dim=1)


def logit_lens(model, resid: Tensor) -> Tensor:
    with torch.no_grad():
        return logit_readout(model, resid, return_type="log_probs").values


def answer_rank(log_probs: Tensor, answers: Tensor) -> Tensor:
    ranks = torch.empty(log_probs.shape[:2], dtype=torch.int64)
    for layer in range(log_probs.shape[0]):
        for row in range(log_probs.shape[1]):
            values = log_probs[layer, row]
            ranks[layer, row] = int((values > values[int(answers[row])]).sum())
    return ranks


def kl_to_final(lens_log_probs: Tensor, final_log_probs: Tensor) -> Tensor:
    target = final_log_probs.expand_as(lens_log_probs)
    return F.kl_div(lens_log_probs, target, log_target=True, reduction="none").sum(-1).mean(-1)


def tuned_lens_loss(
    model, weight: Tensor, bias: Tensor, resid: Tensor, final_log_probs: Tensor
) -> Tensor:
    translated = resid + F.linear(resid, weight, bias)
    lens = F.log_softmax(model.unembed(model.ln_final(translated)), dim=-1)
    return F.kl_div(lens, final_log_probs, log_target=True, reduction="batchmean")


def diff_of_means_probe(acts: Tensor, labels: Tensor) -> tuple[Tensor, float]:
    sums = {
        True: torch.zeros(acts.shape[1], dtype=torch.float64),
        False: torch.zeros(acts.shape[1], dtype=torch.float64),
    }
    counts = {True: 0, False: 0}
    for x, y in zip(acts, labels.tolist()):
        sums[bool(y)] += x.double()
        counts[bool(y)] += 1
    positive, negative = sums[True] / counts[True], sums[False] / counts[False]
    direction = positive - negative
    return direction.float(), float(direction @ (positive + negative)) / 2


def logistic_objective(w: Tensor, b: Tensor, acts: Tensor, labels: Tensor, l2: float) -> Tensor:
    logits = acts.double() @ w + b
    y = labels.double()
    bce = (torch.logaddexp(torch.zeros_like(logits), logits) - y * logits).mean()
    return bce + l2 * w.pow(2).sum()


def fit_logistic_probe(acts: Tensor, labels: Tensor, l2: float) -> tuple[Tensor, float]:
    """Newton's method on the (strictly convex) objective, in float64."""
    x = torch.cat([acts.double(), torch.ones(len(acts), 1, dtype=torch.float64)], dim=1)
    y = labels.double()
    theta = torch.zeros(x.shape[1], dtype=torch.float64)
    penalty = torch.full((x.shape[1],), 2 * l2, dtype=torch.float64)
    penalty[-1] = 0.0
    for _ in range(100):
        p = torch.sigmoid(x @ theta)
        grad = x.T @ (p - y) / len(y) + penalty * theta
        hessian = (
            (x.T * (p * (1 - p))) @ x / len(y) + torch.diag(penalty) + 1e-12 * torch.eye(len(theta))
        )
        step = torch.linalg.solve(hessian, grad)
        theta = theta - step
        if step.abs().max() < 1e-10:
            break
    return theta[:-1].float(), float(theta[-1])


def objective_gradient(w: Tensor, b: float, acts: Tensor, labels: Tensor, l2: float) -> Tensor:
    """Gradient of the logistic probe's objective at (w, b): about 0 at the optimum."""
    w = w.detach().double().clone().requires_grad_(True)
    bias = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)
    logistic_objective(w, bias, acts, labels, l2).backward()
    return torch.cat([w.grad, bias.grad.reshape(1)])


def control_labels(word_ids: Tensor, vocab_size: int, generator: torch.Generator) -> Tensor:
    table = torch.rand(vocab_size, generator=generator) < 0.5
    return (
        torch.stack([table[int(i)] for i in word_ids])
        if len(word_ids)
        else torch.zeros(0, dtype=torch.bool)
    )


def push_last_position(resid: Tensor, direction: Tensor, alpha: float) -> Tensor:
    out = resid.clone()
    unit = direction / torch.linalg.vector_norm(direction)
    for row in range(resid.shape[0]):
        out[row, resid.shape[1] - 1] = resid[row, -1] + alpha * unit
    return out


def top_k_latents(latents: Tensor, labels: Tensor, k: int) -> Tensor:
    """TransformerLens's train-split class-mean scores, ranked by absolute value."""
    scores = sparse_probing._feature_scores(latents, labels.bool(), torch.arange(len(labels)))
    return torch.argsort(scores.abs(), descending=True, stable=True)[:k]


def obfuscation_loss(
    probe_logits: Tensor, new_logits: Tensor, reference_logits: Tensor, kl_weight: float
) -> Tensor:
    evasion = F.binary_cross_entropy_with_logits(probe_logits, torch.zeros_like(probe_logits))
    reference = F.log_softmax(reference_logits, dim=-1).flatten(0, 1)
    new = F.log_softmax(new_logits, dim=-1).flatten(0, 1)
    return evasion + kl_weight * F.kl_div(new, reference, log_target=True, reduction="batchmean")
