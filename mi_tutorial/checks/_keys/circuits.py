"""Answer keys for chapter 10 (circuit tracing), written differently from the chapter.

- TopK by a threshold (the k-th largest value of each row), not by scatter;
- the spliced and the replacement model computed by the *real* model with hooks at other
  hook points (ln2.hook_out / mlp.hook_out, the pattern and scale hooks), not by a loop over
  parameters;
- direct effects by intervention: in a model that is linear in its nodes, a node's direct
  effect is the target minus the target with that node set to 0 (no gradient taken);
- influence as an explicit sum of matrix powers; pruning and labels by plain Python loops.
Never imported by a chapter.
"""

from __future__ import annotations

import copy
from collections import Counter

import torch
from torch import Tensor


def topk_features(pre: Tensor, k: int) -> Tensor:
    """ReLU'd entries of `pre` at or above each row's k-th largest value; 0 elsewhere."""
    threshold = pre.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(pre >= threshold, pre.clamp_min(0), torch.zeros_like(pre))


def normalized_mse(target: Tensor, prediction: Tensor) -> float:
    n = target.shape[0]
    return float((target - prediction).pow(2).sum() / (n * target.var(dim=0, unbiased=False).sum()))


def spliced_logits(model, transcoders, tokens: Tensor, layers=None) -> Tensor:
    """The model with each MLP's output (mlp.hook_out) of `layers` (default all) replaced by the
    transcoder of ln2's output."""
    seen = {}
    hooks = []
    for layer in range(model.cfg.n_layers) if layers is None else layers:

        def keep(x, hook, layer=layer):
            seen[layer] = x.clone()

        def replace(out, hook, layer=layer):
            tc = transcoders[layer]
            return topk_features(seen[layer] @ tc.W_enc + tc.b_enc, tc.k) @ tc.W_dec + tc.b_dec

        hooks += [(f"blocks.{layer}.ln2.hook_out", keep), (f"blocks.{layer}.mlp.hook_out", replace)]
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=hooks)


def frozen_hooks(frozen) -> list:
    """Hooks holding the real model's patterns and LayerNorm scales at `frozen`'s values."""
    hooks = []
    for layer in range(len(frozen.patterns)):
        hooks += [
            (
                f"blocks.{layer}.attn.hook_pattern",
                lambda x, hook, L=layer: frozen.patterns[L][None].expand_as(x),
            ),
            (
                f"blocks.{layer}.ln1.hook_scale",
                lambda x, hook, L=layer: frozen.ln1_scale[L][None].expand_as(x),
            ),
            (
                f"blocks.{layer}.ln2.hook_scale",
                lambda x, hook, L=layer: frozen.ln2_scale[L][None].expand_as(x),
            ),
        ]
    hooks.append(("ln_final.hook_scale", lambda x, hook: frozen.ln_final_scale[None].expand_as(x)))
    return hooks


def replacement(
    model,
    transcoders,
    frozen,
    tokens: Tensor,
    embed: Tensor,
    features=None,
    freeze_attention: bool = True,
) -> tuple[Tensor, list[Tensor]]:
    """(logits [pos d_vocab], pre-activations per layer) of the replacement model, computed by the
    real model: residual stream set to `embed`, patterns and scales frozen, each MLP's output
    replaced by the transcoder's (or `features`' decoding) plus the frozen error."""
    pres = {}
    hooks = [("blocks.0.hook_resid_pre", lambda x, hook: embed[None].clone())]
    hooks += frozen_hooks(frozen) if freeze_attention else []
    for layer in range(model.cfg.n_layers):

        def keep(x, hook, layer=layer):
            tc = transcoders[layer]
            pres[layer] = x[0] @ tc.W_enc + tc.b_enc

        def replace(out, hook, layer=layer):
            tc = transcoders[layer]
            f = topk_features(pres[layer], tc.k) if features is None else features[layer]
            return (f @ tc.W_dec + tc.b_dec + frozen.errors[layer])[None]

        hooks += [(f"blocks.{layer}.ln2.hook_out", keep), (f"blocks.{layer}.mlp.hook_out", replace)]
    logits = model.run_with_hooks(tokens[None], fwd_hooks=hooks)[0]
    return logits, [pres[layer] for layer in range(model.cfg.n_layers)]


def direct_effects(model, transcoders, frozen, tokens, embed, features, target):
    """Each node's direct effect on target(logits, pres), by setting the node to 0 (features fixed:
    the model is then affine in embed, features and errors, so the difference is exact)."""
    from mi_tutorial.transcoders import run_replacement  # the library's (linear mode)

    def value(e, fs, errors):
        fr = copy.copy(frozen)
        fr.errors = errors
        with torch.no_grad():
            return float(target(*run_replacement(model, transcoders, fr, e, fs)))

    full = value(embed, features, frozen.errors)
    n_pos = embed.shape[0]
    embed_effects = torch.zeros(n_pos)
    for p in range(n_pos):
        e = embed.clone()
        e[p] = 0
        embed_effects[p] = full - value(e, features, frozen.errors)
    feature_effects = [torch.zeros_like(f) for f in features]
    for layer, f in enumerate(features):
        for p, i in f.nonzero().tolist():
            fs = [g.clone() for g in features]
            fs[layer][p, i] = 0
            feature_effects[layer][p, i] = full - value(embed, fs, frozen.errors)
    error_effects = torch.zeros(frozen.errors.shape[:2])
    for layer in range(frozen.errors.shape[0]):
        for p in range(n_pos):
            errors = frozen.errors.clone()
            errors[layer, p] = 0
            error_effects[layer, p] = full - value(embed, features, errors)
    return embed_effects, feature_effects, error_effects


def influence(adjacency: Tensor) -> Tensor:
    """The last node's row of Â + Â² + ... + Âⁿ (Â: |A|, rows normalised; nilpotent on a DAG)."""
    A = adjacency.abs().double()
    sums = A.sum(-1, keepdim=True)
    A = torch.where(
        sums > 0, A / torch.where(sums > 0, sums, torch.ones_like(sums)), torch.zeros_like(A)
    )
    total, power = torch.zeros_like(A), torch.eye(len(A), dtype=A.dtype)
    for _ in range(len(A)):
        power = power @ A
        total += power
    return total[-1].float()


def prune(influence: Tensor, share: float) -> Tensor:
    values = influence.tolist()
    order = sorted(range(len(values)), key=lambda i: -values[i])
    goal, running = share * sum(values), 0.0
    keep = torch.zeros(len(values), dtype=torch.bool)
    for i in order:
        keep[i] = True
        running += values[i]
        if running >= goal - 1e-6 * abs(goal):
            break
    return keep


def label(acts: Tensor, tokens: Tensor, k: int, category) -> tuple[str, float]:
    ranked = sorted(range(len(acts)), key=lambda i: -float(acts[i]))[:k]
    counts = Counter(category(int(tokens[i])) for i in ranked)
    best = max(counts.values())
    name = next(c for c in (category(int(tokens[i])) for i in ranked) if counts[c] == best)
    return name, best / k


def ablation_effect(model, transcoder, layer, tokens, pos, feature, target, fwd_hooks=()) -> float:
    """The same ablation through other hook points (ln2.hook_out, mlp.hook_out)."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens[None], names_filter=[f"blocks.{layer}.ln2.hook_out"])
        x = cache[f"blocks.{layer}.ln2.hook_out"][0, pos]
        a = topk_features(x @ transcoder.W_enc + transcoder.b_enc, transcoder.k)[feature]

        def remove(out, hook):
            out = out.clone()
            out[0, pos] -= a * transcoder.W_dec[feature]
            return out

        clean = model.run_with_hooks(tokens[None], fwd_hooks=list(fwd_hooks))[0, -1] @ target
        ablated = (
            model.run_with_hooks(
                tokens[None], fwd_hooks=[(f"blocks.{layer}.mlp.hook_out", remove), *fwd_hooks]
            )[0, -1]
            @ target
        )
    return float(ablated - clean)
