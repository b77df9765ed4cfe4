"""The checks of chapter 04's two random generators (Exercises 4.1 and 4.9), and their helpers.

A correct generator may draw its random numbers in any order, so the checks do not compare
batches with the key's: they first prove the batch is random and repeatable (same
torch.manual_seed, same batch, whatever Python's and numpy's RNGs hold; two calls in a row,
two batches; a fixed pattern fails here), then draw a large batch under a fixed seed and
compare statistics with what the distribution implies, within N_SE standard errors of each
estimate. `mi_tutorial.checks.ch04` re-exports both checks.
"""

from __future__ import annotations

import math
import random

import numpy
import torch
from torch import Tensor

from mi_tutorial.checks._core import Check

N_SAMPLES = 50_000  # for the statistics of a generator: standard errors of at most 0.0023
N_SE = 5  # tolerance of a sampled statistic: this many standard errors of its estimator


def _freq_atol(p: Tensor, n: int = N_SAMPLES) -> float:
    """N_SE standard errors of the worst frequency estimate sqrt(p (1 - p) / n), plus float slack."""
    return N_SE * (p * (1 - p) / n).sqrt().max().item() + 1e-6


def _moment_atol(n_present: int) -> float:
    """N_SE standard errors of the mean (var 1/12) or mean square (var 4/45) of n uniform values."""
    return N_SE * math.sqrt(4 / 45 / max(n_present, 1)) + 1e-6


def _seeded(check: Check, fn, seed: int, *args, case: str, what: str):
    """fn(*args) under torch.manual_seed(seed), leaving the caller's RNG state untouched."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return check.call(fn, *args, case=case, what=what)


def _expect_features(check: Check, got, shape: tuple, case: str, what: str) -> Tensor:
    if not isinstance(got, Tensor):
        check.fail(f"{what} should return a torch.Tensor, got {type(got).__name__}.", case=case)
    if tuple(got.shape) != shape:
        check.fail(
            f"{what}: wrong shape, expected {shape} (batch, instance, feature), got {tuple(got.shape)}.",
            case=case,
            hint="the batch axis comes first: torch.rand(batch_size, n_instances, n_features).",
        )
    if not got.is_floating_point():
        check.fail(
            f"{what}: dtype {got.dtype}; the features should be floats.",
            case=case,
            hint="multiply the uniform values by the boolean mask instead of returning the mask.",
        )
    check.expect_dtype(got, torch.float32, case=case, what=what)
    if got.min() < 0 or got.max() > 1:
        check.fail(
            f"{what}: values from {got.min():.3g} to {got.max():.3g}; features lie in [0, 1].",
            case=case,
            hint="draw the values with torch.rand (uniform on [0, 1]), not torch.randn.",
        )
    return got


def _check_repeatable(check: Check, fn, args: tuple, name: str) -> None:
    """Same seed, same batch; two calls in a row, two different batches."""
    case = "calling it twice"
    first = _seeded(check, fn, 123, *args, case=case, what=name)
    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    random.seed(
        987
    )  # other states of Python's and numpy's RNGs: a draw from them shows up as a difference
    numpy.random.seed(987)
    try:
        again = _seeded(check, fn, 123, *args, case=case, what=name)
    finally:
        random.setstate(python_state)
        numpy.random.set_state(numpy_state)
    if not torch.equal(first, again):
        check.fail(
            "two calls after the same torch.manual_seed gave different batches, so a training run "
            "could not be repeated.",
            case=case,
            hint="draw every random number with torch (torch.rand), not numpy or Python's random.",
        )

    def twice(
        *arguments,
    ):  # one after the other on the same random stream (check.call restores it after)
        return fn(*arguments), fn(*arguments)

    with torch.random.fork_rng():
        torch.manual_seed(123)
        one, two = check.call(twice, *args, case=case, what=name)
    if torch.equal(one, two):
        check.fail(
            "two calls in a row returned the same batch, so training would see one batch over and over.",
            case=case,
            hint="do not call torch.manual_seed inside the function.",
        )


def _value_moments(features: Tensor, present: Tensor) -> Tensor:
    """[mean, mean square] of the present entries."""
    values = features[present]
    return torch.stack([values.mean(), values.pow(2).mean()])


UNIFORM_MOMENTS = torch.tensor([1 / 2, 1 / 3])  # E[u], E[u^2] for u uniform on [0, 1]


# --- Exercise 4.1 ------------------------------------------------------------------------------


def check_generate_features(generate_features) -> None:
    check = Check("Exercise 4.1 — generate_features")
    check.expect_callable(generate_features, "generate_features")
    cases = [
        (
            "2 instances x 4 features, probabilities from 0 to 1",
            torch.tensor([[1.0, 0.5, 0.1, 0.0], [0.02, 0.9, 0.3, 0.7]]),
        ),
        (
            "3 instances x 3 features, all with probability 0.25",
            torch.full((3, 3), 0.25),
        ),
        ("1 instance, 1 feature, probability 0.6", torch.tensor([[0.6]])),
    ]
    # First: a random batch at all (a fixed pattern with the right frequencies fails here).
    _check_repeatable(check, generate_features, (torch.full((2, 3), 0.5), 16), "generate_features")
    for i, (case, p) in enumerate(cases):
        got = _seeded(
            check,
            generate_features,
            i,
            p,
            N_SAMPLES,
            case=case,
            what="generate_features",
        )
        got = _expect_features(check, got, (N_SAMPLES, *p.shape), case, "generate_features")
        present = got != 0
        check.compare(
            present.float().mean(0),
            p,
            case=case,
            atol=_freq_atol(p),
            rtol=0,
            what="how often each feature is present (the fraction of the batch)",
            mistakes={
                "using feature_probability as the sparsity (present with probability 1 - p)": 1 - p
            },
            hint="feature [k, i] is present where torch.rand(...) < feature_probability[k, i].",
        )
        common = p >= 0.1  # enough present samples for the moments to be precise
        weights = p[common] / p[common].sum()  # a feature contributes values in proportion to p
        same_draw = torch.stack(
            [(weights * p[common] / 2).sum(), (weights * p[common] ** 2 / 3).sum()]
        )  # uniform on [0, p]
        check.compare(
            _value_moments(got[:, common], present[:, common]),
            UNIFORM_MOMENTS,
            case=case,
            atol=_moment_atol(int(present[:, common].sum())),
            rtol=0,
            what="[mean, mean square] of the present features' values",
            mistakes={
                "setting every present feature to 1 instead of a uniform value": torch.ones(2),
                "using the same random number to decide presence and value (values then lie in [0, p])": same_draw,
            },
            hint="a present feature takes a fresh uniform value on [0, 1]: mean 1/2, mean square 1/3.",
        )
        if p.shape[0] >= 2 and p.shape[1] >= 2:
            q = p[0, 0].item()
            both_features = (present[:, 0, 0] & present[:, 0, 1]).float().mean()
            both_instances = (present[:, 0, 0] & present[:, 1, 0]).float().mean()
            expected = torch.tensor([p[0, 0] * p[0, 1], p[0, 0] * p[1, 0]])
            check.compare(
                torch.stack([both_features, both_instances]),
                expected,
                case=case,
                atol=_freq_atol(expected),
                rtol=0,
                what="[how often features 0 and 1 of instance 0 are both present, how often feature 0 "
                "of instances 0 and 1 both is]",
                mistakes={
                    "one presence draw shared by all the features of a sample": torch.tensor(
                        [q, q * q]
                    ),
                    "one presence draw shared by all the instances": torch.tensor([q * q, q]),
                },
                hint="draw presence for every (batch, instance, feature) entry separately.",
            )
    check.passed(f"{len(cases)} cases of {N_SAMPLES} samples")


# --- Exercise 4.9 ------------------------------------------------------------------------------


def check_generate_paired_features(generate_paired_features) -> None:
    check = Check("Exercise 4.9 — generate_paired_features")
    check.expect_callable(generate_paired_features, "generate_paired_features")
    cases = [
        (torch.tensor([0.05, 0.2, 0.4]), 2, False),
        (torch.tensor([0.05, 0.2, 0.4]), 2, True),
        (torch.tensor([0.5]), 1, True),
        (torch.tensor([0.3, 0.1]), 3, False),
    ]
    # First: a random batch at all (a fixed pattern with the right frequencies fails here).
    _check_repeatable(
        check,
        generate_paired_features,
        (torch.tensor([0.2, 0.3]), 2, 16, True),
        "generate_paired_features",
    )
    for i, (p, n_pairs, anti) in enumerate(cases):
        kind = "anti-correlated" if anti else "correlated"
        case = f"{kind}, {n_pairs} pair(s), feature_probability {p.tolist()}"
        got = _seeded(
            check,
            generate_paired_features,
            10 + i,
            p,
            n_pairs,
            N_SAMPLES,
            anti,
            case=case,
            what="generate_paired_features",
        )
        got = _expect_features(
            check,
            got,
            (N_SAMPLES, len(p), 2 * n_pairs),
            case,
            "generate_paired_features",
        )
        present = got != 0
        density = p[:, None].expand(-1, 2 * n_pairs)
        check.compare(
            present.float().mean(0),
            density,
            case=case,
            atol=_freq_atol(density),
            rtol=0,
            what="how often each feature is present",
            mistakes={
                "turning an anti-correlated pair on with probability p instead of 2p": density / 2,
                "always showing the first feature of an anti-correlated pair (no fair coin)": density
                * 2
                * (torch.arange(2 * n_pairs) % 2 == 0),
                "using feature_probability as the sparsity (present with probability 1 - p)": 1
                - density,
            },
            hint="each feature must be present with probability p; an anti-correlated pair is on with "
            "probability 2p and then shows one of its two features.",
        )
        first, second = present[..., 0::2], present[..., 1::2]  # [batch instance pair]
        both_rate = (first & second).float().mean((0, 2))  # [instance]
        check.compare(
            both_rate,
            torch.zeros_like(p) if anti else p.clone(),
            case=case,
            atol=_freq_atol(p, N_SAMPLES * n_pairs),
            rtol=0,
            what="how often both features of a pair are present",
            mistakes={"drawing an anti-correlated pair like a correlated one": p.clone()}
            if anti
            else {"drawing the two features of a pair independently": p**2},
            hint="correlated: both present exactly when the pair is on (rate p); anti-correlated: never both.",
        )
        if n_pairs >= 2:
            across = (
                (present[..., 0] & present[..., 2]).float().mean(0)
            )  # features of pairs 0 and 1
            check.compare(
                across,
                p**2,
                case=case,
                atol=_freq_atol(p**2),
                rtol=0,
                what="how often a feature of pair 0 and one of pair 1 are both present",
                mistakes={"one draw shared by all the pairs of a sample": p.clone()},
                hint="the pairs are independent of each other: draw one on/off per (batch, instance, pair).",
            )
        check.compare(
            _value_moments(got, present),
            UNIFORM_MOMENTS,
            case=case,
            atol=_moment_atol(int(present.sum())),
            rtol=0,
            what="[mean, mean square] of the present features' values",
            mistakes={
                "setting every present feature to 1 instead of a uniform value": torch.ones(2)
            },
            hint="a present feature takes a uniform value on [0, 1].",
        )
        if not anti:
            both = first & second
            same_value = (got[..., 0::2] == got[..., 1::2])[both].float().mean().reshape(1)
            check.compare(
                same_value,
                torch.zeros(1),
                case=case,
                atol=0.01,
                rtol=0,
                what="the fraction of co-occurring pairs whose two values are equal",
                mistakes={"giving both features of a pair the same value": torch.ones(1)},
                hint="the pair shares when it is present, not what value each feature takes.",
            )
    check.passed(f"{len(cases)} cases of {N_SAMPLES} samples")
