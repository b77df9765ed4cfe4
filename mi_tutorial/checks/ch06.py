"""Self-checks for chapter 06, directions and steering (the refusal direction).

The trusted answers are in `mi_tutorial.checks._keys.steering`. The checks that run a model run
on the shipped `tinyworld-lm` (with TinyWorld request prompts) and on small random
LayerNorm models with 2 and 3 layers, so that code which hard-codes 4 layers, 12 positions
or the shipped model's hook names fails. Where a check knows a typical mistake, it computes
what that mistake would output, so a failure can name it.
"""

from __future__ import annotations

import functools
import math
import numbers

import torch
from transformer_lens.utilities import get_act_name

from mi_tutorial import models
from mi_tutorial.checks._core import Check
from mi_tutorial.data import tinyworld
from mi_tutorial.checks._keys import steering as reference

TOY = "tinyworld-lm"
REFUSE_ID = tinyworld.TOKEN_ID[tinyworld.REFUSE]
COMPLY_ID = tinyworld.TOKEN_ID[tinyworld.COMPLY]
# Small random LayerNorm models with the TinyWorld vocabulary (so the refusal token ids exist).
RANDOM_CONFIG = dict(
    n_layers=2, d_model=16, n_heads=2, d_head=8, d_mlp=32, d_vocab=tinyworld.D_VOCAB, n_ctx=16,
    act_fn="gelu", normalization_type="LN", seed=0,
)
DEEP_CONFIG = {**RANDOM_CONFIG, "n_layers": 3}


def _toy():
    """A fresh copy of the shipped model (fresh, so hooks or edits a learner left behind cannot leak)."""
    return models.load_toy_model(TOY)


def _random_model(seed: int, config: dict = RANDOM_CONFIG):
    """A small LayerNorm model whose every weight and bias is random (LayerNorm scales around 1)."""
    model = models.boot(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1 + 0.2 * noise if name.endswith(".w") else 0.5 * noise)
    return model


def _random_tokens(batch: int, pos: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, tinyworld.D_VOCAB, (batch, pos), generator=generator)
    tokens[:, 0] = tinyworld.BOS_ID
    return tokens


def _requests(n: int, seed: int):
    """(harmful, harmless) training-split request tokens, [n, 12] each."""
    return (tinyworld.requests(n, harmful=True, seed=seed, split="train").tokens,
            tinyworld.requests(n, harmful=False, seed=seed, split="train").tokens)


def _expect_hooks(check: Check, hooks, model, *, case: str, what: str) -> list:
    """The learner's hooks as a list of (name, callable) pairs naming real hook points."""
    if hooks is None:
        check.fail(f"{what} returned None: did you forget to `return` the list of hooks?", case=case)
    if isinstance(hooks, tuple) and len(hooks) == 2 and isinstance(hooks[0], str):
        hooks = [hooks]  # one pair on its own is fine
    try:
        hooks = list(hooks)
    except TypeError:
        check.fail(f"{what} should return a list of (hook name, hook function) pairs, got {type(hooks).__name__}.", case=case)
    for item in hooks:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str) and callable(item[1])):
            check.fail(
                f"{what} should return a list of (hook name, hook function) pairs; one item is {item!r:.100}.",
                case=case,
                hint="e.g. [(get_act_name('resid_pre', 0), functools.partial(ablate_direction, direction=direction)), …]",
            )
        if item[0] not in model.hook_dict:
            check.fail(f"{what}: {item[0]!r} is not a hook point of this model.", case=case,
                       hint="build names with get_act_name('resid_pre', layer), get_act_name('resid_mid', layer), "
                       "get_act_name('resid_post', layer).")
    return hooks


def _run(model, tokens, hooks):
    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=list(hooks))


def _needs_mistakes(got, expected: torch.Tensor, atol: float, rtol: float = 1e-4) -> bool:
    """Whether a failure is coming that the mistakes could name (they cost model runs: only then)."""
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and not torch.allclose(got.detach().float(), expected, atol=atol, rtol=rtol, equal_nan=True))


def _at(names, fn):
    """The same hook function at each of `names`."""
    return [(name, fn) for name in names]


# --- Exercise 6.1 ------------------------------------------------------------------------------


def check_refusal_score(refusal_score) -> None:
    check = Check("Exercise 6.1 — refusal_score")
    check.expect_callable(refusal_score, "refusal_score")
    generator = torch.Generator().manual_seed(61)
    cases = [(4, 12, None), (3, 5, (7, 11)), (1, 1, None), (2, 9, (COMPLY_ID, REFUSE_ID))]
    for batch, pos, ids in cases:
        logits = 3 * torch.randn(batch, pos, tinyworld.D_VOCAB, generator=generator)
        refuse, comply = ids or (REFUSE_ID, COMPLY_ID)
        if ids is None:
            case = f"logits of shape {(batch, pos, tinyworld.D_VOCAB)}, the default token ids"
            got = check.call(refusal_score, logits.clone(), case=case, what="refusal_score")
        else:
            case = f"logits of shape {(batch, pos, tinyworld.D_VOCAB)}, refuse_id={refuse}, comply_id={comply}"
            got = check.call(refusal_score, logits.clone(), refuse_id=refuse, comply_id=comply, case=case, what="refusal_score")
        probs = logits.softmax(dim=-1)
        mistakes = {
            "the compliant logit minus the refusal one (sign flipped)": logits[:, -1, comply] - logits[:, -1, refuse],
            "the first position instead of the last": logits[:, 0, refuse] - logits[:, 0, comply],
            "averaging over all positions instead of taking the last": (logits[:, :, refuse] - logits[:, :, comply]).mean(1),
            "a difference of probabilities instead of logits": probs[:, -1, refuse] - probs[:, -1, comply],
        }
        if ids is not None:
            mistakes["ignoring refuse_id and comply_id (always the TinyWorld ids)"] = (
                logits[:, -1, REFUSE_ID] - logits[:, -1, COMPLY_ID])
        check.compare(got, reference.refusal_score(logits, refuse, comply), case=case, what="the refusal scores",
                      mistakes=mistakes, hint="logits[:, -1] is [batch, d_vocab]: take column refuse_id minus column comply_id.")
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.2 ------------------------------------------------------------------------------


def check_kl_last_position(kl_last_position) -> None:
    check = Check("Exercise 6.2 — kl_last_position")
    check.expect_callable(kl_last_position, "kl_last_position")
    generator = torch.Generator().manual_seed(62)
    cases = []
    for batch, pos, scale in [(4, 6, 1.0), (2, 3, 5.0), (3, 1, 2.0)]:
        clean = scale * torch.randn(batch, pos, 20, generator=generator)
        edited = clean + scale * torch.randn(batch, pos, 20, generator=generator)
        cases.append((f"random logits of shape {(batch, pos, 20)}", clean, edited))
    clean = 3 * torch.randn(2, 4, 20, generator=generator)
    cases.append(("edited equal to clean (the KL must be 0)", clean, clean.clone()))
    # Nearly one-hot distributions: probabilities underflow to 0, and log(softmax) gives -inf.
    peaked = torch.randn(3, 2, 20, generator=generator)
    peaked[:, :, 0] += 200.0
    edited = torch.randn(3, 2, 20, generator=generator)
    cases.append(("confident clean logits (probabilities below 1e-80)", peaked, edited))
    for case, clean, edited in cases:
        got = check.expect_number(check.call(kl_last_position, clean.clone(), edited.clone(), case=case, what="kl_last_position"),
                                  case=case, what="kl_last_position's result",
                                  hint="average over the batch too: the result is one number.")
        expected = reference.kl_last_position(clean, edited)
        all_positions = (clean.log_softmax(-1).exp() * (clean.log_softmax(-1) - edited.log_softmax(-1))).sum(-1)
        check.compare(
            got, expected, case=case, what="the KL divergence", atol=1e-4,
            mistakes={
                "KL(edited || clean), the arguments of the KL swapped,": reference.kl_last_position(edited, clean),
                "averaging over every position instead of the last": all_positions.mean(),
                "summing over the batch instead of averaging": all_positions[:, -1].sum(),
                "the first position instead of the last": all_positions[:, 0].mean(),
            },
            hint="log_softmax both at position -1; sum p_clean * (log p_clean - log p_edited) over d_vocab; mean over the batch."
            + (" NaN? log(softmax(x)) is -inf where a probability underflows: use log_softmax." if got.isnan() else ""),
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.3 ------------------------------------------------------------------------------


def _directions_variants(model, harmful, harmless, n_positions, expected):
    """What typical mistakes of candidate_directions return."""
    n_layers = model.cfg.n_layers
    mids = [get_act_name("resid_mid", layer) for layer in range(n_layers)] + [get_act_name("resid_post", n_layers - 1)]
    posts = [get_act_name("resid_post", layer) for layer in range(n_layers)]
    all_names = set(mids) | set(posts) | set(reference.candidate_hook_names(n_layers))
    with torch.no_grad():
        _, h = model.run_with_cache(harmful, names_filter=lambda name: name in all_names)
        _, b = model.run_with_cache(harmless, names_filter=lambda name: name in all_names)

    def diff(names, positions):
        return torch.stack([h[n][:, positions].mean(0) - b[n][:, positions].mean(0) for n in names])

    last = slice(-n_positions, None)
    return {
        "harmless minus harmful (the sign flipped)": -expected,
        "the first n_positions positions instead of the last": diff(reference.candidate_hook_names(n_layers), slice(0, n_positions)),
        "resid_mid instead of resid_pre": diff(mids, last),
        "resid_post of each layer (each candidate one layer too late)": torch.cat(
            [diff(posts, last), diff(posts[-1:], last)]),
        "normalizing each direction to length 1": torch.nan_to_num(expected / expected.norm(dim=-1, keepdim=True)),
    }


def check_candidate_directions(candidate_directions) -> None:
    check = Check("Exercise 6.3 — candidate_directions")
    check.expect_callable(candidate_directions, "candidate_directions")
    harmful, harmless = _requests(16, seed=63)
    cases = [
        ("the shipped model, 16 + 16 request prompts, n_positions=3", _toy(), harmful, harmless, 3),
        ("a random 3-layer model, random tokens, n_positions=2", _random_model(63, DEEP_CONFIG),
         _random_tokens(5, 7, 631), _random_tokens(6, 7, 632), 2),
        ("a random 2-layer model, random tokens, n_positions=1", _random_model(64), _random_tokens(3, 9, 633),
         _random_tokens(3, 9, 634), 1),
    ]
    for case, model, h, b, n_positions in cases:
        got = check.call(candidate_directions, model, h.clone(), b.clone(), n_positions, case=case, what="candidate_directions")
        expected = reference.candidate_directions(model, h, b, n_positions)
        n_layers = model.cfg.n_layers
        if isinstance(got, torch.Tensor) and got.ndim == 3 and got.shape[0] == n_layers and got.shape[1:] == expected.shape[1:]:
            check.fail(
                f"the directions have {n_layers} layers, one too few: this model has {n_layers} layers, so there are "
                f"{n_layers + 1} candidates (resid_pre of each layer, then the final residual stream).",
                case=case, hint="append get_act_name('resid_post', n_layers - 1) to the hook names.",
            )
        check.compare(
            got, expected, case=case, what="the candidate directions", atol=1e-4,
            mistakes=_directions_variants(model, h, b, n_positions, expected) if _needs_mistakes(got, expected, 1e-4) else {},
            hint="for each name in [resid_pre 0 … resid_pre n_layers-1, resid_post n_layers-1]: "
            "cache[name][:, -n_positions:].mean(dim=0) on harmful minus the same on harmless.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.4 ------------------------------------------------------------------------------


def check_ablate_direction(ablate_direction) -> None:
    check = Check("Exercise 6.4 — ablate_direction")
    check.expect_callable(ablate_direction, "ablate_direction")
    generator = torch.Generator().manual_seed(64)
    cases = [((2, 5, 16), 3.7), ((1, 1, 8), 0.2), ((3, 4, 32), 11.0)]
    for shape, length in cases:
        resid = torch.randn(*shape, generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"resid of shape {shape}, a direction of length {length}"
        got = check.call(ablate_direction, resid.clone(), None, direction.clone(), case=case, what="ablate_direction")
        unit = direction / direction.norm()
        projection = (resid @ unit)[..., None] * unit
        check.compare(
            got, reference.ablate_direction(resid, direction), case=case, what="the ablated residual stream",
            mistakes={
                "not normalizing the direction (x - (x·r) r with |r| != 1)": resid - (resid @ direction)[..., None] * direction,
                "adding the projection instead of subtracting it": resid + projection,
                "returning the projection (x·r̂) r̂ itself instead of x minus it": projection,
                "not changing resid at all": resid,
            },
            hint="r̂ = direction / direction.norm(); return resid - (resid @ r̂)[..., None] * r̂.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.5 ------------------------------------------------------------------------------


def _ablation_cases():
    harmful, _ = _requests(8, seed=65)
    toy = _toy()
    with torch.no_grad():
        _, harmless = _requests(8, seed=66)
        toy_direction = reference.candidate_directions(toy, harmful, harmless, 1)[2, -1]
    generator = torch.Generator().manual_seed(65)
    deep, small = _random_model(65, DEEP_CONFIG), _random_model(66)
    return [
        ("the shipped model, request prompts, a difference of means read at resid_pre 2", toy, harmful, toy_direction),
        ("a random 3-layer model, random tokens, a random direction of length 4",
         deep, _random_tokens(3, 10, 651), 4 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0)),
        ("a random 2-layer model, random tokens, a random direction of length 0.3",
         small, _random_tokens(2, 6, 652), 0.3 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0)),
    ]


def check_ablation_hooks(ablation_hooks) -> None:
    check = Check("Exercise 6.5 — ablation_hooks")
    check.expect_callable(ablation_hooks, "ablation_hooks")
    cases = _ablation_cases()
    for case, model, tokens, direction in cases:
        hooks = _expect_hooks(check, check.call(ablation_hooks, model, direction.clone(), case=case, what="ablation_hooks"),
                              model, case=case, what="ablation_hooks")
        got = check.call(_run, model, tokens, hooks, case=case, what="running the model with your hooks")
        expected = _run(model, tokens, reference.ablation_hooks(model, direction))
        n_layers = model.cfg.n_layers
        fn = functools.partial(reference._ablation_hook, direction=direction)
        pre = [get_act_name("resid_pre", layer) for layer in range(n_layers)]
        mid = [get_act_name("resid_mid", layer) for layer in range(n_layers)]
        final = [get_act_name("resid_post", n_layers - 1)]

        def unnormalized(resid, hook):
            return resid - (resid @ direction)[..., None] * direction

        mistakes = {} if not _needs_mistakes(got, expected, 1e-4) else {
                "applying the projection only at one layer (resid_pre 0): later layers write the direction again": _run(
                    model, tokens, [(pre[0], fn)]),
                "ablating only at resid_pre of each layer (what attention writes is then read by the MLP, and the last layer's output reaches the unembedding)": _run(
                    model, tokens, _at(pre, fn)),
                "ablating at resid_pre of each layer and the final resid_post, but not resid_mid": _run(
                    model, tokens, _at(pre + final, fn)),
                "leaving out the final resid_post (the last layer writes the direction back before the unembedding)": _run(
                    model, tokens, _at(pre + mid, fn)),
                "not normalizing the direction": _run(model, tokens, _at(pre + mid + final, unnormalized)),
                "no ablation at all": _run(model, tokens, []),
            }
        check.compare(
            got, expected, case=case, what="the logits with the direction ablated", atol=1e-4, mistakes=mistakes,
            hint=f"this model has {n_layers} layers: {2 * n_layers + 1} hooks, resid_pre and resid_mid of every layer, "
            "and resid_post of the last.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.6 ------------------------------------------------------------------------------


def check_addition_hooks(addition_hooks) -> None:
    check = Check("Exercise 6.6 — addition_hooks")
    check.expect_callable(addition_hooks, "addition_hooks")
    harmless, _ = _requests(6, seed=67)
    toy = _toy()
    generator = torch.Generator().manual_seed(66)
    toy_vector = 6 * torch.nn.functional.normalize(torch.randn(toy.cfg.d_model, generator=generator), dim=0)
    deep = _random_model(67, DEEP_CONFIG)
    deep_vector = 2.5 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0)
    deep_tokens = _random_tokens(3, 8, 671)
    cases = [
        ("the shipped model, layer 2, coefficient 1", toy, harmless, toy_vector, 2, 1.0),
        ("the shipped model, layer 4 (the final residual stream), coefficient 0.5", toy, harmless, toy_vector, 4, 0.5),
        ("a random 3-layer model, layer 0, coefficient -2", deep, deep_tokens, deep_vector, 0, -2.0),
        ("a random 3-layer model, layer 1, coefficient 1.5", deep, deep_tokens, deep_vector, 1, 1.5),
        ("a random 3-layer model, layer 3 (the final residual stream), coefficient 1", deep, deep_tokens, deep_vector, 3, 1.0),
    ]
    for case, model, tokens, vector, layer, coefficient in cases:
        hooks = _expect_hooks(check, check.call(addition_hooks, model, vector.clone(), layer, coefficient, case=case,
                                                what="addition_hooks"), model, case=case, what="addition_hooks")
        got = check.call(_run, model, tokens, hooks, case=case, what="running the model with your hooks")
        expected = _run(model, tokens, reference.addition_hooks(model, vector, layer, coefficient))
        n_layers = model.cfg.n_layers
        names = reference.candidate_hook_names(n_layers)

        def add_at(name, v, positions=slice(None)):
            def hook(resid, hook):
                resid = resid.clone()
                resid[:, positions] += v
                return resid
            return (name, hook)

        v = coefficient * vector
        mistakes = {} if not _needs_mistakes(got, expected, 1e-4) else {
            "adding at every layer from `layer` on, not at one": _run(model, tokens, [add_at(n, v) for n in names[layer:]]),
            "adding at the last position only, not at every position": _run(model, tokens, [add_at(names[layer], v, -1)]),
            "normalizing the vector (the difference of means keeps its length)": _run(
                model, tokens, [add_at(names[layer], coefficient * vector / vector.norm())]),
            "ignoring the coefficient": _run(model, tokens, [add_at(names[layer], vector)]),
            "subtracting instead of adding": _run(model, tokens, [add_at(names[layer], -v)]),
        }
        if mistakes and layer < n_layers:
            mistakes["adding at resid_post of `layer` (one layer too late)"] = _run(
                model, tokens, [add_at(get_act_name("resid_post", layer), v)])
        check.compare(
            got, expected, case=case, what="the logits with the vector added", atol=1e-4, mistakes=mistakes,
            hint=f"one hook: resid_pre of `layer` (for layer == n_layers = {n_layers}, resid_post of layer {n_layers - 1}), "
            "returning resid + coefficient * vector.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.7 ------------------------------------------------------------------------------


def _score_variants(model, candidates, harmful, harmless, expected):
    """What typical mistakes of score_candidates return."""
    out = {"the columns in another order than [bypass, induce, KL]": expected[..., [1, 0, 2]]}
    swapped_kl = torch.empty(candidates.shape[:2])
    kl_harmful = torch.empty(candidates.shape[:2])
    bypass_harmless = torch.empty(candidates.shape[:2])
    induce_unit = torch.empty(candidates.shape[:2])
    with torch.no_grad():
        clean_harmless, clean_harmful = model(harmless), model(harmful)
        for layer in range(candidates.shape[0]):
            for pos in range(candidates.shape[1]):
                direction = candidates[layer, pos]
                ablate = reference.ablation_hooks(model, direction)
                ablated_harmless = model.run_with_hooks(harmless, fwd_hooks=ablate)
                swapped_kl[layer, pos] = reference.kl_last_position(ablated_harmless, clean_harmless)
                kl_harmful[layer, pos] = reference.kl_last_position(clean_harmful, model.run_with_hooks(harmful, fwd_hooks=ablate))
                bypass_harmless[layer, pos] = reference.refusal_score(ablated_harmless, REFUSE_ID, COMPLY_ID).mean()
                unit = direction / direction.norm()
                added = model.run_with_hooks(harmless, fwd_hooks=reference.addition_hooks(model, unit, layer, 1.0))
                induce_unit[layer, pos] = reference.refusal_score(added, REFUSE_ID, COMPLY_ID).mean()

    def replaced(column, values):
        table = expected.clone()
        table[..., column] = values
        return table

    out["KL(ablated || clean) instead of KL(clean || ablated)"] = replaced(2, swapped_kl)
    out["the KL on the harmful prompts instead of the harmless ones"] = replaced(2, kl_harmful)
    out["the bypass score on the harmless prompts instead of the harmful ones"] = replaced(0, bypass_harmless)
    out["adding the normalized direction (the difference of means keeps its length)"] = replaced(1, induce_unit)
    return out


def check_score_candidates(score_candidates) -> None:
    check = Check("Exercise 6.7 — score_candidates")
    check.expect_callable(score_candidates, "score_candidates")
    toy = _toy()
    harmful, harmless = _requests(12, seed=68)
    val_harmful = tinyworld.requests(8, harmful=True, seed=68, split="test").tokens
    val_harmless = tinyworld.requests(8, harmful=False, seed=68, split="test").tokens
    # One position (the last), and resid_pre 0 (zero there) replaced by the final row: n_layers + 1 rows.
    toy_candidates = reference.candidate_directions(toy, harmful, harmless, 1)
    toy_candidates[0] = toy_candidates[-1]
    deep = _random_model(68, DEEP_CONFIG)
    generator = torch.Generator().manual_seed(68)
    deep_candidates = 3 * torch.randn(DEEP_CONFIG["n_layers"] + 1, 2, 16, generator=generator)
    cases = [
        ("the shipped model, 8 + 8 held-out request prompts, candidates at the last position", toy, toy_candidates,
         val_harmful, val_harmless),
        ("a random 3-layer model, random tokens, random candidates", deep, deep_candidates,
         _random_tokens(4, 7, 681), _random_tokens(5, 7, 682)),
    ]
    for case, model, candidates, h, b in cases:
        got = check.call(score_candidates, model, candidates.clone(), h.clone(), b.clone(), case=case, what="score_candidates")
        expected = reference.score_candidates(model, candidates, h, b, REFUSE_ID, COMPLY_ID)
        check.compare(
            got, expected, case=case, what="the scores [bypass, induce, KL]", atol=2e-3, rtol=1e-3,
            mistakes=_score_variants(model, candidates, h, b, expected) if _needs_mistakes(got, expected, 2e-3, 1e-3) else {},
            hint="for candidate [layer, pos]: bypass = mean refusal score of the harmful prompts with it ablated; "
            "induce = of the harmless prompts with it added at `layer` (coefficient 1); KL = kl_last_position(clean "
            "harmless logits, harmless logits with it ablated).",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.8 ------------------------------------------------------------------------------


def _as_pair(check: Check, got, *, case: str) -> torch.Tensor:
    """(layer, pos) as a tensor [layer, pos]; None as [-1, -1]; anything else fails."""
    if got is None:
        return torch.tensor([-1, -1])
    if isinstance(got, (tuple, list)) and len(got) == 2:
        values = []
        for value in got:
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if not (isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())):
                check.fail(f"select_direction should return two ints (layer, position index), got {got!r:.80}.", case=case)
            values.append(int(value))
        return torch.tensor(values)
    check.fail(f"select_direction should return a (layer, position index) pair or None, got {type(got).__name__} {got!r:.80}.",
               case=case, hint="flat index i of a [layer_plus_1, n_positions] table is (i // n_positions, i % n_positions).")


def _rule(scores, layer_limit, max_kl, *, limit=True, induce=True, kl=True, best=torch.argmin, inclusive=False):
    """select_direction with some of its filters left out (the reference is all of them)."""
    bypass, induce_score, kl_score = scores.unbind(-1)
    layers = torch.arange(scores.shape[0])[:, None].expand_as(bypass)
    kept = torch.ones_like(bypass, dtype=torch.bool)
    if limit:
        kept &= (layers <= layer_limit) if inclusive else (layers < layer_limit)
    if induce:
        kept &= induce_score > 0
    if kl:
        kept &= kl_score < max_kl
    kept &= ~bypass.isnan()
    if not kept.any():
        return torch.tensor([-1, -1])
    fill = math.inf if best is torch.argmin else -math.inf
    flat = int(best(torch.where(kept, bypass, torch.full_like(bypass, fill)).flatten()))
    return torch.tensor([flat // scores.shape[1], flat % scores.shape[1]])


def _scores_table(generator, n_layers_plus_1: int, n_positions: int) -> torch.Tensor:
    bypass = 5 * torch.randn(n_layers_plus_1, n_positions, generator=generator)
    induce = 3 * torch.randn(n_layers_plus_1, n_positions, generator=generator)
    kl = torch.rand(n_layers_plus_1, n_positions, generator=generator) * 0.3
    return torch.stack([bypass, induce, kl], dim=-1)


def check_select_direction(select_direction) -> None:
    check = Check("Exercise 6.8 — select_direction")
    check.expect_callable(select_direction, "select_direction")
    generator = torch.Generator().manual_seed(69)
    cases = []
    # A table where every filter matters: the overall lowest bypass is in a late layer, the
    # next-lowest does not induce refusal, the next has a large KL.
    table = _scores_table(generator, 5, 3)
    table[..., 0] = torch.arange(15.0).reshape(5, 3) + 1  # bypass grows with (layer, pos)
    table[..., 1] = 1.0
    table[..., 2] = 0.01
    table[4, 2, 0] = -10.0  # best bypass, but in the last layer
    table[0, 0, 1] = -1.0  # second best, but does not induce
    table[0, 1, 2] = 0.5  # third best, but KL too large
    table[2, 1, 0] = -3.0  # best in an allowed layer: still allowed
    table[2, 1, 2] = 0.2  # …unless max_kl is 0.1
    cases.append(("a table where each filter matters, layer_limit=3.2, max_kl=0.1", table, 3.2, 0.1))
    cases.append(("the same table, layer_limit=3.2, no max_kl", table, 3.2, None))
    cases.append(("the same table, an integer layer_limit=2, max_kl=0.3", table, 2, 0.3))
    nan_table = _scores_table(generator, 4, 2)
    nan_table[0, :, 0] = float("nan")  # zero-length candidates score NaN
    nan_table[0, :, 2] = float("nan")
    cases.append(("random scores with NaN rows (zero-length candidates), layer_limit=2.4", nan_table, 2.4, None))
    hopeless = _scores_table(generator, 3, 2)
    hopeless[..., 1] = -abs(hopeless[..., 1]) - 0.1  # nothing induces refusal
    cases.append(("a table where no candidate induces refusal (expect None)", hopeless, 2.0, None))
    for case, scores, layer_limit, max_kl in cases:
        args = (scores.clone(), layer_limit) if max_kl is None else (scores.clone(), layer_limit, max_kl)
        got = check.call(select_direction, *args, case=case, what="select_direction")
        got = _as_pair(check, got, case=case)
        kl_limit = math.inf if max_kl is None else max_kl
        expected = reference.select_direction(scores, layer_limit, kl_limit)
        expected = torch.tensor([-1, -1]) if expected is None else torch.tensor(expected)
        check.compare(
            got, expected, case=case, what="(layer, position index) ([-1, -1] stands for None)",
            mistakes={
                "ignoring layer_limit": _rule(scores, layer_limit, kl_limit, limit=False),
                "keeping layers up to and including layer_limit": _rule(scores, layer_limit, kl_limit, inclusive=True),
                "ignoring the induce score (it must be above 0)": _rule(scores, layer_limit, kl_limit, induce=False),
                "ignoring max_kl": _rule(scores, layer_limit, kl_limit, kl=False),
                "the highest bypass score instead of the lowest": _rule(scores, layer_limit, kl_limit, best=torch.argmax),
            },
            hint="keep = (layer < layer_limit) & (induce > 0) & (kl < max_kl); among the kept, the lowest bypass; "
            "None if nothing is kept.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.9 ------------------------------------------------------------------------------


def check_project_out(project_out) -> None:
    check = Check("Exercise 6.9 — project_out")
    check.expect_callable(project_out, "project_out")
    generator = torch.Generator().manual_seed(610)
    cases = [((8,), 2.5), ((5, 8), 0.4), ((8, 8), 3.0), ((2, 3, 8), 1.7)]
    for shape, length in cases:
        weight = torch.randn(*shape, generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"a weight of shape {shape} (d_model = 8, the last axis), a direction of length {length}"
        got = check.call(project_out, weight.clone(), direction.clone(), case=case, what="project_out")
        unit = direction / direction.norm()
        mistakes = {
            "not normalizing the direction": weight - (weight @ direction)[..., None] * direction,
            "adding the projection instead of subtracting it": weight + (weight @ unit)[..., None] * unit,
        }
        if len(shape) >= 2 and shape[-2] == shape[-1]:
            mistakes["projecting along the first axis (r̂ r̂ᵀ W) instead of the last (W r̂ r̂ᵀ)"] = (
                weight - torch.outer(unit, unit) @ weight)
        check.compare(got, reference.project_out(weight, direction), case=case, what="the projected weight",
                      mistakes=mistakes, hint="r̂ = direction / direction.norm(); weight - (weight @ r̂)[..., None] * r̂.")
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.10 -----------------------------------------------------------------------------


class _Scratch:
    """One more copy of a case's model, reset to its original weights before each variant
    (cheaper than loading a model per variant)."""

    def __init__(self, make_model, tokens):
        self.model, self.tokens = make_model(), tokens
        self.original = {key: value.clone() for key, value in self.model.state_dict().items()}

    def logits(self, names, project) -> torch.Tensor:
        """The logits after `project(weight)` replaced each named weight."""
        self.model.load_state_dict(self.original)
        params = self.model.tl_parameters()
        with torch.no_grad():
            for name in names:
                params[name].copy_(project(params[name]))
            return self.model(self.tokens)


def check_orthogonalize_model(orthogonalize_model) -> None:
    check = Check("Exercise 6.10 — orthogonalize_model")
    check.expect_callable(orthogonalize_model, "orthogonalize_model")
    harmful, harmless = _requests(8, seed=611)
    generator = torch.Generator().manual_seed(611)
    with torch.no_grad():
        toy_direction = reference.candidate_directions(_toy(), harmful, harmless, 1)[3, -1]
    cases = [
        ("the shipped model, a difference of means read at resid_pre 3", _toy, toy_direction, torch.cat([harmful, harmless])),
        ("a random 3-layer model, a random direction of length 2", functools.partial(_random_model, 611, DEEP_CONFIG),
         2 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0), _random_tokens(3, 9, 6111)),
        ("a random 2-layer model, a random direction of length 0.5", functools.partial(_random_model, 612),
         0.5 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0), _random_tokens(2, 5, 6112)),
    ]
    for case, make_model, direction, tokens in cases:
        model = make_model()
        before = {name: value.detach().clone() for name, value in model.tl_parameters().items()}
        check.call(orthogonalize_model, model, direction.clone(), case=case, what="orthogonalize_model")
        after = model.tl_parameters()
        writers = reference.writing_parameter_names(model.cfg.n_layers)
        if all(torch.equal(before[name], after[name]) for name in before):
            check.fail("the model's weights did not change.", case=case,
                       hint="edit them in place: `with torch.no_grad(): params[name].copy_(project_out(params[name], "
                       "direction))`. Assigning a new tensor to params[name] only changes the dictionary.")
        for name in before:
            if name not in writers and not torch.equal(before[name], after[name]):
                reads = " It reads from the residual stream: did you orthogonalize W_in instead of W_out?" if name.endswith("W_in") else ""
                check.fail(f"{name} changed, but only the weights that write to the residual stream should.{reads}",
                           case=case, hint="the writers: W_E, W_pos, and W_O, b_O, W_out, b_out of every layer.")
        for name in writers:
            if torch.equal(before[name], after[name]):
                check.fail(f"{name} was not edited, but it writes to the residual stream.", case=case,
                           hint="the writers: W_E, W_pos, and W_O, b_O, W_out, b_out of every layer (biases too).")
        with torch.no_grad():
            got = model(tokens)
        scratch = _Scratch(make_model, tokens)
        project = functools.partial(reference.project_out, direction=direction)
        expected = scratch.logits(writers, project)
        mistakes = {}
        if _needs_mistakes(got, expected, 1e-4):
            embeddings = [name for name in writers if not name.startswith("blocks.")]
            per_layer = [name for name in writers if name.startswith("blocks.")]
            mistakes = {
                "leaving out W_out (W_in reads from the stream; W_out writes to it)": scratch.logits(
                    [n for n in writers if not n.endswith("W_out")], project),
                "leaving out the biases b_O and b_out": scratch.logits(
                    [n for n in writers if not n.endswith(("b_O", "b_out"))], project),
                "leaving out the embeddings W_E and W_pos": scratch.logits(per_layer, project),
                "editing only layer 0": scratch.logits(embeddings + [n for n in per_layer if n.startswith("blocks.0.")], project),
                "not normalizing the direction": scratch.logits(
                    writers, lambda weight: weight - (weight @ direction)[..., None] * direction),
            }
        check.compare(got, expected, case=case, what="the edited model's logits", atol=1e-4, mistakes=mistakes,
                      hint="project the direction out of W_E, W_pos, and W_O, b_O, W_out, b_out of every layer.")
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.11 -----------------------------------------------------------------------------


def check_ablate_to_reference(ablate_to_reference) -> None:
    check = Check("Exercise 6.11 — ablate_to_reference")
    check.expect_callable(ablate_to_reference, "ablate_to_reference")
    generator = torch.Generator().manual_seed(612)
    cases = [((2, 5, 16), 3.7), ((1, 1, 8), 0.2), ((4, 3, 32), 9.0)]
    for shape, length in cases:
        resid = torch.randn(*shape, generator=generator)
        reference_mean = 2 * torch.randn(*shape[1:], generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"resid of shape {shape}, reference of shape {shape[1:]}, a direction of length {length}"
        got = check.call(ablate_to_reference, resid.clone(), None, direction.clone(), reference_mean.clone(), case=case,
                         what="ablate_to_reference")
        unit = direction / direction.norm()
        check.compare(
            got, reference.ablate_to_reference(resid, direction, reference_mean), case=case, what="the edited residual stream",
            mistakes={
                "ignoring the reference (plain ablation, to zero)": reference.ablate_direction(resid, direction),
                "not normalizing the direction": resid - ((resid - reference_mean) @ direction)[..., None] * direction,
                "(reference - resid) instead of (resid - reference)": resid + ((resid - reference_mean) @ unit)[..., None] * unit,
                "adding the whole reference vector, not just its component along the direction": (
                    reference.ablate_direction(resid, direction) + reference_mean),
            },
            hint="r̂ = direction / direction.norm(); resid - ((resid - reference) @ r̂)[..., None] * r̂.",
        )
    check.passed(f"{len(cases)} cases")
