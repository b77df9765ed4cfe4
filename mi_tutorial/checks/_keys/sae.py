"""Answer keys for chapter 05, sparse autoencoders: what `checks.ch05` compares with.

Written apart from both the chapter's solutions and the public library (`mi_tutorial.sae`,
whose fast trainer chapter 05 uses), and differently from them, so that a mistake shared
by a solution and its key cannot pass unseen:

- TopK by ranks (an argsort of an argsort) instead of `topk` + `scatter`;
- losses and reconstructions as einsums over named axes instead of matmuls;
- feature recovery as a loop over the true features with `cosine_similarity`;
- explained variance from the per-dimension variances;
- dead / dense latents from firing counts, precision and recall from a confusion matrix;
- the aux-k loss on the dead columns only, decoded row by row;
- the CE losses with `F.cross_entropy` on the shifted logits;
- the clamp as "decode the edited latents, add the SAE's error back".

`SAE` is the library's module (its parameters, config and initialisation) with `encode`,
`decode` and `normalize_decoder` written out here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mi_tutorial.sae import DENSE_THRESHOLD, SAE as _LibrarySAE, SAEConfig

__all__ = [
    "DENSE_THRESHOLD",
    "SAE",
    "SAEConfig",
    "aux_k_loss",
    "ce_loss_score",
    "clamp_latent",
    "dead_and_dense",
    "explained_variance",
    "feature_recovery",
    "precision_recall",
    "relu_sae_loss",
    "spliced_losses",
    "top_activations",
    "topk_activation",
]


def topk_activation(pre: Tensor, k: int) -> Tensor:
    """Entries of rank < k in their row (0 = the largest) kept after a ReLU, zeros elsewhere."""
    rank = pre.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1)
    return torch.where(rank < k, pre.clamp(min=0.0), torch.zeros_like(pre))


class SAE(_LibrarySAE):
    """The library's SAE parameters (W_enc [d_in, d_sae], b_enc, W_dec [d_sae, d_in], b_dec)
    with the forward pass spelled out: f = act((x - b_dec) W_enc + b_enc), x̂ = f W_dec + b_dec."""

    def activation(self, pre: Tensor) -> Tensor:
        if self.cfg.architecture == "topk":
            return topk_activation(pre, self.cfg.k)
        return torch.where(pre > 0, pre, torch.zeros_like(pre))

    def encode(self, x: Tensor) -> Tensor:
        centred = x - self.b_dec
        return self.activation(torch.einsum("...i,il->...l", centred, self.W_enc) + self.b_enc)

    def decode(self, acts: Tensor) -> Tensor:
        return torch.einsum("...l,li->...i", acts, self.W_dec) + self.b_dec

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        lengths = torch.einsum("li,li->l", self.W_dec, self.W_dec).sqrt()
        self.W_dec.mul_(1.0 / lengths.clamp_min(1e-8)[:, None])


def relu_sae_loss(
    sae: nn.Module, x: Tensor, l1_coefficient: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, mse, l1): mse = Σ_b ‖x_b - x̂_b‖² / batch; l1 = Σ_b Σ_i f_bi ‖W_dec[i]‖ / batch."""
    batch = x.shape[0]
    f = sae.encode(x)
    error = x - sae.decode(f)
    mse = torch.einsum("bi,bi->", error, error) / batch
    lengths = torch.einsum("li,li->l", sae.W_dec, sae.W_dec).sqrt()
    l1 = torch.einsum("bl,l->", f, lengths) / batch
    return mse + l1_coefficient * l1, mse, l1


def feature_recovery(W_dec: Tensor, true_directions: Tensor) -> Tensor:
    """Mean over the true features of their best cosine with a decoder row (a 0-d tensor)."""
    best = [
        F.cosine_similarity(direction[None], W_dec, dim=-1).max() for direction in true_directions
    ]
    return torch.stack(best).mean()


def explained_variance(x: Tensor, recon: Tensor) -> Tensor:
    """1 - (squared error) / (n × the sum of the per-dimension variances), pooled (0-d tensor)."""
    x, recon = x.reshape(-1, x.shape[-1]), recon.reshape(-1, recon.shape[-1])
    n = x.shape[0]
    total = n * x.var(dim=0, unbiased=False).sum()
    return 1 - torch.linalg.vector_norm(x - recon) ** 2 / total


def dead_and_dense(acts: Tensor, dense_threshold: float = DENSE_THRESHOLD) -> tuple[Tensor, Tensor]:
    """(never fires, fires on more than `dense_threshold` of the tokens), from firing counts."""
    counts = (acts.reshape(-1, acts.shape[-1]) > 0).sum(dim=0)  # [d_sae], integers
    n_tokens = acts.reshape(-1, acts.shape[-1]).shape[0]
    return counts == 0, counts / n_tokens > dense_threshold


def aux_k_loss(pre: Tensor, dead: Tensor, residual: Tensor, W_dec: Tensor, k_aux: int) -> Tensor:
    """The k_aux largest pre-activations among the dead columns (no ReLU), decoded without
    b_dec, against the residual: Σ_i squared error / batch. 0 when nothing is dead."""
    dead_ids = torch.nonzero(dead).flatten()
    if dead_ids.numel() == 0:
        return torch.zeros((), dtype=pre.dtype)
    values, picked = pre[:, dead_ids].topk(min(k_aux, dead_ids.numel()), dim=-1)
    recon = torch.einsum("bk,bki->bi", values, W_dec[dead_ids[picked]])
    return (recon - residual).square().sum() / pre.shape[0]


def ce_loss_score(clean: float, with_sae: float, with_ablation: float) -> float:
    """1 - (with_sae - clean) / (with_ablation - clean): the share of the ablation's loss
    that the SAE recovers."""
    return 1 - (with_sae - clean) / (with_ablation - clean)


def _next_token_loss(logits: Tensor, tokens: Tensor) -> float:
    vocab = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1)).item()


@torch.no_grad()
def spliced_losses(
    model, sae: nn.Module, tokens: Tensor, hook_name: str, first_pos: int = 1
) -> dict:
    """Next-token losses clean, with the SAE's reconstruction at `hook_name` (positions from
    `first_pos` on), and with that activation zeroed there; SAELens's names."""

    # In place, as a TransformerBridge needs: at some hook points (resid_mid) the model reads
    # the hooked tensor itself after the hook, not only what the hook returns.
    def splice(act, hook):
        later = act.narrow(1, first_pos, act.shape[1] - first_pos)
        later.copy_(sae(later.clone()))
        return act

    def zero(act, hook):
        act.narrow(1, first_pos, act.shape[1] - first_pos).zero_()
        return act

    clean = _next_token_loss(model(tokens), tokens)
    with_sae = _next_token_loss(
        model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)]), tokens
    )
    ablated = _next_token_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, zero)]), tokens)
    return {
        "ce_loss_without_sae": clean,
        "ce_loss_with_sae": with_sae,
        "ce_loss_with_ablation": ablated,
        "ce_loss_score": ce_loss_score(clean, with_sae, ablated),
    }


def top_activations(acts: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The k largest entries of acts [batch, pos], largest first: (values, rows, positions)."""
    order = acts.reshape(-1).argsort(descending=True, stable=True)[:k]
    rows, positions = torch.unravel_index(order, acts.shape)
    return acts[rows, positions], rows, positions


def precision_recall(fires: Tensor, labels: Tensor) -> tuple[float, float]:
    """(true positives / positives predicted, true positives / positives), 0.0 for 0/0."""
    cells = torch.bincount(
        2 * fires.bool().reshape(-1).long() + labels.bool().reshape(-1).long(), minlength=4
    )
    _, false_negatives, false_positives, true_positives = cells.tolist()
    fired, labelled = true_positives + false_positives, true_positives + false_negatives
    return (true_positives / fired if fired else 0.0), (
        true_positives / labelled if labelled else 0.0
    )


def clamp_latent(act: Tensor, sae: nn.Module, latent: int, value: float) -> Tensor:
    """The SAE's reconstruction with latent `latent` set to `value`, plus the SAE's error term
    (act - x̂), so that everything the SAE does not explain is kept."""
    f = sae.encode(act)
    error = act - sae.decode(f)
    edited = f.clone()
    edited[..., latent] = value
    return sae.decode(edited) + error
