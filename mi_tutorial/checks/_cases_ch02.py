"""What typical mistakes of chapter 02's exercises output, and the check of exercise 2.13
(the composition-score baseline, a sampled quantity), re-exported by `mi_tutorial.checks.ch02`.

The learner's estimate must be tied to the generator it is given (same seed: the same
answer, and the answer the reference draws from that seed; another seed: another answer),
so neither a constant such as d_model ** -0.5 (which is, in expectation, what the baseline
is: no value-based test could tell it apart) nor the global RNG passes; and it must lie
within 4 standard errors of a reference estimate from other samples, the standard error
taken from the per-pair spread of the scores.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from transformer_lens import FactoredMatrix
from transformer_lens.utilities import get_act_name

from mi_tutorial import metrics
from mi_tutorial.checks._core import Check, standard_error
from mi_tutorial.checks._keys import induction as reference

REFERENCE_SAMPLES = 300
# (d_model, d_head, n_samples): none is the chapter's (64, 16); d_head=2 spreads the scores most.
BASELINE_CASES = [(32, 4, 60), (12, 2, 100), (16, 16, 40)]


@functools.cache
def _reference_stats(d_model: int, d_head: int) -> tuple[float, float]:
    """(mean, per-pair standard deviation) of the score over REFERENCE_SAMPLES random pairs."""
    generator = torch.Generator().manual_seed(d_model * 1000 + d_head)
    scores = torch.tensor(
        [
            reference.composition_baseline(d_model, d_head, 1, generator)
            for _ in range(REFERENCE_SAMPLES)
        ]
    )
    return scores.mean().item(), standard_error(scores) * math.sqrt(REFERENCE_SAMPLES)


def _baseline_mistakes(d_model: int, d_head: int, n_samples: int, generator) -> dict[str, float]:
    """What each typical mistake returns when drawing from `generator` (the learner's seed)."""
    state = generator.get_state()

    def mean_score(draw, shape_a, shape_b, n=n_samples):
        generator.set_state(state)
        total = 0.0
        for _ in range(n):
            pair = [
                FactoredMatrix(
                    draw(*shape_a, generator=generator), draw(*shape_b, generator=generator)
                )
                for _ in range(2)
            ]
            total += reference.composition_score(*pair)
        return total / n

    right = mean_score(torch.randn, (d_model, d_head), (d_head, d_model))
    return {
        "torch.rand (uniform on [0, 1), all positive) instead of torch.randn": mean_score(
            torch.rand, (d_model, d_head), (d_head, d_model)
        ),
        "factors in the other order, [d_head, d_model] @ [d_model, d_head] (d_head x d_head)": (
            mean_score(torch.randn, (d_head, d_model), (d_model, d_head))
        ),
        "summing the scores instead of averaging them": right * n_samples,
        "one random pair (ignoring n_samples)": mean_score(
            torch.randn, (d_model, d_head), (d_head, d_model), n=1
        ),
    }


def check_composition_baseline(composition_baseline) -> None:
    check = Check("Exercise 2.13 — composition_baseline")
    check.expect_callable(composition_baseline, "composition_baseline")
    for i, (d_model, d_head, n_samples) in enumerate(BASELINE_CASES):
        case = f"d_model={d_model}, d_head={d_head}, n_samples={n_samples}"
        mean, spread = _reference_stats(d_model, d_head)

        def run(generator, d_model=d_model, d_head=d_head, n_samples=n_samples, case=case):
            got = check.call(
                composition_baseline,
                d_model,
                d_head,
                n_samples,
                generator,
                case=case,
                what="composition_baseline",
            )
            return check.expect_type(got, float, case=case, what="the baseline")

        check.expect_sampled(
            run,
            expected=mean,
            se=spread * math.sqrt(1 / n_samples + 1 / REFERENCE_SAMPLES),
            case=case,
            what="the baseline",
            seed=130 + i,
            reference=functools.partial(reference.composition_baseline, d_model, d_head, n_samples),
            mistakes=functools.partial(_baseline_mistakes, d_model, d_head, n_samples),
            hint="per sample, two FactoredMatrix(torch.randn(d_model, d_head, generator=g), "
            "torch.randn(d_head, d_model, generator=g)), g the generator; the mean of "
            "composition_score over them.",
        )
    check.passed()


# --- what the mistakes of exercises 2.1, 2.3, 2.5, 2.7 and 2.12 output ----------------------------


def _split_variant(
    logits, tokens, half_len, *, first_end: int, repeat_from: int, shift: bool = True
):
    """[first, repeated] losses with the first half scoring positions < first_end and the
    repeated half positions >= repeat_from; without `shift`, each position's logits are scored
    against its own token."""

    def loss(lo, hi):
        if shift:
            return F.cross_entropy(
                logits[:, lo - 1 : hi - 1].flatten(0, 1), tokens[:, lo:hi].flatten()
            )
        return F.cross_entropy(logits[:, lo:hi].flatten(0, 1), tokens[:, lo:hi].flatten())

    n_pos = tokens.shape[1]
    return torch.stack([loss(1, first_end), loss(repeat_from, n_pos)])


def _duplicate_variant(
    pattern,
    tokens,
    *,
    diagonal: int,
    only_with_copy: bool,
    same: bool = True,
    per_position: bool = False,
):
    n_pos = tokens.shape[1]
    equal = tokens[:, :, None] == tokens[:, None, :]
    copies = (equal if same else ~equal) & torch.ones(n_pos, n_pos, dtype=torch.bool).tril(diagonal)
    on_copies = (pattern * copies[:, None]).sum(dim=-1)  # [batch head q_pos]
    if not only_with_copy:
        return on_copies.mean(dim=(0, 2))
    has_copy = copies.any(dim=-1)
    return (on_copies * has_copy[:, None]).sum(dim=(0, 2)) / (
        n_pos if per_position else has_copy.sum()
    )


def _attribution_variant(
    cache,
    model,
    tokens,
    *,
    component_pos: slice,
    token_pos: slice,
    b_O: bool = False,
    head_major: bool = False,
    W_O_of_layer_0: bool = False,
    swap_embeddings: bool = False,
):
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    heads = cache.stack_head_results()  # [layer*head batch pos d_model]
    if W_O_of_layer_0:
        heads = torch.cat(
            [
                torch.einsum("bphd,hdm->hbpm", cache["z", layer], model.W_O[0])
                for layer in range(n_layers)
            ]
        )
    if b_O:
        heads = heads + model.b_O.repeat_interleave(n_heads, dim=0)[:, None, None]
    if head_major:  # L0H0, L1H0, L0H1, …
        heads = heads.reshape(n_layers, n_heads, *heads.shape[1:]).transpose(0, 1).flatten(0, 1)
    embeddings = (
        [cache["pos_embed"][None], cache["embed"][None]]
        if swap_embeddings
        else [cache["embed"][None], cache["pos_embed"][None]]
    )
    stack = torch.cat([*embeddings, heads])[:, :, component_pos]
    return torch.einsum("cbpd,dbp->bpc", stack, model.W_U[:, tokens[:, token_pos]])


def _ablation_variants(model, tokens, half_len, ablate, expected, clean):
    """What typical mistakes of repeated_half_ablation return."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    whole, piled = torch.zeros(n_layers, n_heads), torch.zeros(n_layers, n_heads)
    clean_whole = metrics.lm_loss(model(tokens), tokens)
    hooks = []
    for layer in range(n_layers):
        for head in range(n_heads):
            hook = (get_act_name("z", layer), functools.partial(ablate, head=head))
            whole[layer, head] = (
                metrics.lm_loss(model.run_with_hooks(tokens, fwd_hooks=[hook]), tokens)
                - clean_whole
            )
            hooks.append(hook)  # hooks never removed: every earlier head stays ablated
            piled[layer, head] = (
                reference.split_losses(
                    model.run_with_hooks(tokens, fwd_hooks=hooks), tokens, half_len
                )[1]
                - clean
            )
    return {
        "the loss on the whole sequence instead of the repeated half": whole,
        "returning the ablated loss instead of its increase over the clean loss": expected + clean,
        "the clean loss minus the ablated loss (sign flipped)": -expected,
        "letting the ablations pile up (hooks never removed)": piled,
    }


def _composition_variant(
    model, kind: str, *, swap_layers: bool = False, reverse_product: bool = False
):
    n_heads = model.cfg.n_heads
    out = torch.zeros(n_heads, n_heads)
    first, second = (1, 0) if swap_layers else (0, 1)
    for h0 in range(n_heads):
        for h1 in range(n_heads):
            W_A = model.OV[first, h0]
            W_B = {
                "Q": model.QK[second, h1],
                "K": model.QK[second, h1].T,
                "V": model.OV[second, h1],
            }[kind]
            out[h0, h1] = (
                reference.composition_score(W_B, W_A)
                if reverse_product
                else reference.composition_score(W_A, W_B)
            )
    return out
