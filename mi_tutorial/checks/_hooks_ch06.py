"""Chapter 06's checks of the hooks that ablate or add a direction, and of scoring candidates
(Exercises 6.5 to 6.7); `mi_tutorial.checks.ch06` re-exports them. Their named mistakes cost
model runs, so they are computed only for a wrong answer (lazy `mistakes=`).
"""

from __future__ import annotations

import functools

import torch
from transformer_lens.utilities import get_act_name

from mi_tutorial.checks._cases_ch06 import (
    COMPLY_ID,
    DEEP_CONFIG,
    RANDOM_CONFIG,
    REFUSE_ID,
    _at,
    _expect_hooks,
    _random_model,
    _random_tokens,
    _requests,
    _run,
    _toy,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import steering as reference
from mi_tutorial.data import tinyworld

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
        (
            "the shipped model, request prompts, a difference of means read at resid_pre 2",
            toy,
            harmful,
            toy_direction,
        ),
        (
            "a random 3-layer model, random tokens, a random direction of length 4",
            deep,
            _random_tokens(3, 10, 651),
            4 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0),
        ),
        (
            "a random 2-layer model, random tokens, a random direction of length 0.3",
            small,
            _random_tokens(2, 6, 652),
            0.3 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0),
        ),
    ]


def check_ablation_hooks(ablation_hooks) -> None:
    check = Check("Exercise 6.5 — ablation_hooks")
    check.expect_callable(ablation_hooks, "ablation_hooks")
    cases = _ablation_cases()
    for case, model, tokens, direction in cases:
        hooks = _expect_hooks(
            check,
            check.call(ablation_hooks, model, direction, case=case, what="ablation_hooks"),
            model,
            case=case,
            what="ablation_hooks",
        )
        got = check.call(
            _run, model, tokens, hooks, case=case, what="running the model with your hooks"
        )
        expected = _run(model, tokens, reference.ablation_hooks(model, direction))
        n_layers = model.cfg.n_layers
        fn = functools.partial(reference._ablation_hook, direction=direction)
        pre = [get_act_name("resid_pre", layer) for layer in range(n_layers)]
        mid = [get_act_name("resid_mid", layer) for layer in range(n_layers)]
        final = [get_act_name("resid_post", n_layers - 1)]

        def unnormalized(resid, hook):
            return resid - (resid @ direction)[..., None] * direction

        def mistakes(
            model=model,
            tokens=tokens,
            fn=fn,
            pre=pre,
            mid=mid,
            final=final,
            unnormalized=unnormalized,
        ):
            return {
                "applying the projection only at one layer (resid_pre 0): later layers write the direction again": _run(
                    model, tokens, [(pre[0], fn)]
                ),
                "ablating only at resid_pre of each layer (what attention writes is then read by the MLP, and the last layer's output reaches the unembedding)": _run(
                    model, tokens, _at(pre, fn)
                ),
                "ablating at resid_pre of each layer and the final resid_post, but not resid_mid": _run(
                    model, tokens, _at(pre + final, fn)
                ),
                "leaving out the final resid_post (the last layer writes the direction back before the unembedding)": _run(
                    model, tokens, _at(pre + mid, fn)
                ),
                "not normalizing the direction": _run(
                    model, tokens, _at(pre + mid + final, unnormalized)
                ),
                "no ablation at all": _run(model, tokens, []),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the logits with the direction ablated",
            atol=1e-4,
            mistakes=mistakes,
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
    toy_vector = 6 * torch.nn.functional.normalize(
        torch.randn(toy.cfg.d_model, generator=generator), dim=0
    )
    deep = _random_model(67, DEEP_CONFIG)
    deep_vector = 2.5 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0)
    deep_tokens = _random_tokens(3, 8, 671)
    cases = [
        ("the shipped model, layer 2, coefficient 1", toy, harmless, toy_vector, 2, 1.0),
        (
            "the shipped model, layer 4 (the final residual stream), coefficient 0.5",
            toy,
            harmless,
            toy_vector,
            4,
            0.5,
        ),
        (
            "a random 3-layer model, layer 0, coefficient -2",
            deep,
            deep_tokens,
            deep_vector,
            0,
            -2.0,
        ),
        (
            "a random 3-layer model, layer 1, coefficient 1.5",
            deep,
            deep_tokens,
            deep_vector,
            1,
            1.5,
        ),
        (
            "a random 3-layer model, layer 3 (the final residual stream), coefficient 1",
            deep,
            deep_tokens,
            deep_vector,
            3,
            1.0,
        ),
    ]
    for case, model, tokens, vector, layer, coefficient in cases:
        hooks = _expect_hooks(
            check,
            check.call(
                addition_hooks, model, vector, layer, coefficient, case=case, what="addition_hooks"
            ),
            model,
            case=case,
            what="addition_hooks",
        )
        got = check.call(
            _run, model, tokens, hooks, case=case, what="running the model with your hooks"
        )
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

        def mistakes(
            model=model,
            tokens=tokens,
            names=names,
            layer=layer,
            v=v,
            vector=vector,
            coefficient=coefficient,
            n_layers=n_layers,
            add_at=add_at,
        ):
            found = {
                "adding at every layer from `layer` on, not at one": _run(
                    model, tokens, [add_at(n, v) for n in names[layer:]]
                ),
                "adding at the last position only, not at every position": _run(
                    model, tokens, [add_at(names[layer], v, -1)]
                ),
                "normalizing the vector (the difference of means keeps its length)": _run(
                    model, tokens, [add_at(names[layer], coefficient * vector / vector.norm())]
                ),
                "ignoring the coefficient": _run(model, tokens, [add_at(names[layer], vector)]),
                "subtracting instead of adding": _run(model, tokens, [add_at(names[layer], -v)]),
            }
            if layer < n_layers:
                found["adding at resid_post of `layer` (one layer too late)"] = _run(
                    model, tokens, [add_at(get_act_name("resid_post", layer), v)]
                )
            return found

        check.compare(
            got,
            expected,
            case=case,
            what="the logits with the vector added",
            atol=1e-4,
            mistakes=mistakes,
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
                swapped_kl[layer, pos] = reference.kl_last_position(
                    ablated_harmless, clean_harmless
                )
                kl_harmful[layer, pos] = reference.kl_last_position(
                    clean_harmful, model.run_with_hooks(harmful, fwd_hooks=ablate)
                )
                bypass_harmless[layer, pos] = reference.refusal_score(
                    ablated_harmless, REFUSE_ID, COMPLY_ID
                ).mean()
                unit = direction / direction.norm()
                added = model.run_with_hooks(
                    harmless, fwd_hooks=reference.addition_hooks(model, unit, layer, 1.0)
                )
                induce_unit[layer, pos] = reference.refusal_score(
                    added, REFUSE_ID, COMPLY_ID
                ).mean()

    def replaced(column, values):
        table = expected.clone()
        table[..., column] = values
        return table

    out["KL(ablated || clean) instead of KL(clean || ablated)"] = replaced(2, swapped_kl)
    out["the KL on the harmful prompts instead of the harmless ones"] = replaced(2, kl_harmful)
    out["the bypass score on the harmless prompts instead of the harmful ones"] = replaced(
        0, bypass_harmless
    )
    out["adding the normalized direction (the difference of means keeps its length)"] = replaced(
        1, induce_unit
    )
    return out


def check_score_candidates(score_candidates) -> None:
    check = Check("Exercise 6.7 — score_candidates")
    check.expect_callable(score_candidates, "score_candidates")
    toy = _toy()
    harmful, harmless = _requests(12, seed=68)
    val_harmful = tinyworld.requests(6, harmful=True, seed=68, split="test").tokens
    val_harmless = tinyworld.requests(6, harmful=False, seed=68, split="test").tokens
    # One position (the last), and resid_pre 0 (zero there) replaced by the final row: n_layers + 1 rows.
    toy_candidates = reference.candidate_directions(toy, harmful, harmless, 1)
    toy_candidates[0] = toy_candidates[-1]
    deep = _random_model(68, DEEP_CONFIG)
    generator = torch.Generator().manual_seed(68)
    deep_candidates = 3 * torch.randn(DEEP_CONFIG["n_layers"] + 1, 2, 16, generator=generator)
    small = _random_model(69)
    small_candidates = 0.7 * torch.randn(RANDOM_CONFIG["n_layers"] + 1, 1, 16, generator=generator)
    cases = [
        (
            "the shipped model, 6 + 6 held-out request prompts, candidates at the last position",
            toy,
            toy_candidates,
            val_harmful,
            val_harmless,
        ),
        (
            "a random 3-layer model, random tokens, random candidates",
            deep,
            deep_candidates,
            _random_tokens(3, 6, 681),
            _random_tokens(3, 6, 682),
        ),
        (
            "a random 2-layer model, random tokens, short random candidates at one position",
            small,
            small_candidates,
            _random_tokens(3, 5, 683),
            _random_tokens(2, 5, 684),
        ),
    ]
    for case, model, candidates, h, b in cases:
        got = check.call(
            score_candidates, model, candidates, h, b, case=case, what="score_candidates"
        )
        expected = reference.score_candidates(model, candidates, h, b, REFUSE_ID, COMPLY_ID)
        check.compare(
            got,
            expected,
            case=case,
            what="the scores [bypass, induce, KL]",
            atol=2e-3,
            rtol=1e-3,
            mistakes=functools.partial(_score_variants, model, candidates, h, b, expected),
            hint="for candidate [layer, pos]: bypass = mean refusal score of the harmful prompts with it ablated; "
            "induce = of the harmless prompts with it added at `layer` (coefficient 1); KL = kl_last_position(clean "
            "harmless logits, harmless logits with it ablated).",
        )
    check.passed(f"{len(cases)} cases")
