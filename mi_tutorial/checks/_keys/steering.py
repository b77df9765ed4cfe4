"""Reference answers for chapter 06, directions and steering: what `checks.ch06` compares with.

The recipe is the one of Arditi et al., "Refusal in Language Models Is Mediated by a Single
Direction" (2024): a difference of means per layer and position, chosen on held-out prompts
by what ablating and adding it does; directional ablation at every layer; activation
addition at one layer; weight orthogonalization. Plus the affine variant that sets the
projection to a reference (harmless) mean instead of zero.

The projections are written as matrices (I - d d^T / d.d, applied on the right), not as
the chapter's "subtract the component along the unit vector", so that a mistake the chapter's
solution and its key shared could not pass unseen.

Shapes follow the course's vocabulary: batch, pos, layer, d_model, d_vocab. The candidate
directions of a model with `n_layers` layers are indexed by `layer` in 0 … n_layers:
`resid_pre` of each layer, then the final residual stream (`resid_post` of the last layer).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

Hook = tuple[str, Callable]

# The parameters (names of `model.tl_parameters()`, `{layer}` filled in) that write to the
# residual stream: the embeddings, each attention layer's output and each MLP's output.
WRITING_PARAMETERS = ("embed.W_E", "pos_embed.W_pos")
WRITING_PARAMETERS_PER_LAYER = (
    "blocks.{layer}.attn.W_O",
    "blocks.{layer}.attn.b_O",
    "blocks.{layer}.mlp.W_out",
    "blocks.{layer}.mlp.b_out",
)


def refusal_score(logits: Tensor, refuse_id: int, comply_id: int) -> Tensor:
    """[batch]: logit of the refusal reply's first token minus the compliant one's, at the
    last position."""
    if logits.ndim != 3:
        raise ValueError(
            "refusal_score: logits should be [batch, pos, d_vocab], "
            f"got shape {list(logits.shape)}."
        )
    return logits[:, -1, refuse_id] - logits[:, -1, comply_id]


def kl_last_position(clean_logits: Tensor, edited_logits: Tensor) -> Tensor:
    """Mean over the batch of KL(clean || edited) between the next-token distributions at the
    last position."""
    if clean_logits.shape != edited_logits.shape:
        raise ValueError(
            f"kl_last_position: shapes differ, {list(clean_logits.shape)} and "
            f"{list(edited_logits.shape)}."
        )
    clean = clean_logits[:, -1].log_softmax(dim=-1)  # [batch d_vocab]
    edited = edited_logits[:, -1].log_softmax(dim=-1)
    return (clean.exp() * (clean - edited)).sum(dim=-1).mean()


def candidate_hook_names(n_layers: int) -> list[str]:
    """Where the candidates are read: resid_pre of every layer, then the final residual stream."""
    return [get_act_name("resid_pre", layer) for layer in range(n_layers)] + [
        get_act_name("resid_post", n_layers - 1)
    ]


def mean_activations(model, tokens: Tensor, n_positions: int) -> Tensor:
    """[layer_plus_1, n_positions, d_model]: the mean over the batch of each candidate
    activation at the last `n_positions` positions."""
    if not 1 <= n_positions <= tokens.shape[1]:
        raise ValueError(
            f"n_positions must be in 1 … {tokens.shape[1]} (the prompts' length), "
            f"got {n_positions}."
        )
    names = candidate_hook_names(model.cfg.n_layers)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in names)
    return torch.stack([cache[name][:, -n_positions:].mean(dim=0) for name in names])


def candidate_directions(
    model, harmful_tokens: Tensor, harmless_tokens: Tensor, n_positions: int
) -> Tensor:
    """[layer_plus_1, n_positions, d_model]: mean on harmful prompts minus mean on harmless ones."""
    return mean_activations(model, harmful_tokens, n_positions) - mean_activations(
        model, harmless_tokens, n_positions
    )


def _along(direction: Tensor) -> Tensor:
    """The orthogonal projector onto the line of `direction` (any length): d d^T / d.d,
    [d_model, d_model]."""
    column = direction.reshape(-1, 1)
    return (column @ column.T) / (column.T @ column)


def _orthogonal_complement(direction: Tensor) -> Tensor:
    """The projector onto the hyperplane orthogonal to `direction`: I - d d^T / d.d."""
    return torch.eye(direction.shape[-1], dtype=direction.dtype) - _along(direction)


def ablate_direction(resid: Tensor, direction: Tensor) -> Tensor:
    """`resid` with its component along `direction` (any length) removed."""
    return resid @ _orthogonal_complement(direction)


def ablation_hook_names(n_layers: int) -> list[str]:
    """Every point of the residual stream: resid_pre and resid_mid of each layer, and the
    final resid_post."""
    names = [
        get_act_name(kind, layer)
        for layer in range(n_layers)
        for kind in ("resid_pre", "resid_mid")
    ]
    return names + [get_act_name("resid_post", n_layers - 1)]


def _ablation_hook(resid: Tensor, hook, direction: Tensor) -> Tensor:
    return ablate_direction(resid, direction)


def ablation_hooks(model, direction: Tensor) -> list[Hook]:
    """Hooks that remove `direction` from the residual stream everywhere."""
    fn = functools.partial(_ablation_hook, direction=direction)
    return [(name, fn) for name in ablation_hook_names(model.cfg.n_layers)]


def addition_hook_name(n_layers: int, layer: int) -> str:
    """The point candidate `layer` was read at (layer == n_layers is the final residual stream)."""
    if not 0 <= layer <= n_layers:
        raise ValueError(
            f"layer must be in 0 … {n_layers} (n_layers is the final residual stream), got {layer}."
        )
    return candidate_hook_names(n_layers)[layer]


def _addition_hook(resid: Tensor, hook, vector: Tensor) -> Tensor:
    return resid + vector


def addition_hooks(model, vector: Tensor, layer: int, coefficient: float) -> list[Hook]:
    """A hook adding `coefficient * vector` at every position where candidate `layer` was read."""
    name = addition_hook_name(model.cfg.n_layers, layer)
    return [(name, functools.partial(_addition_hook, vector=coefficient * vector))]


def score_candidates(
    model,
    candidates: Tensor,
    harmful_tokens: Tensor,
    harmless_tokens: Tensor,
    refuse_id: int,
    comply_id: int,
) -> Tensor:
    """[layer_plus_1, n_positions, 3]: for each candidate, the mean refusal score on harmful
    prompts with it ablated (bypass), on harmless prompts with it added at its layer (induce),
    and the KL at the last position on harmless prompts with it ablated."""
    scores = torch.empty(*candidates.shape[:2], 3)
    with torch.no_grad():
        clean_harmless = model(harmless_tokens)
        for layer in range(candidates.shape[0]):
            for pos in range(candidates.shape[1]):
                direction = candidates[layer, pos]
                ablated = model.run_with_hooks(
                    harmful_tokens, fwd_hooks=ablation_hooks(model, direction)
                )
                added = model.run_with_hooks(
                    harmless_tokens, fwd_hooks=addition_hooks(model, direction, layer, 1.0)
                )
                ablated_harmless = model.run_with_hooks(
                    harmless_tokens, fwd_hooks=ablation_hooks(model, direction)
                )
                scores[layer, pos, 0] = refusal_score(ablated, refuse_id, comply_id).mean()
                scores[layer, pos, 1] = refusal_score(added, refuse_id, comply_id).mean()
                scores[layer, pos, 2] = kl_last_position(clean_harmless, ablated_harmless)
    return scores


def select_direction(
    scores: Tensor, layer_limit: float, max_kl: float = math.inf
) -> tuple[int, int] | None:
    """(layer, position index) of the candidate with the lowest bypass score among those with
    layer < layer_limit, an induce score above 0 and a KL below max_kl; None if there is none."""
    best = None  # (bypass, layer, position index) of the best candidate so far
    for layer in range(scores.shape[0]):
        if not layer < layer_limit:
            continue
        for position in range(scores.shape[1]):
            bypass, induce, kl = scores[layer, position].tolist()
            if induce > 0 and kl < max_kl and (best is None or bypass < best[0]):
                best = (bypass, layer, position)
    return None if best is None else (best[1], best[2])


def project_out(weight: Tensor, direction: Tensor) -> Tensor:
    """`weight` (last axis d_model) with each of its d_model vectors made orthogonal to
    `direction`."""
    return torch.einsum("...i,ij->...j", weight, _orthogonal_complement(direction))


def writing_parameter_names(n_layers: int) -> list[str]:
    return list(WRITING_PARAMETERS) + [
        name.format(layer=layer)
        for layer in range(n_layers)
        for name in WRITING_PARAMETERS_PER_LAYER
    ]


def orthogonalize_model(model, direction: Tensor) -> None:
    """Edit, in place, every weight and bias that writes to the residual stream so that none
    of them can write along `direction`."""
    params = model.tl_parameters()
    with torch.no_grad():
        for name in writing_parameter_names(model.cfg.n_layers):
            params[name].copy_(project_out(params[name], direction))


def ablate_to_reference(resid: Tensor, direction: Tensor, reference: Tensor) -> Tensor:
    """`resid` with its component along `direction` set to that of `reference` (broadcast)."""
    return resid @ _orthogonal_complement(direction) + reference @ _along(direction)
