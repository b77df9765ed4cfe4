"""Answer keys of chapter 09 (a world model), written independently of the chapter.

Where the chapter gathers, these compare maxima; where it uses argsort ranks, these use
topk row by row; the Pearson correlation comes from torch.corrcoef, the hooked forward
passes from a mask multiplied in rather than an indexed write.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def legal_top1_rate(logits: Tensor, legal: Tensor) -> float:
    """The top-1 prediction is legal exactly when the best legal logit is the best logit."""
    valid = legal.any(-1)
    best = logits.max(-1).values
    best_legal = logits.masked_fill(~legal, float("-inf")).max(-1).values
    return (best_legal[valid] == best[valid]).double().mean().item()


def board_classes(boards: Tensor, players: Tensor, relative: bool) -> Tensor:
    flat = boards.reshape(*boards.shape[:-2], -1).long()
    first = players.long()[..., None] if relative else torch.ones_like(flat)
    own = flat == first  # black, or the player to move
    other = (flat != 0) & ~own
    return own.long() * 1 + other.long() * 2


def probe_logits(W: Tensor, b: Tensor, acts: Tensor) -> Tensor:
    n, (d, s, c) = acts.shape[0], W.shape
    return (acts @ W.reshape(d, s * c)).reshape(n, s, c) + b


def probe_loss(W: Tensor, b: Tensor, acts: Tensor, labels: Tensor) -> Tensor:
    logp = probe_logits(W, b, acts).log_softmax(-1)
    return -logp.gather(-1, labels[..., None]).mean()


def square_accuracy(W: Tensor, b: Tensor, acts: Tensor, labels: Tensor) -> Tensor:
    logits = probe_logits(W, b, acts)
    right = logits.gather(-1, labels[..., None])[..., 0] >= logits.max(-1).values
    return right.float().sum(0) / acts.shape[0]


def mlp_probe(probe: torch.nn.Module, acts: Tensor, n_square: int, n_class: int) -> Tensor:
    h = probe.hidden
    o = probe.out
    hidden = (acts @ h.weight.T + h.bias).clamp(min=0)
    return (hidden @ o.weight.T + o.bias).reshape(len(acts), n_square, n_class)


def balanced_accuracy(scores: Tensor, targets: Tensor) -> Tensor:
    pred, t = (scores > 0).double(), targets.double()
    tpr = (pred * t).sum(0) / t.sum(0)  # 0/0 = NaN where no positives
    tnr = ((1 - pred) * (1 - t)).sum(0) / (1 - t).sum(0)
    return ((tpr + tnr) / 2).float()


def edit_vector(W: Tensor, square: int, from_class: int, to_class: int, scale: float) -> Tensor:
    return F.normalize(W[:, square, to_class] - W[:, square, from_class], dim=0) * scale


def logits_with_edit(model, tokens: Tensor, hook_name: str, vectors: Tensor) -> Tensor:
    last = torch.zeros(tokens.shape[1])
    last[-1] = 1.0

    def add(resid, hook):
        return resid + last[None, :, None] * vectors[:, None, :]

    with torch.no_grad(), model.hooks(fwd_hooks=[(hook_name, add)]):
        return model(tokens)[:, -1]


def top_n_errors(logits: Tensor, legal: Tensor) -> Tensor:
    errors = []
    for row, mask in zip(logits, legal):
        n = int(mask.sum())
        top = row.topk(n).indices if n else torch.zeros(0, dtype=torch.long)
        errors.append(int((~mask[top]).sum()))
    return torch.tensor(errors, dtype=torch.int64)


def neuron_correlation(acts: Tensor, feature: Tensor) -> Tensor:
    out = []
    for column in acts.double().T:
        if column.std() == 0 or feature.double().std() == 0:
            out.append(0.0)
        else:
            out.append(torch.corrcoef(torch.stack([column, feature.double()]))[0, 1].item())
    return torch.tensor(out, dtype=torch.float32)


def logits_with_neuron_set(model, tokens: Tensor, layer: int, neuron: int, value: float) -> Tensor:
    def replace(post, hook):
        keep = torch.ones(post.shape[-1])
        keep[neuron] = 0.0
        return post * keep + (1 - keep) * value

    with torch.no_grad(), model.hooks(fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", replace)]):
        return model(tokens)
