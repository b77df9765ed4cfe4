"""Self-checks for chapter 02, induction heads.

The trusted answers: `mi_tutorial.metrics` for the previous-token and induction scores (the
scores the training recipes report), TransformerLens for composition scores and per-head
outputs, and `mi_tutorial.checks._keys.induction` for the rest. Each check runs on the shipped
attention-only model (real induction heads) and on small random attention-only models with a
different number of heads and layers, so that code which hard-codes 4 heads, 2 layers or a
run length of 19 fails. Where a check knows a typical mistake, it computes what that mistake
would output, so a failure can name it.
"""

from __future__ import annotations

import functools

import torch
from transformer_lens import FactoredMatrix
from transformer_lens.utilities import get_act_name

from mi_tutorial import metrics, models
from mi_tutorial.checks._cases_ch02 import (  # noqa: F401 - check_composition_baseline is exercise 2.13
    _ablation_variants,
    _attribution_variant,
    _composition_variant,
    _duplicate_variant,
    _split_variant,
    check_composition_baseline,
)
from mi_tutorial.checks._core import Check, random_bridge
from mi_tutorial.checks._keys import induction as reference
from mi_tutorial.data import repeated_tokens

TOY = "attn-only-2l"
# Small random attention-only models: 3 heads (the toy model has 4), and one with 3 layers.
RANDOM_CONFIG = dict(
    n_layers=2, d_model=24, d_head=6, n_heads=3, n_ctx=30, d_vocab=20,
    attn_only=True, normalization_type=None, seed=0,
)
DEEP_CONFIG = {**RANDOM_CONFIG, "n_layers": 3, "n_heads": 2}


def _toy():
    """A fresh copy of the shipped model (fresh, so hooks a learner left behind cannot leak)."""
    return models.load_toy_model(TOY)


def _random_model(seed: int, config: dict = RANDOM_CONFIG):
    """A small attention-only model whose every weight and bias is random (scale 0.5, so the
    attention patterns are far from uniform)."""
    return random_bridge(config, seed, scale=0.5)


def _pattern_cases():
    """(case name, model, tokens, half_len): repeated runs on the shipped and a random model."""
    yield "the shipped model, runs of 19 tokens", _toy(), repeated_tokens(8, 19, 64, seed=11), 19
    yield "a random 3-head model, runs of 7 tokens", _random_model(1), repeated_tokens(5, 7, 20, seed=12), 7
    yield "the shipped model, runs of 10 tokens", _toy(), repeated_tokens(3, 10, 64, seed=13), 10


def _patterns(model, tokens):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    return [cache["pattern", layer] for layer in range(model.cfg.n_layers)]


# --- Exercise 2.1 ------------------------------------------------------------------------------


def check_split_losses(split_losses) -> None:
    check = Check("Exercise 2.1 — split_losses")
    check.expect_callable(split_losses, "split_losses")
    generator = torch.Generator().manual_seed(21)
    cases = [("random logits, runs of 5, vocabulary of 11", torch.randn(4, 11, 11, generator=generator),
              repeated_tokens(4, 5, 11, seed=21), 5)]
    toy_tokens = repeated_tokens(6, 19, 64, seed=22)
    with torch.no_grad():
        cases.append(("the shipped model's logits, runs of 19", _toy()(toy_tokens), toy_tokens, 19))
    cases.append(("random logits, runs of 2", torch.randn(3, 5, 7, generator=generator), repeated_tokens(3, 2, 7, seed=23), 2))
    for case, logits, tokens, half_len in cases:
        got = check.call(split_losses, logits, tokens, half_len, case=case, what="split_losses")
        if isinstance(got, tuple):
            check.fail("split_losses returned a tuple; return one tensor of the two losses.", case=case,
                       hint="return torch.stack([first, repeated]).")
        expected = reference.split_losses(logits, tokens, half_len)
        start = 1 + half_len  # the second run's first position
        check.compare(
            got,
            expected,
            case=case,
            what="[first-half loss, repeated-half loss]",
            mistakes={
                "scoring the repeated run's first token (nothing predicts it: skip it)": _split_variant(
                    logits, tokens, half_len, first_end=start, repeat_from=start
                ),
                "putting the repeated run's first token in the first half": _split_variant(
                    logits, tokens, half_len, first_end=start + 1, repeat_from=start + 1
                ),
                "the two halves in the wrong order": expected.flip(0),
                "comparing each position's logits with its own token (no shift)": _split_variant(
                    logits, tokens, half_len, first_end=start, repeat_from=start + 1, shift=False
                ),
                "forgetting <bos> (the second run starting at half_len, not 1 + half_len)": _split_variant(
                    logits, tokens, half_len, first_end=half_len, repeat_from=half_len + 1
                ),
                **{f"a hard-coded half_len of {fixed}": _split_variant(logits, tokens, half_len, first_end=fixed + 1,
                                                                       repeat_from=fixed + 2)
                   for fixed in (5, 19) if fixed != half_len and tokens.shape[1] > fixed + 2},
            },
            hint=f"with half_len={half_len} the first run is at positions 1…{half_len} and the second at "
            f"{start}…{2 * half_len}; the repeated half scores positions {start + 1}…{2 * half_len}.",
        )
    check.passed()


# --- Exercise 2.2 ------------------------------------------------------------------------------


def check_prev_token_score(prev_token_score) -> None:
    check = Check("Exercise 2.2 — prev_token_score")
    check.expect_callable(prev_token_score, "prev_token_score")
    n = 0
    for n_case, (case, model, tokens, _) in enumerate(_pattern_cases(), 1):  # noqa: B007
        expected_all = metrics.prev_token_scores(model, tokens)  # [layer head]
        for layer, pattern in enumerate(_patterns(model, tokens)):
            got = check.call(prev_token_score, pattern, case=case, what="prev_token_score")
            n_pos = pattern.shape[-1]
            below = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)  # [batch head pos-1]
            check.compare(
                got,
                expected_all[layer],
                case=f"{case}, layer {layer}",
                what="the previous-token scores",
                mistakes={
                    "the main diagonal (attention to the token itself), not the one below it": pattern.diagonal(
                        dim1=-2, dim2=-1
                    ).mean(dim=(0, 2)),
                    "the stripe two below the diagonal (offset=-2)": pattern.diagonal(offset=-2, dim1=-2, dim2=-1).mean(dim=(0, 2)),
                    "dividing by every position, the first one (which has no previous token) too": below.sum(dim=-1).mean(dim=0)
                    / n_pos,
                    "summing over the queries instead of averaging": below.sum(dim=-1).mean(dim=0),
                },
                hint=f"one score per head, shape ({model.cfg.n_heads},): offset=-1 gives pattern[..., i, i - 1]; "
                "average over the batch and those queries.",
            )
            n += 1
    check.passed(f"{n} layers in {n_case} cases")


# --- Exercise 2.3 ------------------------------------------------------------------------------


def check_duplicate_token_score(duplicate_token_score) -> None:
    check = Check("Exercise 2.3 — duplicate_token_score")
    check.expect_callable(duplicate_token_score, "duplicate_token_score")
    generator = torch.Generator().manual_seed(31)
    cases = [
        ("the shipped model, runs of 19 repeated", _toy(), repeated_tokens(6, 19, 64, seed=31)),
        # random tokens from a small vocabulary: some tokens appear 2 or 3 times, others once
        ("a random 3-head model, random tokens with repeats", _random_model(2), torch.randint(0, 20, (5, 15), generator=generator)),
        ("the shipped model, random tokens with repeats", _toy(), torch.randint(1, 64, (4, 30), generator=generator)),
    ]
    n = 0
    for case, model, tokens in cases:
        for layer, pattern in enumerate(_patterns(model, tokens)):
            got = check.call(duplicate_token_score, pattern, tokens, case=case, what="duplicate_token_score")
            check.compare(
                got,
                reference.duplicate_token_scores(pattern, tokens),
                case=f"{case}, layer {layer}",
                what="the duplicate-token scores",
                mistakes={
                    "counting each token as its own duplicate (the main diagonal: use k_pos < q_pos)": _duplicate_variant(
                        pattern, tokens, diagonal=0, only_with_copy=True
                    ),
                    "averaging over every query, not only those whose token appeared earlier": _duplicate_variant(
                        pattern, tokens, diagonal=-1, only_with_copy=False
                    ),
                    "both counting the diagonal and averaging over every query": _duplicate_variant(
                        pattern, tokens, diagonal=0, only_with_copy=False
                    ),
                    "attention to the *other* tokens (!= instead of ==)": _duplicate_variant(
                        pattern, tokens, diagonal=-1, only_with_copy=True, same=False
                    ),
                    "dividing by the number of positions, not the number of queries with a copy": _duplicate_variant(
                        pattern, tokens, diagonal=-1, only_with_copy=True, per_position=True
                    ),
                },
                hint="mask = same token & k_pos < q_pos; sum the pattern over that mask for each query, "
                "then average over the queries whose mask row is not empty.",
            )
            n += 1
    check.passed(f"{n} layers in {len(cases)} cases")


# --- Exercise 2.4 ------------------------------------------------------------------------------


def check_induction_score(induction_score) -> None:
    check = Check("Exercise 2.4 — induction_score")
    check.expect_callable(induction_score, "induction_score")
    n = 0
    for n_case, (case, model, tokens, half_len) in enumerate(_pattern_cases(), 1):  # noqa: B007
        expected_all = metrics.induction_scores(model, tokens, half_len)  # [layer head]
        for layer, pattern in enumerate(_patterns(model, tokens)):
            got = check.call(induction_score, pattern, half_len, case=case, what="induction_score")

            def stripe(offset):  # [batch head entries]
                return pattern.diagonal(offset=-offset, dim1=-2, dim2=-1)

            check.compare(
                got,
                expected_all[layer],
                case=f"{case}, layer {layer}",
                what="the induction scores",
                mistakes={
                    "attention to the earlier copy of the token itself (offset -half_len), not to the token after it": stripe(
                        half_len
                    )[..., -half_len:].mean(dim=(0, 2)),
                    "the token before the earlier copy (offset -(half_len + 1))": stripe(half_len + 1).mean(dim=(0, 2)),
                    "averaging over the whole stripe, first-half queries included": stripe(half_len - 1).mean(dim=(0, 2)),
                    "the first half_len entries of the stripe instead of the last": stripe(half_len - 1)[..., :half_len].mean(
                        dim=(0, 2)
                    ),
                },
                hint="query i of the second run attends to key i - half_len + 1: "
                "diagonal offset -(half_len - 1), and only its last half_len entries.",
            )
            n += 1
    check.passed(f"{n} layers in {n_case} cases")


# --- Exercise 2.5 ------------------------------------------------------------------------------


def check_logit_attribution(logit_attribution) -> None:
    check = Check("Exercise 2.5 — logit_attribution")
    check.expect_callable(logit_attribution, "logit_attribution")
    generator = torch.Generator().manual_seed(51)
    cases = [
        ("the shipped model, runs of 10", _toy(), repeated_tokens(4, 10, 64, seed=51)),
        ("a random 2-layer, 3-head model, random tokens", _random_model(3), torch.randint(0, 20, (3, 12), generator=generator)),
        ("a random 3-layer, 2-head model, random tokens", _random_model(4, DEEP_CONFIG), torch.randint(0, 20, (2, 9), generator=generator)),
    ]
    for case, model, tokens in cases:
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens)
            got = check.call(logit_attribution, cache, model, tokens, case=case, what="logit_attribution")
            drop_last, drop_first = slice(None, -1), slice(1, None)
            check.compare(
                got,
                reference.logit_attribution(cache, model, tokens),
                case=case,
                what="the attributions",
                atol=1e-3,
                mistakes={
                    "the logit of the current token, not the next one (tokens[:, 1:])": _attribution_variant(
                        cache, model, tokens, component_pos=drop_last, token_pos=drop_last
                    ),
                    "shifting the wrong way (components at positions 1… against tokens 1…)": _attribution_variant(
                        cache, model, tokens, component_pos=drop_first, token_pos=drop_first
                    ),
                    "adding b_O to every head (b_O belongs to the layer, not to a head)": _attribution_variant(
                        cache, model, tokens, component_pos=drop_last, token_pos=drop_first, b_O=True
                    ),
                    "heads in the order L0H0, L1H0, … (head-major): go layer by layer": _attribution_variant(
                        cache, model, tokens, component_pos=drop_last, token_pos=drop_first, head_major=True
                    ),
                    "layer 0's W_O for every layer": _attribution_variant(
                        cache, model, tokens, component_pos=drop_last, token_pos=drop_first, W_O_of_layer_0=True
                    ),
                    "pos_embed before embed (the components start embed, pos_embed)": _attribution_variant(
                        cache, model, tokens, component_pos=drop_last, token_pos=drop_first, swap_embeddings=True
                    ),
                },
                hint="components: embed, pos_embed, then L0H0, L0H1, …; position p is scored against the "
                "token at p + 1, so the last position is dropped. "
                f"The model has {model.cfg.n_layers} layers of {model.cfg.n_heads} heads.",
            )
    check.passed()


# --- Exercise 2.6 ------------------------------------------------------------------------------


def _hooked(model, tokens, layer, hook_fn):
    return model.run_with_hooks(tokens, fwd_hooks=[(get_act_name("z", layer), hook_fn)])


def check_mean_ablate_head(mean_ablate_head) -> None:
    check = Check("Exercise 2.6 — mean_ablate_head")
    check.expect_callable(mean_ablate_head, "mean_ablate_head")
    cases = [
        ("the shipped model, runs of 10", _toy(), repeated_tokens(6, 10, 64, seed=61), [(0, 3), (1, 2)]),
        ("a random 3-head model", _random_model(5), repeated_tokens(4, 6, 20, seed=62), [(1, 0), (0, 2)]),
    ]
    n = 0
    for case, model, tokens, heads in cases:
        n_heads = model.cfg.n_heads
        with torch.no_grad():
            for layer, head in heads:

                def variant(fn):
                    return _hooked(model, tokens, layer, fn)

                def mean_over(dims):
                    def hook(z, hook):
                        z[:, :, head] = z[:, :, head].mean(dim=dims, keepdim=True)
                        return z
                    return hook

                def every_head(z, hook):
                    return z.mean(dim=0, keepdim=True).expand_as(z).clone()

                expected = variant(functools.partial(reference.mean_ablate_head, head=head))
                got = check.call(
                    _hooked, model, tokens, layer, functools.partial(check.recorded(mean_ablate_head), head=head),
                    case=case, what="your hook",
                )
                check.compare(
                    got,
                    expected,
                    case=f"{case}, head {layer}.{head}",
                    what="the logits with the head mean-ablated",
                    mistakes={
                        "the mean over positions (dim=1) instead of over the batch (dim=0)": variant(mean_over(1)),
                        "the mean over the batch and the positions together": variant(mean_over((0, 1))),
                        "zero-ablation (z set to 0, not to its mean)": variant(
                            functools.partial(reference.zero_ablate_head, head=head)
                        ),
                        "mean-ablating every head of the layer": variant(every_head),
                        "not changing z at all": model(tokens),
                    },
                    hint=f"z is [batch, pos, head, d_head] ({n_heads} heads here): replace z[:, :, head] by its "
                    "mean over dim 0 (keepdim=True broadcasts it back), then return z.",
                )
                n += 1
    check.passed(f"{n} heads in {len(cases)} cases")


# --- Exercise 2.7 ------------------------------------------------------------------------------


def check_repeated_half_ablation(repeated_half_ablation) -> None:
    check = Check("Exercise 2.7 — repeated_half_ablation")
    check.expect_callable(repeated_half_ablation, "repeated_half_ablation")
    cases = [
        ("the shipped model, runs of 8, zero-ablation", _toy, repeated_tokens(10, 8, 64, seed=71), 8, reference.zero_ablate_head),
        ("the shipped model, runs of 8, mean-ablation", _toy, repeated_tokens(10, 8, 64, seed=71), 8, reference.mean_ablate_head),
        ("a random 3-head model, runs of 6, mean-ablation", functools.partial(_random_model, 6), repeated_tokens(4, 6, 20, seed=72),
         6, reference.mean_ablate_head),
    ]
    for case, make_model, tokens, half_len, ablate in cases:
        model = make_model()
        with torch.no_grad():
            clean_logits = model(tokens)
            clean = reference.split_losses(clean_logits, tokens, half_len)[1]
            got = check.call(repeated_half_ablation, model, tokens, half_len, ablate, case=case,
                             what="repeated_half_ablation")
            leftover = (model(tokens) - clean_logits).abs().max().item()
            model.reset_hooks()
            expected = reference.repeated_half_ablation(model, tokens, half_len, ablate)
            mistakes = _ablation_variants(model, tokens, half_len, ablate, expected, clean)
            other = reference.mean_ablate_head if ablate is reference.zero_ablate_head else reference.zero_ablate_head
            mistakes["ignoring `ablate` (one ablation hard-coded)"] = reference.repeated_half_ablation(
                model, tokens, half_len, other)
        if leftover > 0:
            check.fail(
                "after your function ran, the model still had hooks attached, so every later run is ablated.",
                case=case,
                hint="use model.run_with_hooks(...) or `with model.hooks(...)`, which remove them afterwards.",
            )
        check.compare(
            got,
            expected,
            case=case,
            what="the rises of the repeated-half loss",
            atol=1e-3,
            mistakes=mistakes,
            hint="for each (layer, head): hook get_act_name('z', layer) with functools.partial(ablate, head=head), "
            "then split_losses(logits, tokens, half_len)[1] minus the clean value.",
        )
    check.passed()


# --- Exercise 2.8 ------------------------------------------------------------------------------


def _dense(check: Check, got, *, case: str, what: str):
    if isinstance(got, FactoredMatrix):
        return got.AB
    if isinstance(got, torch.Tensor) or got is None:
        return got
    check.fail(f"{what} should be a FactoredMatrix (or a torch.Tensor), got {type(got).__name__}.", case=case)


def check_full_ov_circuit(full_ov_circuit) -> None:
    check = Check("Exercise 2.8 — full_ov_circuit")
    check.expect_callable(full_ov_circuit, "full_ov_circuit")
    cases = [("the shipped model", _toy(), [(1, 0), (0, 3), (1, 3)]), ("a random 3-head model", _random_model(7), [(0, 2), (1, 1)])]
    n = 0
    for case, model, heads in cases:
        with torch.no_grad():
            for layer, head in heads:
                got = check.call(full_ov_circuit, model, layer, head, case=case, what="full_ov_circuit")
                got = _dense(check, got, case=case, what="the full OV circuit")
                expected = reference.full_ov_circuit(model, layer, head).AB
                W_E, W_U, OV = model.W_E, model.W_U, model.OV[layer, head]
                check.compare(
                    got,
                    expected,
                    case=f"{case}, head {layer}.{head}",
                    what="the full OV circuit",
                    atol=1e-3,
                    mistakes={
                        "its transpose (rows must be the attended-to token, columns the output logit)": expected.T,
                        "W_OV transposed (W_O^T W_V^T instead of W_V W_O)": (W_E @ OV.T @ W_U).AB,
                        "W_E^T as the unembedding (this model's W_U is its own matrix)": (W_E @ OV @ W_E.T).AB,
                        "layer 0's W_OV for every layer": (W_E @ model.OV[0, head] @ W_U).AB if layer else expected.T,
                    },
                    hint="W_E [d_vocab, d_model] @ W_OV [d_model, d_model] @ W_U [d_model, d_vocab]; "
                    "model.OV[layer, head] is W_V W_O.",
                )
                n += 1
    check.passed(f"{n} heads in {len(cases)} cases")


# --- Exercise 2.9 ------------------------------------------------------------------------------


def _copying_cases():
    model = _toy()
    with torch.no_grad():
        for layer, head in [(1, 2), (0, 0)]:
            yield f"the shipped model's head {layer}.{head}", reference.full_ov_circuit(model, layer, head).AB.detach()
    generator = torch.Generator().manual_seed(91)
    planted = torch.randn(30, 30, generator=generator)
    rows = torch.arange(12)
    planted[rows, rows] = planted[:12].max(dim=-1).values + 1.0  # rows 0-11 copy, whatever their columns do
    yield "a random 30 x 30 matrix whose first 12 rows copy", planted
    yield "a random 7 x 7 matrix", torch.randn(7, 7, generator=generator)


def check_copying_score(copying_score) -> None:
    check = Check("Exercise 2.9 — copying_score")
    check.expect_callable(copying_score, "copying_score")
    n = 0
    for case, matrix in _copying_cases():
        got = check.call(copying_score, matrix.clone(), case=case, what="copying_score")
        got = check.expect_number(got, case=case, what="the copying score")
        diagonal = torch.arange(matrix.shape[0])
        expected = torch.tensor(reference.copying_score(matrix))
        check.compare(
            got,
            expected,
            case=case,
            what="the copying score",
            mistakes={
                "the argmax over each column (dim=0) instead of each row": (matrix.argmax(dim=0) == diagonal).float().mean(),
                "the number of copying tokens instead of their fraction": expected * matrix.shape[0],
                "the fraction of positive diagonal entries": (matrix.diagonal() > 0).float().mean(),
            },
            hint="row t is what attending to token t does to each logit: t copies when row t's argmax is t.",
        )
        n += 1
    check.passed()


# --- Exercise 2.10 -----------------------------------------------------------------------------


def _positional_variant(model, layer, head, *, scale: bool = True, mask: bool = True, dim: int = -1, biases: bool = False):
    q = model.W_pos @ model.W_Q[layer, head] + (model.b_Q[layer, head] if biases else 0)
    k = model.W_pos @ model.W_K[layer, head] + (model.b_K[layer, head] if biases else 0)
    scores = q @ k.T / (model.cfg.d_head**0.5 if scale else 1.0)
    if mask:
        scores = scores.masked_fill(torch.ones_like(scores, dtype=torch.bool).triu(1), float("-inf"))
    return scores.softmax(dim=dim)


def check_positional_pattern(positional_pattern) -> None:
    check = Check("Exercise 2.10 — positional_pattern")
    check.expect_callable(positional_pattern, "positional_pattern")
    cases = [("the shipped model", _toy(), [(0, 3), (1, 1)]), ("a random 3-head model", _random_model(8), [(0, 1), (1, 2)])]
    n = 0
    for case, model, heads in cases:
        with torch.no_grad():
            for layer, head in heads:
                got = check.call(positional_pattern, model, layer, head, case=case, what="positional_pattern")
                variant = functools.partial(_positional_variant, model, layer, head)
                check.compare(
                    got,
                    reference.positional_pattern(model, layer, head),
                    case=f"{case}, head {layer}.{head}",
                    what="the positional pattern",
                    mistakes={
                        "leaving out the causal mask": variant(mask=False),
                        "not dividing the scores by sqrt(d_head)": variant(scale=False),
                        "a softmax over the queries (dim=-2) instead of the keys": variant(dim=-2),
                        "including the biases b_Q and b_K (leave them out here)": variant(biases=True),
                    },
                    hint="scores = W_pos W_QK W_pos^T / sqrt(d_head) (model.QK[layer, head] is W_Q W_K^T), "
                    "mask k_pos > q_pos with -inf, softmax over the last axis.",
                )
                n += 1
    check.passed(f"{n} heads in {len(cases)} cases")


# --- Exercise 2.11 -----------------------------------------------------------------------------


def _random_factored(generator, d: int, rank: int) -> FactoredMatrix:
    return FactoredMatrix(torch.randn(d, rank, generator=generator), torch.randn(rank, d, generator=generator))


def check_composition_score(composition_score) -> None:
    check = Check("Exercise 2.11 — composition_score")
    check.expect_callable(composition_score, "composition_score")
    generator = torch.Generator().manual_seed(111)
    model = _toy()
    cases = [
        ("random rank-3 matrices, 12 x 12", _random_factored(generator, 12, 3), _random_factored(generator, 12, 3)),
        ("random rank-5 matrices, 20 x 20", _random_factored(generator, 20, 5), 3.0 * _random_factored(generator, 20, 5)),
        ("the shipped model: W_OV of 0.3, W_QK^T of 1.1", model.OV[0, 3], model.QK[1, 1].T),
    ]
    for case, W_A, W_B in cases:
        with torch.no_grad():
            got = check.call(composition_score, W_A, W_B, case=case, what="composition_score")
            got = torch.tensor(check.expect_type(got, float, case=case, what="the composition score"))
            A, B = W_A.AB, W_B.AB
            norm = torch.linalg.matrix_norm
            check.compare(
                got,
                torch.tensor(reference.composition_score(W_A, W_B)),
                case=case,
                what="the composition score",
                mistakes={
                    "leaving out the normalization (||W_A W_B|| alone)": norm(A @ B),
                    "dividing by ||W_A|| only": norm(A @ B) / norm(A),
                    "the product in the other order, W_B W_A": norm(B @ A) / (norm(A) * norm(B)),
                    "the spectral norm (largest singular value) instead of the Frobenius norm": norm(A @ B, ord=2)
                    / (norm(A, ord=2) * norm(B, ord=2)),
                    "dividing by the sum of the norms, not their product": norm(A @ B) / (norm(A) + norm(B)),
                },
                hint="Frobenius norms: ||W_A @ W_B|| / (||W_A|| * ||W_B||); FactoredMatrix.norm() is the Frobenius norm.",
            )
    check.passed()


# --- Exercise 2.12 -----------------------------------------------------------------------------


def check_composition_scores(composition_scores) -> None:
    check = Check("Exercise 2.12 — composition_scores")
    check.expect_callable(composition_scores, "composition_scores")
    cases = [("the shipped model", _toy()), ("a random 3-head model", _random_model(9))]
    other = {"Q": "K", "K": "Q"}
    for case, model in cases:
        with torch.no_grad():
            tables = {kind: reference.layer_composition_scores(model, kind) for kind in "QKV"}
            for kind, expected in tables.items():
                got = check.call(composition_scores, model, kind, case=f"{case}, kind={kind!r}", what="composition_scores")
                mistakes = {
                    "rows and columns swapped (rows are the layer-0 heads)": expected.T,
                    "the layers swapped (layer 1's W_OV into layer 0's heads)": _composition_variant(model, kind, swap_layers=True),
                    "the product in the other order (W_B W_A)": _composition_variant(model, kind, reverse_product=True),
                }
                if kind in other:
                    mistakes[f"{other[kind]}-composition: W_QK for Q, its transpose W_QK^T for K"] = tables[other[kind]]
                check.compare(
                    got,
                    expected,
                    case=f"{case}, kind={kind!r}",
                    what=f"the {kind}-composition scores",
                    mistakes=mistakes,
                    hint="W_A = model.OV[0, h0]; W_B = model.QK[1, h1] (Q), model.QK[1, h1].T (K) or model.OV[1, h1] (V).",
                )
    try:
        composition_scores(cases[0][1], "X")
    except ValueError:
        pass
    except Exception as error:  # noqa: BLE001 - any other outcome is the learner's to fix
        check.fail(f"composition_scores(model, 'X') raised {type(error).__name__}, not ValueError.",
                   case="an unknown kind", hint="check `kind` first: raise ValueError unless it is 'Q', 'K' or 'V'.")
    else:
        check.fail("composition_scores(model, 'X') returned a result instead of raising ValueError.",
                   case="an unknown kind", hint="check `kind` first: raise ValueError unless it is 'Q', 'K' or 'V'.")
    check.passed(f"Q, K and V in {len(cases)} cases, and an unknown kind")
