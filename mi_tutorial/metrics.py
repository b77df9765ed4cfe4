"""Measurements the chapters, their checks and the recipes share: the language-model loss
and the head scores of chapter 02.

Chapter 01 has you write the loss (`lm_cross_entropy`) and chapter 02 the head scores;
later chapters and the course's own code use these copies.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from transformer_lens.utilities import get_act_name


def lm_loss(logits: Tensor, tokens: Tensor, *, start: int = 0) -> Tensor:
    """Mean next-token cross-entropy: logits[:, :-1] predict tokens[:, 1:].

    Chapter 1 has you write it (lm_cross_entropy); later chapters use this copy. With
    `start`, only the tokens at positions >= start are scored (e.g. the second half of a
    repeated sequence). logits: [batch, pos, d_vocab]; tokens: [batch, pos].
    """
    if logits.ndim != 3 or tokens.shape != logits.shape[:2]:
        raise ValueError(
            f"lm_loss: expected logits [batch, pos, d_vocab] and tokens [batch, pos] with the "
            f"same batch and pos, got logits {list(logits.shape)} and tokens {list(tokens.shape)}."
        )
    n_pos = tokens.shape[1]
    if not 0 <= start < n_pos:
        raise ValueError(f"lm_loss: start must be in 0..{n_pos - 1} (pos = {n_pos}), got {start}.")
    first = max(start, 1)  # position 0 is never predicted: nothing comes before it
    predicted_logits = logits[:, first - 1 : -1]  # [batch, pos - first, d_vocab]
    targets = tokens[:, first:]  # [batch, pos - first]
    return F.cross_entropy(predicted_logits.flatten(0, 1), targets.flatten())


def attention_patterns(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """Attention patterns of every layer, stacked: [layer, batch, head, q, k]."""
    n_layers = model.cfg.n_layers
    names = [get_act_name("pattern", layer) for layer in range(n_layers)]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return torch.stack([cache["pattern", layer] for layer in range(n_layers)])


def induction_scores(model: torch.nn.Module, tokens: Tensor, half_len: int) -> Tensor:
    """Induction score of every head, [layer, head] (chapter 2).

    `tokens` end with a run of `half_len` tokens repeated (as `repeated_tokens` makes).
    The score is the mean attention from each query i in the second half to key
    i - half_len + 1: the token right after the earlier copy of token i.
    """
    if not (1 <= half_len and 2 * half_len <= tokens.shape[1]):
        raise ValueError(
            f"induction_scores: tokens of {tokens.shape[1]} positions cannot end with two "
            f"runs of half_len={half_len}; pass the half_len the tokens were made with."
        )
    patterns = attention_patterns(model, tokens)  # [layer, batch, head, q, k]
    # The diagonal at offset -(half_len - 1) holds pattern[q, q - half_len + 1];
    # its last half_len entries are the queries of the second half.
    stripe = patterns.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., -half_len:]
    return stripe.mean(dim=(1, 3))  # average over batch and query: [layer, head]


def prev_token_scores(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """Previous-token score of every head, [layer, head]: mean attention from i to i - 1 (chapter 2)."""
    patterns = attention_patterns(model, tokens)  # [layer, batch, head, q, k]
    return patterns.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(1, 3))


def best_head(scores: Tensor) -> tuple[float, str]:
    """The highest score in a [layer, head] tensor and its head, written "layer.head"."""
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return float(scores[layer, head]), f"{layer}.{head}"


def induction_metrics(model: torch.nn.Module, tokens: Tensor, half_len: int) -> dict:
    """Losses on each half and the best induction / previous-token heads (chapter 2).

    `repeated_half_loss` skips the first token of the repeat: nothing before it says the
    sequence is about to repeat, so no model can predict it.
    """
    with torch.no_grad():
        logits = model(tokens)  # [batch, pos, d_vocab]
    repeat_start = tokens.shape[1] - half_len
    best_induction, induction_head = best_head(induction_scores(model, tokens, half_len))
    best_prev, prev_head = best_head(prev_token_scores(model, tokens))
    return {
        # Slicing to the first half is exact: a causal model's logits at a position do
        # not depend on what comes after it.
        "first_half_loss": lm_loss(logits[:, :repeat_start], tokens[:, :repeat_start]).item(),
        "repeated_half_loss": lm_loss(logits, tokens, start=repeat_start + 1).item(),
        "best_induction_score": best_induction,
        "best_induction_head": induction_head,
        "best_prev_token_score": best_prev,
        "best_prev_token_head": prev_head,
    }
