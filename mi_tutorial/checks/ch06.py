"""Self-checks for chapter 06, directions and steering (the refusal direction).

The trusted answers are in `mi_tutorial.checks._keys.steering`. The checks that run a model run
on the shipped `tinyworld-lm` (with TinyWorld request prompts) and on small random
LayerNorm models with 2 and 3 layers, so that code which hard-codes 4 layers, 12 positions
or the shipped model's hook names fails. Where a check knows a typical mistake, it computes
what that mistake would output, so a failure can name it.
"""

from __future__ import annotations

import functools

import torch
from transformer_lens.utilities import get_act_name

from mi_tutorial.checks._cases_ch06 import (
    COMPLY_ID,
    DEEP_CONFIG,
    REFUSE_ID,
    _hook_point,
    _random_model,
    _random_tokens,
    _requests,
    _toy,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._hooks_ch06 import (
    check_ablation_hooks,
    check_addition_hooks,
    check_score_candidates,
)
from mi_tutorial.checks._keys import steering as reference
from mi_tutorial.checks._select_ch06 import check_orthogonalize_model, check_select_direction
from mi_tutorial.data import tinyworld

__all__ = [  # in exercise order; 6.5-6.7 live in _hooks_ch06, 6.8 and 6.10 in _select_ch06
    "check_refusal_score",
    "check_kl_last_position",
    "check_candidate_directions",
    "check_ablate_direction",
    "check_ablation_hooks",
    "check_addition_hooks",
    "check_score_candidates",
    "check_select_direction",
    "check_project_out",
    "check_orthogonalize_model",
    "check_ablate_to_reference",
]


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
            got = check.call(
                refusal_score,
                logits.clone(),
                refuse_id=refuse,
                comply_id=comply,
                case=case,
                what="refusal_score",
            )
        probs = logits.softmax(dim=-1)
        mistakes = {
            "the compliant logit minus the refusal one (sign flipped)": logits[:, -1, comply]
            - logits[:, -1, refuse],
            "the first position instead of the last": logits[:, 0, refuse] - logits[:, 0, comply],
            "averaging over all positions instead of taking the last": (
                logits[:, :, refuse] - logits[:, :, comply]
            ).mean(1),
            "a difference of probabilities instead of logits": probs[:, -1, refuse]
            - probs[:, -1, comply],
        }
        if ids is not None:
            mistakes["ignoring refuse_id and comply_id (always the TinyWorld ids)"] = (
                logits[:, -1, REFUSE_ID] - logits[:, -1, COMPLY_ID]
            )
        check.compare(
            got,
            reference.refusal_score(logits, refuse, comply),
            case=case,
            what="the refusal scores",
            dtype=True,
            mistakes=mistakes,
            hint="logits[:, -1] is [batch, d_vocab]: take column refuse_id minus column comply_id.",
        )
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
        got = check.call(kl_last_position, clean, edited, case=case, what="kl_last_position")
        if isinstance(
            got, torch.Tensor
        ):  # a 0-d float32 tensor, as the signature says (score_candidates stacks them)
            check.expect_dtype(got, torch.float32, case=case, what="the KL divergence")
        got = check.expect_number(
            got,
            case=case,
            what="kl_last_position's result",
            hint="average over the batch too: the result is one number.",
        )
        expected = reference.kl_last_position(clean, edited)
        all_positions = (
            clean.log_softmax(-1).exp() * (clean.log_softmax(-1) - edited.log_softmax(-1))
        ).sum(-1)
        check.compare(
            got,
            expected,
            case=case,
            what="the KL divergence",
            atol=1e-4,
            mistakes={
                "KL(edited || clean), the arguments of the KL swapped,": reference.kl_last_position(
                    edited, clean
                ),
                "averaging over every position instead of the last": all_positions.mean(),
                "summing over the batch instead of averaging": all_positions[:, -1].sum(),
                "the first position instead of the last": all_positions[:, 0].mean(),
            },
            hint="log_softmax both at position -1; sum p_clean * (log p_clean - log p_edited) over d_vocab; mean over the batch."
            + (
                " NaN? log(softmax(x)) is -inf where a probability underflows: use log_softmax."
                if got.isnan()
                else ""
            ),
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.3 ------------------------------------------------------------------------------


def _directions_variants(model, harmful, harmless, n_positions, expected):
    """What typical mistakes of candidate_directions return."""
    n_layers = model.cfg.n_layers
    mids = [get_act_name("resid_mid", layer) for layer in range(n_layers)] + [
        get_act_name("resid_post", n_layers - 1)
    ]
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
        "the first n_positions positions instead of the last": diff(
            reference.candidate_hook_names(n_layers), slice(0, n_positions)
        ),
        "resid_mid instead of resid_pre": diff(mids, last),
        "resid_post of each layer (each candidate one layer too late)": torch.cat(
            [diff(posts, last), diff(posts[-1:], last)]
        ),
        "normalizing each direction to length 1": torch.nan_to_num(
            expected / expected.norm(dim=-1, keepdim=True)
        ),
    }


def check_candidate_directions(candidate_directions) -> None:
    check = Check("Exercise 6.3 — candidate_directions")
    check.expect_callable(candidate_directions, "candidate_directions")
    harmful, harmless = _requests(16, seed=63)
    cases = [
        ("the shipped model, 16 + 16 request prompts, n_positions=3", _toy(), harmful, harmless, 3),
        (
            "a random 3-layer model, random tokens, n_positions=2",
            _random_model(63, DEEP_CONFIG),
            _random_tokens(5, 7, 631),
            _random_tokens(6, 7, 632),
            2,
        ),
        (
            "a random 2-layer model, random tokens, n_positions=1",
            _random_model(64),
            _random_tokens(3, 9, 633),
            _random_tokens(3, 9, 634),
            1,
        ),
    ]
    for case, model, h, b, n_positions in cases:
        got = check.call(
            candidate_directions, model, h, b, n_positions, case=case, what="candidate_directions"
        )
        expected = reference.candidate_directions(model, h, b, n_positions)
        n_layers = model.cfg.n_layers
        if (
            isinstance(got, torch.Tensor)
            and got.ndim == 3
            and got.shape[0] == n_layers
            and got.shape[1:] == expected.shape[1:]
        ):
            check.fail(
                f"the directions have {n_layers} layers, one too few: this model has {n_layers} layers, so there are "
                f"{n_layers + 1} candidates (resid_pre of each layer, then the final residual stream).",
                case=case,
                hint="append get_act_name('resid_post', n_layers - 1) to the hook names.",
            )
        check.compare(
            got,
            expected,
            case=case,
            what="the candidate directions",
            atol=1e-4,
            mistakes=functools.partial(_directions_variants, model, h, b, n_positions, expected),
            dtype=True,
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
    for i, (shape, length) in enumerate(cases):
        resid = torch.randn(*shape, generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"resid of shape {shape}, a direction of length {length}"
        hook = (
            None if i == 0 else _hook_point()
        )  # TransformerLens passes a HookPoint; the function ignores it
        got = check.call(
            ablate_direction, resid, hook, direction, case=case, what="ablate_direction"
        )
        unit = direction / direction.norm()
        projection = (resid @ unit)[..., None] * unit
        check.compare(
            got,
            reference.ablate_direction(resid, direction),
            case=case,
            what="the ablated residual stream",
            dtype=True,
            mistakes={
                "not normalizing the direction (x - (x·r) r with |r| != 1)": resid
                - (resid @ direction)[..., None] * direction,
                "adding the projection instead of subtracting it": resid + projection,
                "returning the projection (x·r̂) r̂ itself instead of x minus it": projection,
                "not changing resid at all": resid,
            },
            hint="r̂ = direction / direction.norm(); return resid - (resid @ r̂)[..., None] * r̂.",
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
        got = check.call(project_out, weight, direction, case=case, what="project_out")
        unit = direction / direction.norm()
        mistakes = {
            "not normalizing the direction": weight - (weight @ direction)[..., None] * direction,
            "adding the projection instead of subtracting it": weight
            + (weight @ unit)[..., None] * unit,
        }
        if len(shape) >= 2 and shape[-2] == shape[-1]:
            mistakes["projecting along the first axis (r̂ r̂ᵀ W) instead of the last (W r̂ r̂ᵀ)"] = (
                weight - torch.outer(unit, unit) @ weight
            )
        check.compare(
            got,
            reference.project_out(weight, direction),
            case=case,
            what="the projected weight",
            dtype=True,
            mistakes=mistakes,
            hint="r̂ = direction / direction.norm(); weight - (weight @ r̂)[..., None] * r̂.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 6.11 -----------------------------------------------------------------------------


def check_ablate_to_reference(ablate_to_reference) -> None:
    check = Check("Exercise 6.11 — ablate_to_reference")
    check.expect_callable(ablate_to_reference, "ablate_to_reference")
    generator = torch.Generator().manual_seed(612)
    cases = [((2, 5, 16), 3.7), ((1, 1, 8), 0.2), ((4, 3, 32), 9.0)]
    for i, (shape, length) in enumerate(cases):
        hook = (
            _hook_point() if i == 0 else None
        )  # TransformerLens passes a HookPoint; the function ignores it
        resid = torch.randn(*shape, generator=generator)
        reference_mean = 2 * torch.randn(*shape[1:], generator=generator)
        direction = torch.randn(shape[-1], generator=generator)
        direction = length * direction / direction.norm()
        case = f"resid of shape {shape}, reference of shape {shape[1:]}, a direction of length {length}"
        got = check.call(
            ablate_to_reference,
            resid,
            hook,
            direction,
            reference_mean,
            case=case,
            what="ablate_to_reference",
        )
        unit = direction / direction.norm()
        check.compare(
            got,
            reference.ablate_to_reference(resid, direction, reference_mean),
            case=case,
            what="the edited residual stream",
            dtype=True,
            mistakes={
                "ignoring the reference (plain ablation, to zero)": reference.ablate_direction(
                    resid, direction
                ),
                "not normalizing the direction": resid
                - ((resid - reference_mean) @ direction)[..., None] * direction,
                "(reference - resid) instead of (resid - reference)": resid
                + ((resid - reference_mean) @ unit)[..., None] * unit,
                "adding the whole reference vector, not just its component along the direction": (
                    reference.ablate_direction(resid, direction) + reference_mean
                ),
            },
            hint="r̂ = direction / direction.norm(); resid - ((resid - reference) @ r̂)[..., None] * r̂.",
        )
    check.passed(f"{len(cases)} cases")
