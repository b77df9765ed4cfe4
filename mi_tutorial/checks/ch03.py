"""Self-checks for chapter 03, activation patching.

The trusted answers: `mi_tutorial.checks._keys.patching` (a fast re-implementation that
tests/test_patching_reference.py holds to `transformer_lens.patching` within 1e-5) and
transformer_lens itself: every sweep is also compared with the matching
`transformer_lens.patching` function (attribution patching with
`transformer_lens.tools.analysis.attribution_patch`, the bootstrap with
`transformer_lens.utilities.statistics.bootstrap_ci`), on a case where that is cheap.

Three cases: the shipped `tinyworld-lm` on three IOI prompts (ABC corruption), a small random
model (3 layers of 3 heads) on random tokens that differ at two positions, with a metric that
reads every position, and a random 2-layer model with 2 heads; code that hard-codes 4 layers,
4 heads, 15 positions or the last position fails. `Check.call` snapshots every argument (a
write into a cache fails, naming it), and a check fails when the learner's code leaves a hook
on the model. Where a check
knows a typical mistake it computes what that mistake gives — only after the answer came out
wrong, since some cost a sweep of their own — so a failure can name it.
"""

from __future__ import annotations

import functools

import torch
import transformer_lens.patching as tl_patching
from torch import Tensor
from transformer_lens.tools.analysis import attribution_patch
from transformer_lens.utilities import get_act_name
from transformer_lens.utilities.statistics import bootstrap_ci as tl_bootstrap_ci

from mi_tutorial.checks._cases_ch03 import (
    Case,
    _call,
    _cases,
    _compare,
    _ioi_case,
    _n_models,
    _number,
    _quiet,
    _random_case,
    _set,
    _small_case,
    _sweep,
    _tl_match,
    _toy_model,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import patching as reference
from mi_tutorial.data import tinyworld

# --- Exercise 3.1 ------------------------------------------------------------------------------


def check_logit_diff(logit_diff) -> None:
    check = Check("Exercise 3.1 — logit_diff")
    check.expect_callable(logit_diff, "logit_diff")
    ioi = _ioi_case()
    generator = torch.Generator().manual_seed(31)
    cases = [
        (ioi.name, ioi.clean_logits, ioi.answers, ioi.wrong),
        ("random logits, batch 4, 6 positions, 11 words", torch.randn(4, 6, 11, generator=generator),
         torch.tensor([1, 5, 0, 10]), torch.tensor([2, 5, 9, 3])),
        ("one prompt", torch.randn(1, 3, 7, generator=generator), torch.tensor([6]), torch.tensor([0])),
    ]
    for case, logits, answers, wrong in cases:
        got = check.call(logit_diff, logits, answers, wrong, case=case, what="logit_diff")
        expected = reference.logit_diff(logits, answers, wrong)
        batch = len(answers)
        if isinstance(got, Tensor) and got.shape != expected.shape and got.shape in ((batch, batch), ()):
            what = ("a [batch, batch] table (every prompt against every answer)" if got.ndim else
                    "a single number (the mean over prompts?)")
            check.fail(f"logit_diff returned {what}, shape {tuple(got.shape)}; expected one number per prompt, "
                       f"shape ({batch},).", case=case,
                       hint="pair each prompt with its own answer: last[torch.arange(batch), answers].")
        probs = logits.softmax(dim=-1)
        _compare(check, got, expected, case=case, what="the logit differences", dtype=True, mistakes=lambda: {
            "reading the first position instead of the last": reference.logit_diff(logits[:, :1], answers, wrong),
            "the wrong answer's logit minus the right one's (the sign flipped)": -expected,
            "a difference of probabilities instead of logits": reference.logit_diff(probs, answers, wrong),
        }, hint="one number per prompt: logits[b, -1, answers[b]] - logits[b, -1, wrong[b]].")
    check.passed(f"logit_diff, {check.n_cases} cases")


# --- Exercise 3.2 ------------------------------------------------------------------------------


def check_normalized_metric(normalized_metric) -> None:
    check = Check("Exercise 3.2 — normalized_metric")
    check.expect_callable(normalized_metric, "normalized_metric")
    ioi = _ioi_case()
    clean_ld = reference.logit_diff(ioi.clean_logits, ioi.answers, ioi.wrong).mean().item()
    corrupted_ld = reference.logit_diff(ioi.corrupted_logits, ioi.answers, ioi.wrong).mean().item()
    generator = torch.Generator().manual_seed(32)
    random_logits = torch.randn(5, 4, 9, generator=generator, requires_grad=True)
    cases = [
        (f"{ioi.name}: the clean logits", ioi.clean_logits, ioi.answers, ioi.wrong, clean_ld, corrupted_ld),
        (f"{ioi.name}: the corrupted logits", ioi.corrupted_logits, ioi.answers, ioi.wrong, clean_ld, corrupted_ld),
        ("random logits, clean_ld=3.0, corrupted_ld=-1.0", random_logits, torch.tensor([0, 1, 2, 3, 4]),
         torch.tensor([8, 7, 6, 5, 4]), 3.0, -1.0),
    ]
    for case, logits, answers, wrong, clean, corrupted in cases:
        got = check.call(normalized_metric, logits, answers, wrong, clean, corrupted, case=case, what="normalized_metric")
        got = _number(check, got, case=case, what="normalized_metric")
        expected = reference.normalized_metric(logits, answers, wrong, clean, corrupted).detach()
        mean_ld = reference.logit_diff(logits, answers, wrong).mean().detach()
        _compare(check, got, expected, case=case, what="the normalized metric", atol=1e-5, mistakes=lambda: {
            "the raw mean logit difference (not normalized)": mean_ld,
            "normalizing the other way round (1 = corrupted, 0 = clean)": (clean - mean_ld) / (clean - corrupted),
            "dividing by clean_ld without subtracting corrupted_ld": mean_ld / clean,
        }, hint="(mean logit difference - corrupted_ld) / (clean_ld - corrupted_ld): 0 on the corrupted run, 1 on the clean one.")
        if logits.requires_grad:  # attribution patching (Part 4) differentiates the metric
            leaf = logits.detach().clone().requires_grad_(True)
            check.compare_gradients(got, reference.normalized_metric(leaf, answers, wrong, clean, corrupted),
                                    {"logits": (logits, leaf)}, case=case, what="the normalized metric")
    check.passed(f"normalized_metric, {check.n_cases} cases")


# --- Exercise 3.3 ------------------------------------------------------------------------------

TL_LAYER_POS = {  # act_name -> the transformer_lens.patching function that does the same sweep
    "resid_pre": "get_act_patch_resid_pre",
    "attn_out": "get_act_patch_attn_out",
    "mlp_out": "get_act_patch_mlp_out",
}


def _layer_pos_mistakes(case: Case, act_name: str) -> dict[str, Tensor]:
    n_pos = case.corrupted_tokens.shape[1]
    indices = [(layer, pos) for layer in range(case.n_layers) for pos in range(n_pos)]
    sweep = functools.partial(_sweep, case, case.corrupted_tokens, case.clean_cache, act_name, indices,
                              shape=(case.n_layers, n_pos))
    return {
        "patching the corrupted activation into the clean one (every position clean but this one)":
            sweep(lambda act, clean, i: _set(clean.clone(), (slice(None), i[1]), act[:, i[1]])),
        "patching every position at once": sweep(lambda act, clean, i: clean.clone()),
        "patching every position up to and including pos": sweep(lambda act, clean, i: _set(act, (slice(None), slice(0, i[1] + 1)), clean[:, : i[1] + 1])),
    }


def check_patch_layer_pos(patch_layer_pos) -> None:
    check = Check("Exercise 3.3 — patch_layer_pos")
    check.expect_callable(patch_layer_pos, "patch_layer_pos")
    for case in _cases():
        for act_name in TL_LAYER_POS:
            got = _call(check, patch_layer_pos, case, case.model, case.corrupted_tokens, case.clean_cache, case.metric,
                        act_name, what=f'patch_layer_pos(..., "{act_name}")')
            expected = reference.patch_layer_pos(case.model, case.corrupted_tokens, case.clean_cache, case.metric, act_name,
                                                 corrupted_cache=case.corrupted_cache)
            _compare(check, got, expected, case=f"{case.name}, {act_name}", what="the [layer, pos] results",
                     mistakes=lambda: {**_layer_pos_mistakes(case, act_name),
                                       "patching layer 0 at every layer": expected[:1].expand_as(expected)},
                     hint="for each (layer, pos): a run on the corrupted tokens with act[:, pos] = clean[:, pos] at that layer.")
            if case is _random_case():
                tl_name = TL_LAYER_POS[act_name]
                tl = _quiet(getattr(tl_patching, tl_name), case.model, case.corrupted_tokens, case.clean_cache, case.metric)
                _tl_match(check, got, tl, case=f"{case.name}, {act_name}", what=f"transformer_lens.patching.{tl_name}")
    check.passed(f"patch_layer_pos: resid_pre, attn_out and mlp_out on {_n_models(check)} models; the same as "
                 "transformer_lens.patching.get_act_patch_resid_pre, _attn_out and _mlp_out to 1e-5")


# --- Exercise 3.4 ------------------------------------------------------------------------------

TL_ALL_POS = {
    "z": "get_act_patch_attn_head_out_all_pos",
    "q": "get_act_patch_attn_head_q_all_pos",
    "k": "get_act_patch_attn_head_k_all_pos",
    "v": "get_act_patch_attn_head_v_all_pos",
    "pattern": "get_act_patch_attn_head_pattern_all_pos",
}


def _all_heads(case: Case) -> list[tuple]:
    return [(layer, head) for layer in range(case.n_layers) for head in range(case.model.cfg.n_heads)]


def _head_mistakes(case: Case, act_name: str) -> dict[str, Tensor]:
    shape = (case.n_layers, case.model.cfg.n_heads)
    sweep = functools.partial(_sweep, case, case.corrupted_tokens, case.clean_cache, act_name, _all_heads(case), shape=shape)
    head_axis = (slice(None),) if act_name == "pattern" else (slice(None), slice(None))
    other_axis = (slice(None), slice(None)) if act_name == "pattern" else (slice(None),)
    mistakes = {
        "patching every head of the layer at once": sweep(lambda act, clean, i: clean.clone()),
        "patching the corrupted activation into the clean one (every head clean but this one)":
            sweep(lambda act, clean, i: _set(clean.clone(), (*head_axis, i[1]), act[(*head_axis, i[1])])),
    }
    if act_name == "pattern":
        mistakes["indexing the pattern like z: pattern[:, :, head] is query position `head` of every head"] = sweep(
            lambda act, clean, i: _set(act, (*other_axis, i[1]), clean[(*other_axis, i[1])]))
    else:
        mistakes[f"indexing {act_name} like a pattern: {act_name}[:, head] is position `head` of every head"] = sweep(
            lambda act, clean, i: _set(act, (*other_axis, i[1]), clean[(*other_axis, i[1])]))
    return mistakes


def check_patch_heads_all_pos(patch_heads_all_pos) -> None:
    check = Check("Exercise 3.4 — patch_heads_all_pos")
    check.expect_callable(patch_heads_all_pos, "patch_heads_all_pos")
    for case in _cases():
        for act_name, tl_name in TL_ALL_POS.items():
            got = _call(check, patch_heads_all_pos, case, case.model, case.corrupted_tokens, case.clean_cache, case.metric,
                        act_name, what=f'patch_heads_all_pos(..., "{act_name}")')
            expected = reference.patch_heads_all_pos(case.model, case.corrupted_tokens, case.clean_cache, case.metric,
                                                     act_name, corrupted_cache=case.corrupted_cache)
            _compare(check, got, expected, case=f"{case.name}, {act_name}", what="the [layer, head] results",
                     mistakes=lambda: _head_mistakes(case, act_name),
                     hint="z, q, k, v are [batch, pos, head, d_head]: act[:, :, head]; a pattern is "
                          "[batch, head, q_pos, k_pos]: act[:, head].")
            if case is _random_case():
                tl = _quiet(getattr(tl_patching, tl_name), case.model, case.corrupted_tokens, case.clean_cache, case.metric)
                _tl_match(check, got, tl, case=f"{case.name}, {act_name}", what=f"transformer_lens.patching.{tl_name}")
    check.passed(f"patch_heads_all_pos: z, q, k, v and pattern on {_n_models(check)} models; the same as "
                 "transformer_lens.patching.get_act_patch_attn_head_*_all_pos to 1e-5")


# --- Exercise 3.5 ------------------------------------------------------------------------------


def _by_pos_mistakes(case: Case) -> dict[str, Tensor]:
    n_pos, n_heads = case.corrupted_tokens.shape[1], case.model.cfg.n_heads
    indices = [(layer, pos, head) for layer in range(case.n_layers) for pos in range(n_pos) for head in range(n_heads)]
    sweep = functools.partial(_sweep, case, case.corrupted_tokens, case.clean_cache, "z", indices,
                              shape=(case.n_layers, n_pos, n_heads))
    return {
        "patching the head at every position": sweep(lambda z, clean, i: _set(z, (slice(None), slice(None), i[2]), clean[:, :, i[2]])),
        "patching every head at that position": sweep(lambda z, clean, i: _set(z, (slice(None), i[1]), clean[:, i[1]])),
    }


def check_patch_heads_by_pos(patch_heads_by_pos) -> None:
    check = Check("Exercise 3.5 — patch_heads_by_pos")
    check.expect_callable(patch_heads_by_pos, "patch_heads_by_pos")
    for case in (_random_case(), _ioi_case(), _small_case()):
        got = _call(check, patch_heads_by_pos, case, case.model, case.corrupted_tokens, case.clean_cache, case.metric,
                    what="patch_heads_by_pos")
        expected = reference.patch_heads_by_pos(case.model, case.corrupted_tokens, case.clean_cache, case.metric, "z",
                                                corrupted_cache=case.corrupted_cache)
        _compare(check, got, expected, case=case.name, what="the [layer, pos, head] results",
                 mistakes=lambda: _by_pos_mistakes(case), hint="the order is [layer, pos, head], as in transformer_lens.patching.")
        if case is _random_case():
            tl = _quiet(tl_patching.get_act_patch_attn_head_out_by_pos, case.model, case.corrupted_tokens, case.clean_cache, case.metric)
            _tl_match(check, got, tl, case=case.name, what="transformer_lens.patching.get_act_patch_attn_head_out_by_pos")
    check.passed(f"patch_heads_by_pos on {_n_models(check)} models; the same as transformer_lens.patching.get_act_patch_attn_head_out_by_pos to 1e-5")


# --- Exercise 3.6 ------------------------------------------------------------------------------


def check_denoise_and_noise(denoise_and_noise) -> None:
    check = Check("Exercise 3.6 — denoise_and_noise")
    check.expect_callable(denoise_and_noise, "denoise_and_noise")
    for case in _cases():
        got = _call(check, denoise_and_noise, case, case.model, case.clean_tokens, case.corrupted_tokens, case.metric,
                    what="denoise_and_noise")
        args = (case.model, case.corrupted_tokens, case.clean_cache, case.metric, "z")
        denoising = reference.patch_heads_all_pos(*args, corrupted_cache=case.corrupted_cache)
        noising = reference.patch_heads_all_pos(case.model, case.clean_tokens, case.corrupted_cache, case.metric, "z",
                                                corrupted_cache=case.clean_cache)
        expected = torch.stack([denoising, noising])
        _compare(check, got, expected, case=case.name, what="[denoising, noising]", mistakes=lambda: {
            "[noising, denoising] (the two swapped)": expected.flip(0),
            "stacking on the last axis (dim=-1) instead of dim 0": expected.permute(1, 2, 0),
            "running the corrupted tokens with the corrupted cache for noising (nothing changes)": torch.stack(
                [denoising, torch.zeros_like(noising)]),
            "running the clean tokens with the clean cache for noising (nothing changes)": torch.stack(
                [denoising, torch.ones_like(noising)]),
        }, hint="noising runs the CLEAN tokens and patches in activations from the CORRUPTED run; "
                "torch.stack([denoising, noising]) puts the two first: shape [2, layer, head].")
        if case is _random_case():
            tl = torch.stack([
                _quiet(tl_patching.get_act_patch_attn_head_out_all_pos, case.model, case.corrupted_tokens, case.clean_cache, case.metric),
                _quiet(tl_patching.get_act_patch_attn_head_out_all_pos, case.model, case.clean_tokens, case.corrupted_cache, case.metric),
            ])
            _tl_match(check, got, tl, case=case.name, what="transformer_lens.patching.get_act_patch_attn_head_out_all_pos run both ways")
    check.passed(f"denoise_and_noise on {_n_models(check)} models; the same as transformer_lens.patching.get_act_patch_attn_head_out_all_pos both ways")


# --- Exercise 3.7 ------------------------------------------------------------------------------


def check_attention_between(attention_between) -> None:
    check = Check("Exercise 3.7 — attention_between")
    check.expect_callable(attention_between, "attention_between")
    prompts = tinyworld.ioi_prompts(6, seed=37)
    with torch.no_grad():
        _, ioi_cache = _toy_model().run_with_cache(prompts.clean_tokens)
    random = _random_case()
    random_positions = {"a": torch.tensor([5, 4]), "b": torch.tensor([2, 0])}
    cases = [
        ("6 IOI prompts, from END to IO", ioi_cache, prompts.positions, "end", "IO"),
        ("6 IOI prompts, from S2 to S1", ioi_cache, prompts.positions, "S2", "S1"),
        (f"{random.name}, from positions [5, 4] to [2, 0]", random.clean_cache, random_positions, "a", "b"),
    ]
    for case, cache, positions, query, key in cases:
        got = check.call(attention_between, cache, dict(positions), query, key, case=case, what="attention_between")
        expected = reference.attention_between(cache, positions, query, key)
        first = {name: where[:1].expand_as(where) for name, where in positions.items()}
        patterns = cache.stack_activation("pattern")
        _compare(check, got, expected, case=case, what="the [layer, head] attention", mistakes=lambda: {
            "the first prompt's positions for every prompt": reference.attention_between(cache, first, query, key),
            "the attention from the key position to the query position (swapped)":
                reference.attention_between(cache, positions, key, query),
            "summing over prompts instead of averaging": expected * patterns.shape[1],
        }, hint="prompt b uses its own positions: pattern[b, :, positions[query][b], positions[key][b]].")
    check.passed(f"attention_between, {check.n_cases} cases")


# --- Exercises 3.8 and 3.9 ---------------------------------------------------------------------


def _sender_delta(case: Case, sender, *, difference: bool = True) -> Tensor:
    layer, head = sender
    z = case.clean_cache["z", layer][:, :, head] - (case.corrupted_cache["z", layer][:, :, head] if difference else 0)
    return z @ case.model.W_O[layer, head]


def _path_heads_variant(case: Case, sender, component: str, *, ln: bool = True, difference: bool = True,
                        all_heads: bool = False, first_layer_offset: int = 1) -> Tensor:
    """Path patching into heads done the way a mistake does it."""
    model = case.model
    delta = _sender_delta(case, sender, difference=difference)
    W = {"q": model.W_Q, "k": model.W_K, "v": model.W_V}[component]
    b = {"q": model.b_Q, "k": model.b_K, "v": model.b_V}[component]
    results = torch.zeros(case.n_layers, model.cfg.n_heads)
    for layer in range(sender[0] + first_layer_offset, case.n_layers):
        resid = case.corrupted_cache["resid_pre", layer] + delta
        with torch.no_grad():
            new = torch.einsum("bpm,hmd->bphd", model.blocks[layer].ln1(resid) if ln else resid, W[layer]) + b[layer]
        for head in range(model.cfg.n_heads):
            where = (slice(None), slice(None), slice(None) if all_heads else head)
            hook = lambda act, hook, where=where: _set(act.clone(), where, new[where])  # noqa: E731
            with torch.no_grad():
                results[layer, head] = case.metric(model.run_with_hooks(case.corrupted_tokens, fwd_hooks=[(get_act_name(component, layer), hook)]))
    return results


PATH_CASES = [("random", (0, 1), "q"), ("random", (0, 2), "k"), ("random", (1, 0), "v"), ("ioi", (0, 0), "q")]


def check_path_patch_to_heads(path_patch_to_heads) -> None:
    check = Check("Exercise 3.8 — path_patch_to_heads")
    check.expect_callable(path_patch_to_heads, "path_patch_to_heads")
    for which, sender, component in PATH_CASES:
        case = _random_case() if which == "random" else _ioi_case()
        name = f"{case.name}, sender L{sender[0]}H{sender[1]}, into {component}"
        got = _call(check, path_patch_to_heads, case, case.model, case.corrupted_tokens, case.clean_cache, case.corrupted_cache,
                    case.metric, sender, component, what="path_patch_to_heads")
        expected = reference.path_patch_to_heads(case.model, case.corrupted_tokens, case.clean_cache, case.corrupted_cache,
                                                 case.metric, sender, component)
        variant = functools.partial(_path_heads_variant, case, sender, component)
        _compare(check, got, expected, case=name, what="the [layer, head] results", mistakes=lambda: {
            "skipping ln1 (the receiver reads ln1 of the residual stream, not the stream itself)": variant(ln=False),
            "adding the sender's whole clean output instead of the difference clean - corrupted": variant(difference=False),
            "patching every head of the receiver's layer at once": variant(all_heads=True),
            "letting heads in the sender's own layer receive it (they run in parallel with it)": variant(first_layer_offset=0),
        }, hint="receiver input = W @ ln1(resid_pre_corrupted + Δ) + b, with Δ = (z_clean - z_corrupted)[:, :, head] @ W_O; "
                "0 for layers up to the sender's.")
    check.passed(f"path_patch_to_heads: q, k and v on {_n_models(check)} models (transformer_lens.patching.get_act_patch_direct_path "
                 "needs a split Q/K/V hook native models lack; tests hold the reference to the two-step freezing recipe)")


def _path_mlps_variant(case: Case, sender, *, ln: bool = True, difference: bool = True, resid: str = "resid_mid",
                       first_layer_offset: int = 0) -> Tensor:
    model = case.model
    delta = _sender_delta(case, sender, difference=difference)
    results = torch.zeros(case.n_layers)
    for layer in range(sender[0] + first_layer_offset, case.n_layers):
        block = model.blocks[layer]
        with torch.no_grad():
            x = case.corrupted_cache[resid, layer] + delta
            new = block.mlp(block.ln2(x) if ln else x)
            results[layer] = case.metric(model.run_with_hooks(
                case.corrupted_tokens, fwd_hooks=[(get_act_name("mlp_out", layer), lambda out, hook: new)]))
    return results


def check_path_patch_to_mlps(path_patch_to_mlps) -> None:
    check = Check("Exercise 3.9 — path_patch_to_mlps")
    check.expect_callable(path_patch_to_mlps, "path_patch_to_mlps")
    for which, sender in [("random", (0, 1)), ("random", (1, 2)), ("ioi", (0, 0))]:
        case = _random_case() if which == "random" else _ioi_case()
        name = f"{case.name}, sender L{sender[0]}H{sender[1]}"
        got = _call(check, path_patch_to_mlps, case, case.model, case.corrupted_tokens, case.clean_cache, case.corrupted_cache,
                    case.metric, sender, what="path_patch_to_mlps")
        expected = reference.path_patch_to_mlps(case.model, case.corrupted_tokens, case.clean_cache, case.corrupted_cache,
                                                case.metric, sender)
        variant = functools.partial(_path_mlps_variant, case, sender)
        _compare(check, got, expected, case=name, what="the [layer] results", mistakes=lambda: {
            "starting after the sender's layer (its own layer's MLP reads it too)": variant(first_layer_offset=1),
            "adding Δ to resid_pre instead of resid_mid (the MLP reads the stream after its layer's attention)": variant(resid="resid_pre"),
            "skipping ln2": variant(ln=False),
            "adding the sender's whole clean output instead of the difference clean - corrupted": variant(difference=False),
        }, hint="MLP input = ln2(resid_mid_corrupted + Δ) for every layer from the sender's on; 0 before.")
    check.passed(f"path_patch_to_mlps, 3 senders on {_n_models(check)} models")


# --- Exercise 3.10 -----------------------------------------------------------------------------


def _tl_attribution(case: Case) -> Tensor:
    """transformer_lens's attribution_patch scores one prompt at a time and averages; the metric
    of one prompt is its share of the batch metric (the normalized mean), so n times the average
    is the batch attribution."""
    n = len(case.answers)
    ld = lambda logits, i: reference.logit_diff(logits, case.answers[i: i + 1], case.wrong[i: i + 1]).mean()  # noqa: E731
    clean = reference.logit_diff(case.clean_logits, case.answers, case.wrong).mean()
    corrupted = reference.logit_diff(case.corrupted_logits, case.answers, case.wrong).mean()
    scores = torch.zeros(case.n_layers, case.model.cfg.n_heads)
    for i in range(n):
        result = attribution_patch(case.model, case.clean_tokens[i: i + 1], case.corrupted_tokens[i: i + 1],
                                   lambda logits, i=i: ld(logits, i) / (clean - corrupted) / n)
        for node, score in result.node_scores.items():
            if node.kind == "attn_head_out":
                scores[node.layer, node.head] += score
    return scores


def _attribution_variant(case: Case, *, what: str) -> Tensor:
    zs = []
    hooks = [(get_act_name("z", layer), lambda z, hook: zs.append(z) or z) for layer in range(case.n_layers)]
    value = case.metric(case.model.run_with_hooks(case.corrupted_tokens, fwd_hooks=hooks))
    grads = torch.autograd.grad(value, zs)
    terms = []
    for layer, (z, grad) in enumerate(zip(zs, grads)):
        clean = case.clean_cache["z", layer]
        factor = {"clean": clean, "corrupted": z.detach(), "mean": (clean - z.detach()) / z.shape[0]}[what]
        terms.append((factor * grad).sum(dim=(0, 1, 3)))
    return torch.stack(terms)


def check_attribution_patch_heads(attribution_patch_heads) -> None:
    check = Check("Exercise 3.10 — attribution_patch_heads")
    check.expect_callable(attribution_patch_heads, "attribution_patch_heads")
    for case in _cases():
        got = _call(check, attribution_patch_heads, case, case.model, case.corrupted_tokens, case.clean_cache, case.metric,
                    what="attribution_patch_heads")
        expected = reference.attribution_patch_heads(case.model, case.corrupted_tokens, case.clean_cache, case.metric)
        _compare(check, got, expected, case=case.name, what="the [layer, head] estimates", atol=1e-4, mistakes=lambda: {
            "(corrupted z - clean z) · gradient (the sign flipped)": -expected,
            "clean z · gradient (the difference left out)": _attribution_variant(case, what="clean"),
            "corrupted z · gradient (the difference left out)": _attribution_variant(case, what="corrupted"),
            "averaging over prompts instead of summing": _attribution_variant(case, what="mean"),
        }, hint="(z_clean - z_corrupted) * d metric / d z, the gradient from the corrupted run, summed over batch, pos and d_head.")
        if case is _ioi_case():
            _tl_match(check, got, _tl_attribution(case), case=case.name,
                      what="transformer_lens.tools.analysis.attribution_patch (head nodes summed over positions)")
    check.passed(f"attribution_patch_heads on {_n_models(check)} models; the same as transformer_lens.tools.analysis.attribution_patch")


# --- Exercise 3.11 -----------------------------------------------------------------------------


def check_run_with_circuit(run_with_circuit) -> None:
    check = Check("Exercise 3.11 — run_with_circuit")
    check.expect_callable(run_with_circuit, "run_with_circuit")
    ioi, random = _ioi_case(), _random_case()
    ioi_means = reference.mean_z(ioi.model, tinyworld.ioi_prompts(8, seed=311).corrupted_tokens)
    random_means = reference.mean_z(random.model, random.corrupted_tokens)
    cases = [
        (ioi, [(0, 0), (0, 2), (3, 3)], ioi_means),
        (ioi, [], ioi_means),
        (random, [(1, 1), (2, 0)], random_means),  # tuples, as the signature says (not lists)
        (random, [(layer, head) for layer in range(3) for head in range(3)], random_means),
    ]
    for case, circuit, means in cases:
        name = f"{case.name}, circuit {[tuple(pair) for pair in circuit]}"
        everything = _all_heads(case)
        got = _call(check, run_with_circuit, case, case.model, case.clean_tokens, circuit, means, what="run_with_circuit")
        kept = [tuple(pair) for pair in circuit]
        expected = reference.run_with_circuit(case.model, case.clean_tokens, kept, means)
        _compare(check, got, expected, case=name, what="the logits", atol=1e-4, mistakes=lambda: {
            "mean-ablating the circuit's heads instead of everything outside it":
                reference.run_with_circuit(case.model, case.clean_tokens, [h for h in everything if h not in kept], means),
            "zero-ablation instead of mean-ablation": reference.run_with_circuit(case.model, case.clean_tokens, kept, torch.zeros_like(means)),
            "one mean for all positions (averaging over pos too)": reference.run_with_circuit(
                case.model, case.clean_tokens, kept, means.mean(dim=1, keepdim=True).expand_as(means)),
        }, hint="for each head NOT in the circuit: z[:, :, head] = means[layer, :, head] at every position.")
    check.passed(f"run_with_circuit, 4 circuits on {_n_models(check)} models")


# --- Exercise 3.12 -----------------------------------------------------------------------------


def _bootstrap(values: Tensor, n_resamples: int, confidence: float, generator) -> Tensor:
    """The interval drawn from `generator` (None: the global RNG, left as it was)."""
    with torch.random.fork_rng():
        index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)
    means = values[index].mean(1)
    return torch.quantile(means, torch.tensor([(1 - confidence) / 2, (1 + confidence) / 2]))


def check_bootstrap_ci(bootstrap_ci) -> None:
    check = Check("Exercise 3.12 — bootstrap_ci")
    check.expect_callable(bootstrap_ci, "bootstrap_ci")
    generator = torch.Generator().manual_seed(312)
    cases = [
        ("37 normal values, 1000 resamples, 90%, seed 11", torch.randn(37, generator=generator) + 2, 1000, 0.9, 11),
        ("16 zeros and ones, 500 resamples, 95%, seed 0", (torch.rand(16, generator=generator) < 0.7).float(), 500, 0.95, 0),
        ("5 values, 300 resamples, 50%, seed 3", torch.tensor([0.1, 0.5, 0.2, 0.9, 0.4]), 300, 0.5, 3),
    ]
    for case, values, n_resamples, confidence, seed in cases:
        got = check.call(bootstrap_ci, values, n_resamples, confidence, seed, case=case, what="bootstrap_ci")
        if isinstance(got, (tuple, list)) and len(got) == 2:
            got = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in got])
        expected = reference.bootstrap_ci(values, n_resamples=n_resamples, confidence=confidence, seed=seed)
        alpha = 1 - confidence
        mean, se = values.mean(), values.std() / len(values) ** 0.5
        _compare(check, got, expected, case=case, what="[low, high]", atol=1e-6, mistakes=lambda: {
            "1000 resamples whatever n_resamples says": _bootstrap(values, 1000, confidence,
                                                                   torch.Generator().manual_seed(seed)),
            "resampling without replacement (every resample is the same set of values)": torch.stack([mean, mean]),
            f"the quantiles at {alpha:g} and {confidence:g} (the interval of confidence {1 - 2 * alpha:g})":
                torch.quantile(values[torch.randint(0, len(values), (n_resamples, len(values)),
                                                    generator=torch.Generator().manual_seed(seed))].mean(1),
                               torch.tensor([alpha, confidence])),
            "the normal approximation mean ± 1.96 standard errors": torch.stack([mean - 1.96 * se, mean + 1.96 * se]),
            "a generator not seeded with `seed` (torch.Generator() alone)": _bootstrap(values, n_resamples, confidence,
                                                                                      torch.Generator()),
            "the global RNG instead of a generator seeded with `seed`": _bootstrap(values, n_resamples, confidence, None),

        }, hint="indices = torch.randint(0, n, (n_resamples, n), generator=torch.Generator().manual_seed(seed)); "
                "quantiles (1 - confidence) / 2 and (1 + confidence) / 2 of the resample means.")
        low, high = tl_bootstrap_ci(values, n_resamples=n_resamples, confidence=confidence,
                                    generator=torch.Generator().manual_seed(seed))
        _tl_match(check, got, torch.stack([low, high]), case=case, what="transformer_lens.utilities.statistics.bootstrap_ci")
    check.passed(f"bootstrap_ci, {check.n_cases} cases; the same as transformer_lens.utilities.statistics.bootstrap_ci")
