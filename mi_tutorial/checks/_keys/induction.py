"""Reference answers for chapter 02, induction heads: what `checks.ch02` compares with.

Each key is written differently from the chapter's solution, so that a mistake the two
shared could not pass unseen: the losses from log-probabilities gathered per position (not
`metrics.lm_loss`), duplicate-token scores by a loop over queries, ablations with
`torch.where` masks, every head of a layer ablated in one batched forward pass, the OV
circuit as a `FactoredMatrix` of its two halves, the positional pattern row by row.

Where TransformerLens or `mi_tutorial.metrics` already computes the same thing, the checks use
that instead and nothing is repeated here: the previous-token and induction scores are
`metrics.prev_token_scores` / `metrics.induction_scores`, the composition scores are
`model.all_composition_scores`, a composition score of two matrices is
`transformer_lens.utilities.matrix.composition_scores`, and the heads' outputs come from
`ActivationCache.stack_head_results`.

Shapes follow the course's vocabulary: batch, pos (q_pos, k_pos), head, layer, d_model,
d_head, d_vocab.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from transformer_lens import FactoredMatrix
from transformer_lens.utilities import get_act_name
from transformer_lens.utilities.matrix import composition_scores


def _check_half_len(tokens: Tensor, half_len: int, who: str) -> int:
    """The position where the repeat starts; a clear error when the tokens cannot hold it."""
    n_pos = tokens.shape[-1]
    if not (isinstance(half_len, int) and half_len >= 2 and 2 * half_len < n_pos):
        raise ValueError(
            f"{who}: tokens of {n_pos} positions cannot be a BOS token followed by two runs of "
            f"half_len={half_len!r} (need 2 <= half_len and 2 * half_len < pos)."
        )
    return n_pos - half_len


def split_losses(logits: Tensor, tokens: Tensor, half_len: int) -> Tensor:
    """[first-half loss, repeated-half loss] of sequences that end with a run repeated.

    The first half scores the predictions of the first run's tokens; the repeated half scores
    the second run's tokens except its first one, which nothing announces. The same split as
    `metrics.induction_metrics`.
    """
    repeat_start = _check_half_len(tokens, half_len, "split_losses")
    # nll[:, p - 1] = -log P(token p | tokens before p), for the tokens p = 1 .. pos - 1
    nll = -logits[:, :-1].log_softmax(dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
    first = nll[:, : repeat_start - 1]  # tokens 1 .. repeat_start - 1
    repeated = nll[:, repeat_start:]  # tokens repeat_start + 1 .. pos - 1
    return torch.stack([first.mean(), repeated.mean()])


def duplicate_token_scores(pattern: Tensor, tokens: Tensor) -> Tensor:
    """Duplicate-token score of each head, [head]: attention from a token to its earlier copies.

    For every query whose token appeared earlier in its sequence, sum the attention it pays to
    those earlier positions; average over such queries (and the batch).
    pattern: [batch, head, q_pos, k_pos]; tokens: [batch, pos].
    """
    total = torch.zeros(pattern.shape[1], dtype=pattern.dtype)
    n_queries = 0
    for b, sequence in enumerate(tokens.tolist()):
        positions_of: dict[int, list[int]] = {}  # token -> the positions it has appeared at so far
        for q, token in enumerate(sequence):
            earlier = positions_of.setdefault(token, [])
            if earlier:
                total += pattern[b, :, q, earlier].sum(dim=-1)
                n_queries += 1
            earlier.append(q)
    if n_queries == 0:
        raise ValueError(
            "duplicate_token_scores: no token appears twice, so the score is undefined."
        )
    return total / n_queries


def logit_attribution(cache, model, tokens: Tensor) -> Tensor:
    """Direct contribution of each component to the logit of the correct next token.

    Returns [batch, pos - 1, component] with the components in the order embed, pos_embed,
    then every head (L0H0, L0H1, …). For a model without a final LayerNorm (attention-only
    models of chapter 2). Head outputs from TransformerLens's `stack_head_results`.
    """
    heads = cache.stack_head_results()  # [layer*head batch pos d_model]
    stack = torch.cat([cache["embed"][None], cache["pos_embed"][None], heads])
    W_U_correct = model.W_U[:, tokens[:, 1:]]  # [d_model batch pos-1]
    return torch.einsum("cbpd,dbp->bpc", stack[:, :, :-1], W_U_correct)


def mean_ablate_head(z: Tensor, hook, head: int) -> Tensor:
    """Hook on hook_z: head `head`'s z replaced by its mean over the batch, at each position."""
    is_head = (torch.arange(z.shape[2]) == head)[None, None, :, None]
    return torch.where(is_head, z.mean(dim=0, keepdim=True).expand_as(z), z)


def zero_ablate_head(z: Tensor, hook, head: int) -> Tensor:
    """Hook on hook_z: head `head`'s z set to zero."""
    return z * (torch.arange(z.shape[2]) != head).to(z.dtype)[:, None]


@torch.no_grad()
def repeated_half_ablation(model, tokens: Tensor, half_len: int, ablate) -> Tensor:
    """Increase of the repeated-half loss when each head is ablated by `ablate`, [layer, head].

    One forward pass per layer: the batch is tiled once per head, and copy h of the batch
    has head h ablated (`ablate` sees that copy alone, so a mean over the batch stays one)."""
    batch, n_heads = tokens.shape[0], model.cfg.n_heads
    clean = split_losses(model(tokens), tokens, half_len)[1]
    tiled = tokens.repeat(n_heads, 1)  # [n_heads * batch, pos]

    def ablate_each_copy(z: Tensor, hook) -> Tensor:
        return torch.cat(
            [ablate(copy.clone(), hook, head=h) for h, copy in enumerate(z.split(batch))]
        )

    rows = []
    for layer in range(model.cfg.n_layers):
        logits = model.run_with_hooks(
            tiled, fwd_hooks=[(get_act_name("z", layer), ablate_each_copy)]
        )
        rows.append(
            torch.stack([split_losses(part, tokens, half_len)[1] for part in logits.split(batch)])
        )
    return torch.stack(rows) - clean


def full_ov_circuit(model, layer: int, head: int) -> FactoredMatrix:
    """W_E W_V W_O W_U of one head, [d_vocab, d_vocab]: row = attended token, column = logit."""
    return FactoredMatrix(model.W_E @ model.W_V[layer, head], model.W_O[layer, head] @ model.W_U)


def copying_score(full_ov: Tensor) -> float:
    """Fraction of tokens (rows) whose largest output logit is the token itself."""
    own_logit = full_ov.diagonal()
    return (own_logit >= full_ov.max(dim=-1).values).float().mean().item()


def positional_pattern(model, layer: int, head: int) -> Tensor:
    """The attention pattern [q_pos, k_pos] a head would have if the residual stream held
    only the positional embeddings (no token embeddings, no biases): n_ctx x n_ctx."""
    with torch.no_grad():
        queries = model.W_pos @ model.W_Q[layer, head]  # [n_ctx, d_head]
        keys = model.W_pos @ model.W_K[layer, head]
        n_pos = queries.shape[0]
        pattern = torch.zeros(n_pos, n_pos, dtype=queries.dtype)
        for q in range(n_pos):  # query q sees the keys 0 .. q
            pattern[q, : q + 1] = (
                keys[: q + 1] @ queries[q] / math.sqrt(model.cfg.d_head)
            ).softmax(dim=0)
    return pattern


def composition_score(W_A: FactoredMatrix, W_B: FactoredMatrix) -> float:
    """||W_A W_B||_F / (||W_A||_F ||W_B||_F), by TransformerLens."""
    return composition_scores(W_A, W_B, broadcast_dims=False).item()


def layer_composition_scores(model, kind: str) -> Tensor:
    """Q-, K- or V-composition scores from every layer-0 head (rows) into every layer-1 head
    (columns), [head, head], by TransformerLens."""
    if kind not in ("Q", "K", "V"):
        raise ValueError(f"layer_composition_scores: kind must be 'Q', 'K' or 'V', got {kind!r}.")
    return model.all_composition_scores(kind).scores[0, :, 1, :].detach()


def composition_baseline(
    d_model: int, d_head: int, n_samples: int, generator: torch.Generator
) -> float:
    """Mean composition score of two random rank-d_head matrices in d_model dimensions, each the
    product of standard-normal factors [d_model, d_head] @ [d_head, d_model]."""

    def random_matrix() -> FactoredMatrix:
        return FactoredMatrix(
            torch.randn(d_model, d_head, generator=generator),
            torch.randn(d_head, d_model, generator=generator),
        )

    return (
        sum(composition_score(random_matrix(), random_matrix()) for _ in range(n_samples))
        / n_samples
    )
