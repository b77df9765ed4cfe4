"""Chapter 06's checks of the selection rule and of orthogonalizing a model (Exercises 6.8 and
6.10); `mi_tutorial.checks.ch06` re-exports them. The selection rule meets each of its limits
exactly (induce exactly 0, KL exactly max_kl, layer exactly layer_limit).
"""

from __future__ import annotations

import functools
import math

import torch

from mi_tutorial.checks._cases_ch06 import (
    DEEP_CONFIG,
    _random_model,
    _random_tokens,
    _requests,
    _toy,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import steering as reference

# --- Exercise 6.8 ------------------------------------------------------------------------------


def _as_pair(check: Check, got, *, case: str) -> torch.Tensor:
    """(layer, pos) as a tensor [layer, pos]; None as [-1, -1]; anything else fails."""
    if got is None:
        return torch.tensor([-1, -1])
    if isinstance(got, tuple) and len(got) == 2:
        for value in got:
            check.expect_type(
                value,
                int,
                case=case,
                what="each of select_direction's (layer, position index)",
                hint="the chapter indexes lists and hook names with them: .item() turns a "
                "one-element tensor into an int.",
            )
        return torch.tensor(got)
    check.fail(
        f"select_direction should return a (layer, position index) pair or None, got {type(got).__name__} {got!r:.80}.",
        case=case,
        hint="flat index i of a [layer_plus_1, n_positions] table is (i // n_positions, i % n_positions).",
    )


def _rule(
    scores,
    layer_limit,
    max_kl,
    *,
    limit=True,
    induce=True,
    kl=True,
    best=torch.argmin,
    inclusive=False,
    induce_inclusive=False,
    kl_inclusive=False,
):
    """select_direction with some of its filters left out (the reference is all of them)."""
    bypass, induce_score, kl_score = scores.unbind(-1)
    layers = torch.arange(scores.shape[0])[:, None].expand_as(bypass)
    kept = torch.ones_like(bypass, dtype=torch.bool)
    if limit:
        kept &= (layers <= layer_limit) if inclusive else (layers < layer_limit)
    if induce:
        kept &= (induce_score >= 0) if induce_inclusive else (induce_score > 0)
    if kl:
        kept &= (kl_score <= max_kl) if kl_inclusive else (kl_score < max_kl)
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
    cases.append(
        ("a table where each filter matters, layer_limit=3.2, max_kl=0.1", table, 3.2, 0.1)
    )
    cases.append(("the same table, layer_limit=3.2, no max_kl", table, 3.2, None))
    cases.append(("the same table, an integer layer_limit=2, max_kl=0.3", table, 2, 0.3))
    nan_table = _scores_table(generator, 4, 2)
    nan_table[0, :, 0] = float("nan")  # zero-length candidates score NaN
    nan_table[0, :, 2] = float("nan")
    cases.append(
        (
            "random scores with NaN rows (zero-length candidates), layer_limit=2.4",
            nan_table,
            2.4,
            None,
        )
    )
    # At the limits: the best candidates have induce exactly 0, KL exactly max_kl, layer exactly layer_limit.
    limits = _scores_table(generator, 5, 2)
    limits[..., 0] = torch.arange(10.0).reshape(5, 2)  # bypass grows with (layer, pos)
    limits[..., 1], limits[..., 2] = 1.0, 0.0
    limits[1, 1, 0], limits[1, 1, 1] = -9.0, 0.0  # the best bypass, induce exactly 0: not kept
    limits[2, 0, 0], limits[2, 0, 2] = -8.0, 0.25  # the next, KL exactly max_kl = 0.25: not kept
    limits[3, 0, 0] = -7.0  # the next, in layer 3 = layer_limit: not kept
    limits[0, 1, 0] = -1.0  # the answer
    cases.append(
        (
            "at the limits: induce exactly 0, KL exactly max_kl=0.25, layer exactly layer_limit=3",
            limits,
            3,
            0.25,
        )
    )
    hopeless = _scores_table(generator, 3, 2)
    hopeless[..., 1] = -abs(hopeless[..., 1]) - 0.1  # nothing induces refusal
    cases.append(("a table where no candidate induces refusal (expect None)", hopeless, 2.0, None))
    for case, scores, layer_limit, max_kl in cases:
        args = (scores, layer_limit) if max_kl is None else (scores, layer_limit, max_kl)
        got = check.call(select_direction, *args, case=case, what="select_direction")
        got = _as_pair(check, got, case=case)
        kl_limit = math.inf if max_kl is None else max_kl
        expected = reference.select_direction(scores, layer_limit, kl_limit)
        expected = torch.tensor([-1, -1]) if expected is None else torch.tensor(expected)
        check.compare(
            got,
            expected,
            case=case,
            what="(layer, position index) ([-1, -1] stands for None)",
            mistakes={
                "`>= 0` where the text says the induce score must be above 0": _rule(
                    scores, layer_limit, kl_limit, induce_inclusive=True
                ),
                "`<= max_kl` where the text says below max_kl": _rule(
                    scores, layer_limit, kl_limit, kl_inclusive=True
                ),
                "ignoring layer_limit": _rule(scores, layer_limit, kl_limit, limit=False),
                "keeping layers up to and including layer_limit": _rule(
                    scores, layer_limit, kl_limit, inclusive=True
                ),
                "ignoring the induce score (it must be above 0)": _rule(
                    scores, layer_limit, kl_limit, induce=False
                ),
                "ignoring max_kl": _rule(scores, layer_limit, kl_limit, kl=False),
                **(
                    {}
                    if kl_limit == 0.1
                    else {
                        "a fixed max_kl of 0.1 instead of the argument": _rule(
                            scores, layer_limit, 0.1
                        )
                    }
                ),
                "the highest bypass score instead of the lowest": _rule(
                    scores, layer_limit, kl_limit, best=torch.argmax
                ),
            },
            hint="keep = (layer < layer_limit) & (induce > 0) & (kl < max_kl); among the kept, the lowest bypass; "
            "None if nothing is kept.",
        )
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
        (
            "the shipped model, a difference of means read at resid_pre 3",
            _toy,
            toy_direction,
            torch.cat([harmful, harmless]),
        ),
        (
            "a random 3-layer model, a random direction of length 2",
            functools.partial(_random_model, 611, DEEP_CONFIG),
            2 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0),
            _random_tokens(3, 9, 6111),
        ),
        (
            "a random 2-layer model, a random direction of length 0.5",
            functools.partial(_random_model, 612),
            0.5 * torch.nn.functional.normalize(torch.randn(16, generator=generator), dim=0),
            _random_tokens(2, 5, 6112),
        ),
    ]
    for case, make_model, direction, tokens in cases:
        model = make_model()
        before = {name: value.detach().clone() for name, value in model.tl_parameters().items()}
        check.call(
            orthogonalize_model,
            model,
            direction,
            case=case,
            what="orthogonalize_model",
            mutates=("model",),
        )
        after = model.tl_parameters()
        writers = reference.writing_parameter_names(model.cfg.n_layers)
        if all(torch.equal(before[name], after[name]) for name in before):
            check.fail(
                "the model's weights did not change.",
                case=case,
                hint="edit them in place: `with torch.no_grad(): params[name].copy_(project_out(params[name], "
                "direction))`. Assigning a new tensor to params[name] only changes the dictionary.",
            )
        for name in before:
            if name not in writers and not torch.equal(before[name], after[name]):
                reads = (
                    " It reads from the residual stream: did you orthogonalize W_in instead of W_out?"
                    if name.endswith("W_in")
                    else ""
                )
                check.fail(
                    f"{name} changed, but only the weights that write to the residual stream should.{reads}",
                    case=case,
                    hint="the writers: W_E, W_pos, and W_O, b_O, W_out, b_out of every layer.",
                )
        for name in writers:
            if torch.equal(before[name], after[name]):
                check.fail(
                    f"{name} was not edited, but it writes to the residual stream.",
                    case=case,
                    hint="the writers: W_E, W_pos, and W_O, b_O, W_out, b_out of every layer (biases too).",
                )
        with torch.no_grad():
            got = model(tokens)
        scratch = _Scratch(make_model, tokens)
        project = functools.partial(reference.project_out, direction=direction)
        expected = scratch.logits(writers, project)

        def mistakes(scratch=scratch, writers=writers, project=project, direction=direction):
            embeddings = [name for name in writers if not name.startswith("blocks.")]
            per_layer = [name for name in writers if name.startswith("blocks.")]
            return {
                "leaving out W_out (W_in reads from the stream; W_out writes to it)": scratch.logits(
                    [n for n in writers if not n.endswith("W_out")], project
                ),
                "leaving out the biases b_O and b_out": scratch.logits(
                    [n for n in writers if not n.endswith(("b_O", "b_out"))], project
                ),
                "leaving out the embeddings W_E and W_pos": scratch.logits(per_layer, project),
                "editing only layer 0": scratch.logits(
                    embeddings + [n for n in per_layer if n.startswith("blocks.0.")], project
                ),
                "not normalizing the direction": scratch.logits(
                    writers, lambda weight: weight - (weight @ direction)[..., None] * direction
                ),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the edited model's logits",
            atol=1e-4,
            mistakes=mistakes,
            hint="project the direction out of W_E, W_pos, and W_O, b_O, W_out, b_out of every layer.",
        )
    check.passed(f"{len(cases)} cases")
