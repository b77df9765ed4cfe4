"""Chapter 05's checks of a training run's health (Exercises 5.7, dead and dense latents, and
5.8, the auxiliary TopK loss that revives dead ones); `mi_tutorial.checks.ch05` re-exports them.
Densities are built exactly (a latent fires on a chosen number of tokens), so the thresholds
are met exactly; the auxiliary loss's gradients are compared, since the trainer trains on it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mi_tutorial.checks._cases_ch05 import aux_k_cases, gen as _gen
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import sae as ref  # the answer keys, written apart from the solutions

# --- Exercise 5.7 ------------------------------------------------------------------------------


def _firing(counts: list[int], n_tokens: int, seed: int) -> Tensor:
    """[n_tokens, len(counts)] activations: latent j fires (> 0) on exactly counts[j] random tokens,
    some strongly, latent 1 only barely (1e-6), so density is exact and mean activation misleads."""
    g = _gen(seed)
    f = torch.zeros(n_tokens, len(counts))
    for j, count in enumerate(counts):
        rows = torch.randperm(n_tokens, generator=g)[:count]
        f[rows, j] = (
            1e-6 if j == 1 else 0.5 + 4 * torch.rand(count, generator=g) * (10 if j == 3 else 1)
        )
    return f


def check_dead_and_dense(dead_and_dense) -> None:
    check = Check("Exercise 5.7 — dead_and_dense")
    check.expect_callable(dead_and_dense, "dead_and_dense")
    # 200 tokens: densities 0, 0.005, 0.1 (exactly the default threshold), 0.25, 0.5, 0.095, 1, 0.105, 0.25
    f = _firing([0, 1, 20, 50, 100, 19, 200, 21, 50], 200, seed=7)
    cases = [
        (
            "200 tokens, 9 latents of known densities, the default dense_threshold (one latent exactly at it)",
            f,
            None,
        ),
        ("the same with dense_threshold 0.25 (two latents exactly at it)", f, 0.25),
        ("one token, dense_threshold 0.5", f[:1], 0.5),
        (
            "40 tokens, dense_threshold 0.05 (exactly 2 tokens)",
            _firing([2, 3, 0, 1, 40], 40, seed=8),
            0.05,
        ),
    ]
    for case, acts, threshold in cases:
        kwargs = {} if threshold is None else {"dense_threshold": threshold}
        limit = ref.DENSE_THRESHOLD if threshold is None else threshold
        out = check.call(dead_and_dense, acts, case=case, what="dead_and_dense", **kwargs)
        if not (isinstance(out, tuple) and len(out) == 2):
            check.fail(
                f"dead_and_dense should return a tuple (dead, dense), got {type(out).__name__}.",
                case=case,
            )
        dead, dense = ref.dead_and_dense(acts, limit)
        density = (acts > 0).float().mean(0)
        dense_mistakes = {
            "thresholding the mean activation instead of the firing frequency": acts.mean(0)
            > limit,
            "`>=` where the text says more than (a latent firing on exactly dense_threshold of the tokens is "
            "not dense)": density >= limit,
        }
        if limit != ref.DENSE_THRESHOLD:
            dense_mistakes["ignoring dense_threshold (always the default 0.1)"] = (
                density > ref.DENSE_THRESHOLD
            )
        dead_mistakes = {
            "returning (dense, dead) in the wrong order": dense,
            "counting a latent with tiny activations (1e-6) as dead: fires means > 0": acts.max(
                0
            ).values
            < 1e-3,
        }
        for got, expected, what, mistakes in (
            (out[0], dead, "the dead mask", dead_mistakes),
            (out[1], dense, "the dense mask", dense_mistakes),
        ):
            if isinstance(got, Tensor) and got.dtype != torch.bool:
                check.fail(
                    f"{what} should be a boolean tensor, got dtype {got.dtype}.",
                    case=case,
                    hint="a comparison such as density == 0 gives booleans.",
                )
            check.compare(got, expected, case=case, what=what, mistakes=mistakes)
    check.passed(f"{len(cases)} cases")


# --- Exercise 5.8 ------------------------------------------------------------------------------


def check_aux_k_loss(aux_k_loss) -> None:
    check = Check("Exercise 5.8 — aux_k_loss")
    check.expect_callable(aux_k_loss, "aux_k_loss")
    n_cases = 0
    for case, pre, dead, residual, W_dec, k_aux in aux_k_cases():
        leaves = {
            name: t.clone().requires_grad_(True)
            for name, t in (("pre", pre), ("residual", residual), ("W_dec", W_dec))
        }
        got = check.call(
            aux_k_loss,
            leaves["pre"].clone(),  # not a leaf, as in training (it comes from the encoder)
            dead,
            leaves["residual"],
            leaves["W_dec"],
            k_aux,
            case=case,
            what="aux_k_loss",
        )
        if isinstance(got, (int, float)) and not dead.any():
            got = torch.tensor(
                float(got)
            )  # no dead latent: a plain 0 is fine, nothing trains through it
        if isinstance(got, Tensor) and not torch.isfinite(got).all():
            check.fail(
                f"the loss is {got.flatten()[0].item()}, not a number.",
                case=case,
                hint="with fewer dead latents than k_aux, topk also picks -inf entries: ask for min(k_aux, n_dead).",
            )
        theirs = {
            name: t.clone().requires_grad_(True)
            for name, t in (("pre", pre), ("residual", residual), ("W_dec", W_dec))
        }
        expected = ref.aux_k_loss(theirs["pre"], dead, theirs["residual"], theirs["W_dec"], k_aux)

        def mistakes(pre=pre, dead=dead, residual=residual, W_dec=W_dec, k_aux=k_aux):
            if not dead.any():
                return {"not returning 0 when no latent is dead": residual.pow(2).sum(-1).mean()}
            n_pick = max(1, min(k_aux, int(dead.sum())))
            unmasked = pre.topk(k_aux, dim=-1)
            unmasked = torch.zeros_like(pre).scatter(-1, unmasked.indices, unmasked.values)
            picked = pre.masked_fill(~dead, float("-inf")).topk(n_pick, dim=-1)
            with_relu = torch.zeros_like(pre).scatter(-1, picked.indices, picked.values.relu())
            kept = torch.zeros_like(pre).scatter(-1, picked.indices, picked.values)
            return {
                "picking among all latents (the live ones were not set to -inf)": (
                    unmasked @ W_dec - residual
                )
                .pow(2)
                .sum(-1)
                .mean(),
                "a ReLU on the picked pre-activations (a dead latent with negative ones gets no gradient)": (
                    with_relu @ W_dec - residual
                )
                .pow(2)
                .sum(-1)
                .mean(),
                "averaging the squared error over d_in instead of summing it": (
                    kept @ W_dec - residual
                )
                .pow(2)
                .mean(),
                "adding the residual instead of subtracting it (f_aux @ W_dec + residual)": (
                    kept @ W_dec + residual
                )
                .pow(2)
                .sum(-1)
                .mean(),
            }

        check.compare(
            got.reshape(()) if isinstance(got, Tensor) and got.numel() == 1 else got,
            expected.detach(),
            case=case,
            what="the auxiliary loss",
            mistakes=mistakes,
            hint=None
            if int(dead.sum())
            else "with no dead latent there is nothing to train: return 0.",
        )
        if dead.any():
            check.expect_dtype(got, torch.float32, case=case, what="the auxiliary loss")
            check.compare_gradients(
                got.reshape(()),
                expected,
                {name: (leaves[name], theirs[name]) for name in leaves},
                case=case,
                what="the auxiliary loss",
            )
        n_cases += 1
    check.passed(f"{n_cases} cases")
