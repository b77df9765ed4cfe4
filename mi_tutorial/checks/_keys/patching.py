"""Reference answers for chapter 03, activation patching: what `checks.ch03` compares with.

The sweeps return what the matching `transformer_lens.patching` function returns (the tests
hold them to 1e-5; `benchmarks/patching.py` times them), but they do no work twice:

- the clean and the corrupted activations come from one cached run each;
- a patch at layer L changes nothing before layer L, so the run starts from the corrupted
  residual stream entering layer L and calls only `model.blocks[L:]`, `ln_final` and
  `unembed` (a TransformerBridge's blocks can be called on a residual stream directly, and
  give bit-identical logits);
- a patch that only *adds* something to the residual stream (an attention layer's output, an
  MLP's output, one head's output, or a head's values or pattern, which change only its z)
  adds the clean-minus-corrupted difference instead of recomputing the attention, and an MLP,
  which works position by position, is re-run only at the position that changed;
- a patch that copies a clean activation equal to the corrupted one (every position before
  the first token where the prompts differ, for instance) changes nothing: its result is the
  unpatched corrupted run's metric, computed once (`skip_unchanged=False` computes it anyway);
- the patches of one layer run together, stacked along the batch axis
  ([patch * batch, pos, d_model]), at most `MAX_ROWS` sequences per forward pass.

A metric maps the logits of one patched batch, [batch, pos, d_vocab], to a number, as in
`transformer_lens.patching`. Shapes use the course's vocabulary: batch, pos, head, layer,
d_model, d_head, d_vocab.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor
from transformer_lens import ActivationCache
from transformer_lens.utilities import get_act_name

Metric = Callable[[Tensor], Tensor]

MAX_ROWS = 1024  # sequences per forward pass: [1024, 15, d_mlp=512] floats is 31 MB
LAYER_POS_ACTS = ("resid_pre", "attn_out", "mlp_out")
HEAD_ACTS = ("z", "q", "k", "v", "pattern")
BY_POS_HEAD_ACTS = ("z", "q", "k", "v")
PATH_COMPONENTS = ("q", "k", "v")


# ---------------------------------------------------------------------------------------
# Metrics (Part 1)
# ---------------------------------------------------------------------------------------


def logit_diff(logits: Tensor, answers: Tensor, wrong: Tensor) -> Tensor:
    """[batch]: the logit of each prompt's right answer minus its wrong answer's, at the last
    position."""
    last = logits[:, -1]  # [batch d_vocab]
    return last.gather(1, answers[:, None]).squeeze(1) - last.gather(1, wrong[:, None]).squeeze(1)


def normalized_metric(
    logits: Tensor, answers: Tensor, wrong: Tensor, clean_ld: float, corrupted_ld: float
) -> Tensor:
    """The mean logit difference rescaled so that the corrupted run scores 0 and the clean run 1."""
    if clean_ld == corrupted_ld:
        raise ValueError(
            "normalized_metric: clean_ld equals corrupted_ld, so there is no gap to normalize by."
        )
    return (logit_diff(logits, answers, wrong).mean() - corrupted_ld) / (clean_ld - corrupted_ld)


# ---------------------------------------------------------------------------------------
# The machinery: start at layer L, stack patches along the batch axis
# ---------------------------------------------------------------------------------------


def _check_tokens(model, tokens: Tensor, cache: ActivationCache, who: str) -> None:
    if not isinstance(tokens, Tensor) or tokens.ndim != 2:
        raise ValueError(f"{who}: tokens must be a [batch, pos] tensor of token ids.")
    resid = cache[get_act_name("resid_pre", 0)]
    if tuple(resid.shape[:2]) != tuple(tokens.shape):
        raise ValueError(
            f"{who}: the cache holds activations of shape {tuple(resid.shape[:2])} (batch, pos) "
            "but the tokens "
            f"are {tuple(tokens.shape)}; cache a run on prompts of the same shape."
        )


def run_cache(model, tokens: Tensor) -> ActivationCache:
    """One cached forward pass without gradients (the activations every sweep starts from)."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    return cache


def _block_out(output) -> Tensor:
    return output[0] if isinstance(output, tuple) else output


def run_from(model, resid: Tensor, layer: int) -> Tensor:
    """The logits when `resid` is the residual stream entering block `layer`: runs only
    `model.blocks[layer:]`, then `ln_final` and `unembed` (layer = n_layers: just those two)."""
    for block in model.blocks[layer:]:
        resid = _block_out(block(resid))
    return model.unembed(model.ln_final(resid))


def _mlp(model, layer: int, resid_mid: Tensor) -> Tensor:
    """resid_post of block `layer` from its resid_mid: the MLP works on each position alone."""
    block = model.blocks[layer]
    return resid_mid + block.mlp(block.ln2(resid_mid))


def _chunks(n_patches: int, batch: int) -> Iterator[slice]:
    step = max(1, MAX_ROWS // batch)
    for start in range(0, n_patches, step):
        yield slice(start, min(start + step, n_patches))


def _evaluate(metric: Metric, logits: Tensor, n_patches: int) -> Tensor:
    """[patch]: the metric of each patched batch; logits are [patch * batch, pos, d_vocab]."""
    per_patch = logits.reshape(n_patches, -1, *logits.shape[1:])
    return torch.stack(
        [torch.as_tensor(metric(one)).detach().float().reshape(()) for one in per_patch]
    )


def _baseline(model, metric: Metric, corrupted: ActivationCache) -> Tensor:
    """The metric of the unpatched corrupted run, from its cached final residual stream."""
    n_layers = model.cfg.n_layers
    return _evaluate(metric, run_from(model, corrupted["resid_post", n_layers - 1], n_layers), 1)[0]


def _to_compute(n: int, same: Callable[[int], bool], skip_unchanged: bool) -> list[int]:
    """The patches (0 … n-1) whose clean and corrupted activations differ, or all of them."""
    return [i for i in range(n) if not (skip_unchanged and same(i))]


def _stacked(base: Tensor, n: int) -> Tensor:
    """n copies of base, [n, *base.shape], each free to be edited."""
    return base.unsqueeze(0).repeat(n, *([1] * base.ndim))


def _flat(x: Tensor) -> Tensor:
    """[patch, batch, ...] -> [patch * batch, ...]"""
    return x.reshape(-1, *x.shape[2:])


# ---------------------------------------------------------------------------------------
# Sweeps (Part 2): denoising when given (corrupted tokens, clean cache), noising when
# given (clean tokens, corrupted cache); the code is the same.
# ---------------------------------------------------------------------------------------


def patch_layer_pos(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    metric: Metric,
    act_name: str = "resid_pre",
    *,
    corrupted_cache: ActivationCache | None = None,
    skip_unchanged: bool = True,
) -> Tensor:
    """[layer, pos]: the metric with `act_name` ("resid_pre", "attn_out" or "mlp_out") of one
    layer at one position patched from `clean_cache` into the run on `corrupted_tokens`.
    The same as `transformer_lens.patching.get_act_patch_resid_pre` / `_attn_out` / `_mlp_out`."""
    if act_name not in LAYER_POS_ACTS:
        raise ValueError(
            f"patch_layer_pos: act_name must be one of {LAYER_POS_ACTS}, got {act_name!r}."
        )
    _check_tokens(model, corrupted_tokens, clean_cache, "patch_layer_pos")
    corrupted = (
        corrupted_cache if corrupted_cache is not None else run_cache(model, corrupted_tokens)
    )
    n_layers, (batch, n_pos) = model.cfg.n_layers, corrupted_tokens.shape
    with torch.no_grad():
        results = _baseline(model, metric, corrupted).repeat(n_layers, n_pos)
        for layer in range(n_layers):
            clean, corr = clean_cache[act_name, layer], corrupted[act_name, layer]
            todo = _to_compute(
                n_pos, lambda j: torch.equal(clean[:, j], corr[:, j]), skip_unchanged
            )
            for chunk in _chunks(len(todo), batch):
                pos = torch.tensor(todo[chunk])  # patch i of this chunk patches position pos[i]
                n = len(pos)
                patch = torch.arange(n)
                if act_name == "resid_pre":
                    resid = _stacked(corrupted["resid_pre", layer], n)  # [patch batch pos d_model]
                    resid[patch, :, pos] = clean[:, pos].transpose(0, 1)
                    logits = run_from(model, _flat(resid), layer)
                else:
                    if (
                        act_name == "attn_out"
                    ):  # resid_mid = resid_pre + attn_out; the MLP runs at that position only
                        mid = (
                            corrupted["resid_pre", layer][:, pos] + clean[:, pos]
                        )  # [batch patch d_model]
                        new = _mlp(model, layer, mid.transpose(0, 1))  # [patch batch d_model]
                    else:  # resid_post = resid_mid + mlp_out
                        new = (corrupted["resid_mid", layer][:, pos] + clean[:, pos]).transpose(
                            0, 1
                        )
                    resid = _stacked(corrupted["resid_post", layer], n)
                    resid[patch, :, pos] = new
                    logits = run_from(model, _flat(resid), layer + 1)
                results[layer, pos] = _evaluate(metric, logits, n)
    return results


def _head_write(model, layer: int, z_diff: Tensor, head) -> Tensor:
    """What head(s) `head` add to the residual stream for a change z_diff in their z:
    z_diff [..., d_head] @ W_O[layer, head] -> [..., d_model]."""
    return z_diff @ model.W_O[layer, head]


def _rerun_layer_with_heads(
    model, layer: int, resid_pre: Tensor, act_name: str, clean: Tensor, targets: Sequence[tuple]
) -> Tensor:
    """Logits from running blocks[layer:] on len(targets) copies of resid_pre [batch pos d_model]
    where copy i has its `act_name` activation at targets[i] = (head,) or (head, pos) replaced
    by `clean`."""
    n, batch = len(targets), resid_pre.shape[0]

    def patch(act: Tensor, hook) -> Tensor:
        act = act.reshape(n, batch, *act.shape[1:]).clone()
        for i, target in enumerate(targets):
            if act_name == "pattern":  # [batch head q_pos k_pos]
                act[i, :, target[0]] = clean[:, target[0]]
            elif len(target) == 1:  # [batch pos head d_head]
                act[i, :, :, target[0]] = clean[:, :, target[0]]
            else:
                head, pos = target
                act[i, :, pos, head] = clean[:, pos, head]
        return act.reshape(n * batch, *act.shape[2:])

    with model.hooks(fwd_hooks=[(get_act_name(act_name, layer), patch)]):
        return run_from(model, _flat(_stacked(resid_pre, n)), layer)


def _head_slice(act_name: str, act: Tensor, head: int) -> Tensor:
    return act[:, head] if act_name == "pattern" else act[:, :, head]


def _patched_z(
    act_name: str, clean_cache: ActivationCache, corrupted: ActivationCache, layer: int
) -> Tensor:
    """[batch pos head d_head]: every head's z with its `act_name` ("z", "v" or "pattern") clean
    at every position: z is the pattern-weighted sum of the values, z = pattern @ v."""
    if act_name == "z":
        return clean_cache["z", layer]
    pattern = (clean_cache if act_name == "pattern" else corrupted)[
        "pattern", layer
    ]  # [batch head q_pos k_pos]
    v = (clean_cache if act_name == "v" else corrupted)["v", layer]  # [batch k_pos head d_head]
    return torch.einsum("bhqk,bkhd->bqhd", pattern, v)


def patch_heads_all_pos(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    metric: Metric,
    act_name: str = "z",
    *,
    corrupted_cache: ActivationCache | None = None,
    skip_unchanged: bool = True,
) -> Tensor:
    """[layer, head]: the metric with one head's `act_name` ("z" (its output), "q", "k", "v" or
    "pattern") patched at every position. The same as
    `transformer_lens.patching.get_act_patch_attn_head_{out,q,k,v,pattern}_all_pos`."""
    if act_name not in HEAD_ACTS:
        raise ValueError(
            f"patch_heads_all_pos: act_name must be one of {HEAD_ACTS}, got {act_name!r}."
        )
    _check_tokens(model, corrupted_tokens, clean_cache, "patch_heads_all_pos")
    corrupted = (
        corrupted_cache if corrupted_cache is not None else run_cache(model, corrupted_tokens)
    )
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    batch = corrupted_tokens.shape[0]
    with torch.no_grad():
        results = _baseline(model, metric, corrupted).repeat(n_layers, n_heads)
        for layer in range(n_layers):
            clean, corr = clean_cache[act_name, layer], corrupted[act_name, layer]
            same = lambda h: torch.equal(
                _head_slice(act_name, clean, h), _head_slice(act_name, corr, h)
            )  # noqa: E731
            todo = _to_compute(n_heads, same, skip_unchanged)
            for chunk in _chunks(len(todo), batch):
                heads = todo[chunk]
                if act_name in (
                    "z",
                    "v",
                    "pattern",
                ):  # the head's new z, without re-running the layer
                    z_diff = (
                        _patched_z(act_name, clean_cache, corrupted, layer) - corrupted["z", layer]
                    )
                    writes = torch.stack(
                        [_head_write(model, layer, z_diff[:, :, h], h) for h in heads]
                    )
                    mid = corrupted["resid_mid", layer] + writes  # [patch batch pos d_model]
                    logits = run_from(model, _flat(_mlp(model, layer, mid)), layer + 1)
                else:
                    targets = [(h,) for h in heads]
                    logits = _rerun_layer_with_heads(
                        model, layer, corrupted["resid_pre", layer], act_name, clean, targets
                    )
                results[layer, heads] = _evaluate(metric, logits, len(heads))
    return results


def patch_heads_by_pos(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    metric: Metric,
    act_name: str = "z",
    *,
    corrupted_cache: ActivationCache | None = None,
    skip_unchanged: bool = True,
) -> Tensor:
    """[layer, pos, head]: the metric with one head's `act_name` ("z", "q", "k" or "v") patched at
    one position. The same as `transformer_lens.patching.get_act_patch_attn_head_out_by_pos`
    (and `_q_by_pos`, `_k_by_pos`, `_v_by_pos`)."""
    if act_name not in BY_POS_HEAD_ACTS:
        raise ValueError(
            f"patch_heads_by_pos: act_name must be one of {BY_POS_HEAD_ACTS}, got {act_name!r}."
        )
    _check_tokens(model, corrupted_tokens, clean_cache, "patch_heads_by_pos")
    corrupted = (
        corrupted_cache if corrupted_cache is not None else run_cache(model, corrupted_tokens)
    )
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    batch, n_pos = corrupted_tokens.shape
    targets = [
        (head, pos) for pos in range(n_pos) for head in range(n_heads)
    ]  # pos-major, like [pos, head]
    with torch.no_grad():
        results = _baseline(model, metric, corrupted).repeat(n_layers, n_pos * n_heads)
        for layer in range(n_layers):
            clean, corr = clean_cache[act_name, layer], corrupted[act_name, layer]
            same = lambda i: torch.equal(
                clean[:, targets[i][1], targets[i][0]], corr[:, targets[i][1], targets[i][0]]
            )  # noqa: E731
            todo = _to_compute(len(targets), same, skip_unchanged)
            for chunk in _chunks(len(todo), batch):
                index = todo[chunk]
                chosen = [targets[i] for i in index]
                if act_name == "z":
                    heads = torch.tensor([h for h, _ in chosen])
                    pos = torch.tensor([p for _, p in chosen])
                    patch = torch.arange(len(chosen))
                    z_diff = (clean - corr)[:, pos, heads]  # [batch patch d_head]
                    write = torch.einsum(
                        "bnd,nde->nbe", z_diff, model.W_O[layer, heads]
                    )  # [patch batch d_model]
                    mid = corrupted["resid_mid", layer][:, pos].transpose(0, 1) + write
                    resid = _stacked(corrupted["resid_post", layer], len(chosen))
                    resid[patch, :, pos] = _mlp(
                        model, layer, mid
                    )  # only that position's MLP input changed
                    logits = run_from(model, _flat(resid), layer + 1)
                else:
                    logits = _rerun_layer_with_heads(
                        model, layer, corrupted["resid_pre", layer], act_name, clean, chosen
                    )
                results[layer, index] = _evaluate(metric, logits, len(chosen))
    return results.reshape(n_layers, n_pos, n_heads)


def attention_between(
    cache: ActivationCache, positions: dict[str, Tensor], query: str, key: str
) -> Tensor:
    """[layer, head]: the attention from each prompt's `positions[query]` to its `positions[key]`,
    averaged over prompts."""
    patterns = cache.stack_activation("pattern")  # [layer batch head q_pos k_pos]
    per_prompt = torch.stack(
        [
            patterns[:, b, :, positions[query][b], positions[key][b]]
            for b in range(patterns.shape[1])
        ]
    )  # [batch layer head]
    return per_prompt.mean(dim=0)


# ---------------------------------------------------------------------------------------
# Path patching (Part 3): one sender head's clean-minus-corrupted write reaches one receiver
# only; every other reader of the residual stream still sees the corrupted run.
# ---------------------------------------------------------------------------------------


def _sender_write(model, clean_cache, corrupted_cache, sender: tuple[int, int]) -> Tensor:
    layer, head = sender
    if not (0 <= layer < model.cfg.n_layers and 0 <= head < model.cfg.n_heads):
        raise ValueError(f"sender must be (layer, head) of this model, got {sender!r}.")
    z_diff = clean_cache["z", layer][:, :, head] - corrupted_cache["z", layer][:, :, head]
    return _head_write(model, layer, z_diff, head)  # [batch pos d_model]


def path_patch_to_heads(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    corrupted_cache: ActivationCache,
    metric: Metric,
    sender: tuple[int, int],
    component: str = "q",
) -> Tensor:
    """[layer, head]: the metric when only receiver head (layer, head)'s `component` ("q", "k"
    or "v") sees the sender head's clean output; 0 for layers up to the sender's (no path).
    What `transformer_lens.patching.get_act_patch_direct_path` computes, on models where that
    function runs (it needs a split Q/K/V input hook, which native models lack)."""
    if component not in PATH_COMPONENTS:
        raise ValueError(
            f"path_patch_to_heads: component must be one of {PATH_COMPONENTS}, got {component!r}."
        )
    _check_tokens(model, corrupted_tokens, clean_cache, "path_patch_to_heads")
    delta = _sender_write(model, clean_cache, corrupted_cache, sender)
    W = {"q": model.W_Q, "k": model.W_K, "v": model.W_V}[component]
    b = {"q": model.b_Q, "k": model.b_K, "v": model.b_V}[component]
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    results = torch.zeros(n_layers, n_heads)
    with torch.no_grad():
        for layer in range(sender[0] + 1, n_layers):
            normalized = model.blocks[layer].ln1(corrupted_cache["resid_pre", layer] + delta)
            receiver = (
                torch.einsum("bpm,hmd->bphd", normalized, W[layer]) + b[layer]
            )  # [batch pos head d_head]
            targets = [(h,) for h in range(n_heads)]
            logits = _rerun_layer_with_heads(
                model, layer, corrupted_cache["resid_pre", layer], component, receiver, targets
            )
            results[layer] = _evaluate(metric, logits, n_heads)
    return results


def path_patch_to_mlps(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    corrupted_cache: ActivationCache,
    metric: Metric,
    sender: tuple[int, int],
) -> Tensor:
    """[layer]: the metric when only layer L's MLP sees the sender head's clean output (in its
    input, at every position); 0 for layers before the sender's."""
    _check_tokens(model, corrupted_tokens, clean_cache, "path_patch_to_mlps")
    delta = _sender_write(model, clean_cache, corrupted_cache, sender)
    results = torch.zeros(model.cfg.n_layers)
    with torch.no_grad():
        for layer in range(sender[0], model.cfg.n_layers):
            block = model.blocks[layer]
            mlp_out = block.mlp(block.ln2(corrupted_cache["resid_mid", layer] + delta))
            resid_post = corrupted_cache["resid_mid", layer] + mlp_out
            results[layer] = _evaluate(metric, run_from(model, resid_post, layer + 1), 1)[0]
    return results


def path_patch_to_logits(
    model,
    corrupted_tokens: Tensor,
    clean_cache: ActivationCache,
    corrupted_cache: ActivationCache,
    metric: Metric,
    sender: tuple[int, int],
) -> Tensor:
    """The metric when only the unembedding (through ln_final) sees the sender's clean output."""
    delta = _sender_write(model, clean_cache, corrupted_cache, sender)
    n_layers = model.cfg.n_layers
    with torch.no_grad():
        return _evaluate(
            metric,
            run_from(model, corrupted_cache["resid_post", n_layers - 1] + delta, n_layers),
            1,
        )[0]


# ---------------------------------------------------------------------------------------
# Attribution patching (Part 4)
# ---------------------------------------------------------------------------------------


def attribution_patch_heads(
    model, corrupted_tokens: Tensor, clean_cache: ActivationCache, metric: Metric
) -> Tensor:
    """[layer, head]: the linear estimate of patching each head's output at every position,
    (clean z - corrupted z) . d metric / d z, with the gradient taken on the corrupted run."""
    _check_tokens(model, corrupted_tokens, clean_cache, "attribution_patch_heads")
    zs: list[Tensor] = []

    def keep(z: Tensor, hook) -> Tensor:
        zs.append(z)
        return z

    hooks = [(get_act_name("z", layer), keep) for layer in range(model.cfg.n_layers)]
    with torch.enable_grad():
        value = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=hooks))
        grads = torch.autograd.grad(value, zs)
    return torch.stack(
        [
            ((clean_cache["z", layer] - z.detach()) * grad).sum(
                dim=(0, 1, 3)
            )  # over batch, pos, d_head
            for layer, (z, grad) in enumerate(zip(zs, grads))
        ]
    )


def attribution_patch_resid(
    model, corrupted_tokens: Tensor, clean_cache: ActivationCache, metric: Metric
) -> Tensor:
    """[layer, pos]: the linear estimate of patching resid_pre of one layer at one position."""
    _check_tokens(model, corrupted_tokens, clean_cache, "attribution_patch_resid")
    resids: list[Tensor] = []

    def keep(resid: Tensor, hook) -> Tensor:
        resids.append(resid)
        return resid

    hooks = [(get_act_name("resid_pre", layer), keep) for layer in range(model.cfg.n_layers)]
    with torch.enable_grad():
        value = metric(model.run_with_hooks(corrupted_tokens, fwd_hooks=hooks))
        grads = torch.autograd.grad(value, resids)
    return torch.stack(
        [
            ((clean_cache["resid_pre", layer] - r.detach()) * grad).sum(
                dim=(0, 2)
            )  # over batch, d_model
            for layer, (r, grad) in enumerate(zip(resids, grads))
        ]
    )


# ---------------------------------------------------------------------------------------
# Faithfulness (Part 5)
# ---------------------------------------------------------------------------------------


def mean_z(model, reference_tokens: Tensor) -> Tensor:
    """[layer, pos, head, d_head]: every head's z averaged over the reference prompts."""
    cache = run_cache(model, reference_tokens)
    return torch.stack([cache["z", layer].mean(0) for layer in range(model.cfg.n_layers)])


def run_with_circuit(
    model, tokens: Tensor, circuit: Sequence[tuple[int, int]], means: Tensor
) -> Tensor:
    """Logits with every head outside `circuit` (a list of (layer, head)) mean-ablated: its z
    replaced, at each position, by `means` [layer, pos, head, d_head]. MLPs are left alone."""
    in_circuit = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.bool)
    for layer, head in circuit:
        in_circuit[int(layer), int(head)] = True

    def to_mean_outside_circuit(z: Tensor, hook, layer: int) -> Tensor:
        outside = ~in_circuit[layer][None, None, :, None]  # [1, 1, head, 1]
        return torch.where(outside, means[layer, : z.shape[1]][None], z)

    hooks = [
        (get_act_name("z", layer), functools.partial(to_mean_outside_circuit, layer=layer))
        for layer in range(model.cfg.n_layers)
    ]
    with torch.no_grad(), model.hooks(fwd_hooks=hooks):
        return model(tokens)


def bootstrap_ci(
    values: Tensor, *, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Tensor:
    """[low, high]: the percentile bootstrap interval of the mean of `values` [n]. Resamples
    with torch.randint(0, n, (n_resamples, n)) from torch.Generator().manual_seed(seed), the
    recipe of `transformer_lens.utilities.statistics.bootstrap_ci` with that generator."""
    if not isinstance(values, Tensor) or values.ndim != 1 or len(values) == 0:
        raise ValueError(
            "bootstrap_ci: values must be a non-empty 1D tensor (one value per prompt)."
        )
    if not 0 < confidence < 1:
        raise ValueError(f"bootstrap_ci: confidence must be between 0 and 1, got {confidence}.")
    generator = torch.Generator().manual_seed(seed)
    index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)
    means = values[index].mean(dim=1)  # [n_resamples]
    alpha = (1 - confidence) / 2
    return torch.stack([torch.quantile(means, alpha), torch.quantile(means, 1 - alpha)])
