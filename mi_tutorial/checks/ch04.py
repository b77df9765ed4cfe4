"""Self-checks for chapter 04, superposition (Elhage et al., "Toy Models of Superposition").

The deterministic exercises are compared with `mi_tutorial.checks._keys.superposition` on
several cases, including the edge cases that break careless code (a column of zeros, a
square W, a single instance). The two data generators are random, so their checks draw a
large batch under a fixed seed and compare statistics with what the distribution implies:
how often each feature is present, how often two features co-occur, the mean and mean
square of the values. The tolerances are more than 4 standard deviations of those
estimates, so a correct generator passes whatever order it draws its random numbers in.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import superposition as ref

N_SAMPLES = 50_000  # for the statistics of a generator: standard errors of at most 0.0023
STAT_ATOL = 0.012  # > 5 standard errors of every frequency the generator checks estimate


def _W(n_instances: int, d_hidden: int, n_features: int, seed: int, zero_features=()) -> Tensor:
    """Random weights [instance, d_hidden, feature] with norms around 1; listed columns zero."""
    W = torch.randn(n_instances, d_hidden, n_features, generator=torch.Generator().manual_seed(seed))
    W = W / math.sqrt(d_hidden)
    for feature in zero_features:
        W[:, :, feature] = 0.0
    return W


def _geometries() -> Tensor:
    """Two instances with known answers: a regular pentagon, and an antipodal pair + an
    orthogonal feature + a dropped one (each instance 5 features in 2 dimensions)."""
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])  # [2, 5]
    mixed = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.3], [0.0, 0.0, 1.2, 0.0, 0.0]])
    mixed[:, 3] = 0.0  # feature 3 not represented
    return torch.stack([pentagon, mixed])


def _weight_cases():
    """(case name, W) for the checks of Exercises 4.4 to 4.6."""
    yield "random W, 3 instances, 5 features in 2 dimensions, feature 2 all zero", _W(3, 2, 5, seed=0, zero_features=[2])
    yield "random square W, 2 instances, 3 features in 3 dimensions", _W(2, 3, 3, seed=1)
    yield "a pentagon, and an antipodal pair + an orthogonal feature + a zero column", _geometries()
    yield "random W, 1 instance, 20 features in 5 dimensions", _W(1, 5, 20, seed=2)


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
        check.fail(f"{what}: dtype {got.dtype}; the features should be floats.", case=case,
                   hint="multiply the uniform values by the boolean mask instead of returning the mask.")
    if got.min() < 0 or got.max() > 1:
        check.fail(f"{what}: values from {got.min():.3g} to {got.max():.3g}; features lie in [0, 1].", case=case,
                   hint="draw the values with torch.rand (uniform on [0, 1]), not torch.randn.")
    return got


def _check_repeatable(check: Check, fn, args: tuple, name: str) -> None:
    """Same seed, same batch; two calls in a row, two different batches."""
    case = "calling it twice"
    first = _seeded(check, fn, 123, *args, case=case, what=name)
    again = _seeded(check, fn, 123, *args, case=case, what=name)
    if not torch.equal(first, again):
        check.fail(
            "two calls after the same torch.manual_seed gave different batches, so a training run "
            "could not be repeated.",
            case=case,
            hint="draw every random number with torch (torch.rand), not numpy or Python's random.",
        )
    with torch.random.fork_rng():
        torch.manual_seed(123)
        one = check.call(fn, *args, case=case, what=name)
        two = check.call(fn, *args, case=case, what=name)
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
        ("2 instances x 4 features, probabilities from 0 to 1", torch.tensor([[1.0, 0.5, 0.1, 0.0], [0.02, 0.9, 0.3, 0.7]])),
        ("3 instances x 3 features, all with probability 0.25", torch.full((3, 3), 0.25)),
        ("1 instance, 1 feature, probability 0.6", torch.tensor([[0.6]])),
    ]
    for i, (case, p) in enumerate(cases):
        got = _seeded(check, generate_features, i, p.clone(), N_SAMPLES, case=case, what="generate_features")
        got = _expect_features(check, got, (N_SAMPLES, *p.shape), case, "generate_features")
        present = got != 0
        check.compare(
            present.float().mean(0),
            p,
            case=case,
            atol=STAT_ATOL,
            rtol=0,
            what="how often each feature is present (the fraction of the batch)",
            mistakes={"using feature_probability as the sparsity (present with probability 1 - p)": 1 - p},
            hint="feature [k, i] is present where torch.rand(...) < feature_probability[k, i].",
        )
        common = p >= 0.1  # enough present samples for the moments to be precise
        weights = p[common] / p[common].sum()  # a feature contributes values in proportion to p
        same_draw = torch.stack([(weights * p[common] / 2).sum(), (weights * p[common] ** 2 / 3).sum()])  # uniform on [0, p]
        check.compare(
            _value_moments(got[:, common], present[:, common]),
            UNIFORM_MOMENTS,
            case=case,
            atol=0.01,
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
            check.compare(
                torch.stack([both_features, both_instances]),
                torch.tensor([p[0, 0] * p[0, 1], p[0, 0] * p[1, 0]]),
                case=case,
                atol=STAT_ATOL,
                rtol=0,
                what="[how often features 0 and 1 of instance 0 are both present, how often feature 0 "
                "of instances 0 and 1 both is]",
                mistakes={
                    "one presence draw shared by all the features of a sample": torch.tensor([q, q * q]),
                    "one presence draw shared by all the instances": torch.tensor([q * q, q]),
                },
                hint="draw presence for every (batch, instance, feature) entry separately.",
            )
    _check_repeatable(check, generate_features, (torch.full((2, 3), 0.5), 16), "generate_features")
    check.passed(f"{len(cases)} cases of {N_SAMPLES} samples")


# --- Exercise 4.2 ------------------------------------------------------------------------------


def check_toy_model(ToyModel) -> None:
    check = Check("Exercise 4.2 — ToyModel")
    check.expect_class(ToyModel, nn.Module, "ToyModel")
    for i, (n_instances, n_features, d_hidden, batch) in enumerate([(3, 5, 2, 8), (2, 20, 5, 4), (1, 2, 1, 1)]):
        case = f"{n_instances} instance(s), {n_features} features, d_hidden={d_hidden}, batch={batch}, random weights"
        model = check.call(ToyModel, n_instances, n_features, d_hidden, case="constructing it",
                           what="ToyModel(n_instances, n_features, d_hidden)")
        generator = torch.Generator().manual_seed(40 + i)
        W = torch.randn(n_instances, d_hidden, n_features, generator=generator)
        b_final = 0.3 * torch.randn(n_instances, n_features, generator=generator)
        try:
            model.load_state_dict({"W": W.clone(), "b_final": b_final.clone()}, strict=True)
        except RuntimeError:
            check.fail(
                f"could not load weights into your ToyModel: its parameters are "
                f"{ {k: tuple(v.shape) for k, v in model.state_dict().items()} }, and the check expects "
                f"W {tuple(W.shape)} and b_final {tuple(b_final.shape)}.",
                hint="keep the parameters that __init__ creates.",
            )
        features = ref.generate_features(torch.full((n_instances, n_features), 0.5), batch, generator=generator)
        got = check.call(model, features, case=case, what="ToyModel.forward")
        hidden = torch.einsum("bif,ihf->bih", features, W)
        linear = torch.einsum("bih,ihf->bif", hidden, W)
        check.compare(
            got,
            ref.toy_model_forward(W, b_final, features),
            case=case,
            what="the reconstruction x'",
            mistakes={
                "leaving out the ReLU": linear + b_final,
                "leaving out b_final": F.relu(linear),
                "adding b_final after the ReLU": F.relu(linear) + b_final,
                "a ReLU on the hidden layer too": F.relu(torch.einsum("bih,ihf->bif", F.relu(hidden), W) + b_final),
            },
            hint="h = W x per instance ([batch, instance, d_hidden]), then ReLU(Wᵀ h + b_final).",
        )
    check.passed("3 cases")


# --- Exercise 4.3 ------------------------------------------------------------------------------


def check_importance_weighted_loss(importance_weighted_loss) -> None:
    check = Check("Exercise 4.3 — importance_weighted_loss")
    check.expect_callable(importance_weighted_loss, "importance_weighted_loss")
    for i, (batch, n_instances, n_features) in enumerate([(16, 3, 5), (7, 2, 4), (1, 1, 1)]):
        case = f"batch={batch}, {n_instances} instance(s), {n_features} feature(s), random importances"
        generator = torch.Generator().manual_seed(60 + i)
        features = ref.generate_features(torch.full((n_instances, n_features), 0.5), batch, generator=generator)
        out = torch.rand(batch, n_instances, n_features, generator=generator).requires_grad_(True)
        importance = 0.1 + torch.rand(n_instances, n_features, generator=generator)
        got = check.call(importance_weighted_loss, out, features.clone(), importance.clone(), case=case,
                         what="importance_weighted_loss")
        error = (features - out.detach()) ** 2
        check.compare(
            got,
            ref.importance_weighted_loss(out.detach(), features, importance),
            case=case,
            what="the loss of each instance",
            mistakes={
                "leaving out the importance": error.sum(-1).mean(0),
                "weighting before squaring, (I (x - x'))², which squares the importance": (
                    (importance * (features - out.detach())) ** 2
                ).sum(-1).mean(0),
                "averaging over the features instead of summing": (importance * error).mean(-1).mean(0),
                "summing over the batch instead of averaging": (importance * error).sum(-1).sum(0),
            },
            hint="one loss per instance, shape [instance]: sum over features, mean over the batch.",
        )
        if not got.requires_grad:
            check.fail(
                "the loss is detached from the model's output, so training could not backpropagate through it.",
                case=case,
                hint="do not call .item(), .detach() or torch.no_grad() inside the loss.",
            )
    check.passed("3 cases")


# --- Exercise 4.4 ------------------------------------------------------------------------------


def check_norms_and_interference(norms_and_interference) -> None:
    check = Check("Exercise 4.4 — norms_and_interference")
    check.expect_callable(norms_and_interference, "norms_and_interference")
    for case, W in _weight_cases():
        got = check.call(norms_and_interference, W.clone(), case=case, what="norms_and_interference")
        if not (isinstance(got, tuple) and len(got) == 2):
            check.fail(f"return a tuple (norms, interference); got {type(got).__name__}.", case=case)
        norms, interference = ref.norms_and_interference(W)
        check.compare(
            got[0],
            norms,
            case=case,
            what="the norms ||W_i||",
            mistakes={
                "squared norms ||W_i||² instead of ||W_i||": norms**2,
                "norms of W's rows (over the feature axis) instead of its columns": W.norm(dim=-1),
            },
            hint="W_i is the column W[k, :, i]: take the norm over the d_hidden axis (dim=1).",
        )
        norms_safe = norms.clamp_min(1e-8)[:, None, :]
        dots = torch.einsum("ihf,ihg->ifg", W, W)  # W_i . W_j
        off = 1 - torch.eye(W.shape[-1])
        normalized = dots / norms_safe.transpose(1, 2)  # W_i-hat . W_j
        check.compare(
            got[1],
            interference,
            case=case,
            what="the interference",
            mistakes={
                "including j = i in the sum (which adds ||W_i||²)": interference + norms**2,
                "not normalizing W_i (W_i · W_j instead of Ŵ_i · W_j)": (dots**2 * off).sum(-1),
                "normalizing W_j as well (Ŵ_i · Ŵ_j)": ((normalized / norms_safe) ** 2 * off).sum(-1),
                "summing the dot products without squaring them": (normalized * off).sum(-1),
            },
            hint="sum over j != i of (Ŵ_i · W_j)², with Ŵ_i = W_i / ||W_i||.clamp(min=1e-8), so a zero "
            "column gets 0 rather than NaN.",
        )
    check.passed("4 cases")


# --- Exercise 4.5 ------------------------------------------------------------------------------


def check_feature_dimensionality(feature_dimensionality) -> None:
    check = Check("Exercise 4.5 — feature_dimensionality")
    check.expect_callable(feature_dimensionality, "feature_dimensionality")
    for case, W in _weight_cases():
        got = check.call(feature_dimensionality, W.clone(), case=case, what="feature_dimensionality")
        expected = ref.feature_dimensionality(W)
        squared_norms = W.pow(2).sum(1)
        norms_safe = squared_norms.sqrt().clamp_min(1e-8)
        dots = torch.einsum("ihf,ihg->ifg", W, W)  # W_i . W_j
        normalized = dots / norms_safe[:, :, None]  # W_i-hat . W_j
        off = 1 - torch.eye(W.shape[-1])

        def zero_column_is_zero(values: Tensor) -> Tensor:  # as the exercise asks, whatever the mistake
            return torch.where(squared_norms > 0, values, 0.0)

        check.compare(
            got,
            expected,
            case=case,
            what="D_i",
            mistakes={
                mistake: zero_column_is_zero(values)
                for mistake, values in {
                    "not normalizing W_i in the denominator (W_i · W_j instead of Ŵ_i · W_j)": squared_norms / dots.pow(2).sum(-1),
                    "leaving j = i out of the denominator": squared_norms / (normalized.pow(2) * off).sum(-1),
                    "normalizing W_j as well (Ŵ_i · Ŵ_j)": squared_norms / (normalized / norms_safe[:, None, :]).pow(2).sum(-1),
                    "||W_i|| instead of ||W_i||² in the numerator": squared_norms.sqrt() / normalized.pow(2).sum(-1),
                    "not squaring the dot products": squared_norms / normalized.sum(-1),
                }.items()
            },
            hint="D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)², the sum including j = i; 0 for a zero column.",
        )
    check.passed("4 cases")


# --- Exercise 4.6 ------------------------------------------------------------------------------


def check_dimensions_per_feature(dimensions_per_feature) -> None:
    check = Check("Exercise 4.6 — dimensions_per_feature")
    check.expect_callable(dimensions_per_feature, "dimensions_per_feature")
    for case, W in _weight_cases():
        got = check.call(dimensions_per_feature, W.clone(), case=case, what="dimensions_per_feature")
        n_instances, d_hidden, n_features = W.shape
        frobenius_squared = W.pow(2).sum((1, 2))
        check.compare(
            got,
            ref.dimensions_per_feature(W),
            case=case,
            what="D* of each instance",
            mistakes={
                "the number of features n instead of the hidden dimensions m": n_features / frobenius_squared,
                "||W||_F instead of ||W||_F²": d_hidden / frobenius_squared.sqrt(),
                "the ratio upside down, ||W||_F² / m": frobenius_squared / d_hidden,
                "the number of instances instead of m": n_instances / frobenius_squared,
            },
            hint="m = W.shape[1] (d_hidden), divided by the sum of every squared entry of W[k].",
        )
    check.passed("4 cases")


# --- Exercise 4.7 ------------------------------------------------------------------------------


def check_regime_losses(regime_losses) -> None:
    check = Check("Exercise 4.7 — regime_losses")
    check.expect_callable(regime_losses, "regime_losses")
    densities, importances = torch.tensor([1.0, 0.3, 0.02, 0.005]), torch.tensor([0.1, 1.0, 3.5])
    grid_density, grid_importance = torch.meshgrid(densities, importances, indexing="ij")
    cases = [
        ("a 4 x 3 grid of densities (1, 0.3, 0.02, 0.005) and importances (0.1, 1, 3.5)", grid_importance, grid_density),
        ("importance 0.5, density 0.5 (1-element tensors)", torch.tensor([0.5]), torch.tensor([0.5])),
        ("importance 2, density 0.1 (0-dimensional tensors)", torch.tensor(2.0), torch.tensor(0.1)),
    ]
    for case, importance, density in cases:
        got = check.call(regime_losses, importance.clone(), density.clone(), case=case, what="regime_losses")
        expected = ref.regime_losses(importance, density)
        not_represented, dedicated, superposition = expected
        second_moment = density / 3
        check.compare(
            got,
            expected,
            case=case,
            what="[not represented, dedicated, superposition] losses",
            mistakes={
                "predicting 0 for a dropped feature instead of its mean p/2 (the loss is then p/3, not the variance)": torch.stack(
                    [importance * second_moment, second_moment, superposition]
                ),
                "counting interference whenever either feature is present (p instead of p²)": torch.stack(
                    [not_represented, dedicated, density * (1 + importance) / 6]
                ),
                "swapping 'not represented' and 'dedicated'": torch.stack([dedicated, not_represented, superposition]),
                "leaving the importance out of the superposition loss": torch.stack(
                    [not_represented, dedicated, density**2 * 2 / 6]
                ),
            },
            hint="a dropped feature costs importance x variance, p/3 - p²/4; superposition costs "
            "p² (1 + I) / 6. Stack them along a new first axis.",
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 4.8 ------------------------------------------------------------------------------


def _classify_variant(W: Tensor, extra: int, *, squared_norm=False, normalize=True, norm_first=False, swap=False) -> Tensor:
    """classify_regime with one of the typical mistakes switched on."""
    norms = W.norm(dim=1)[:, extra]
    dots = torch.einsum("ih,ihf->if", W[:, :, extra], W)  # W_extra . W_j
    if normalize:
        dots = dots / norms.clamp_min(1e-8)[:, None]
    dots[:, extra] = 0
    interference = dots.pow(2).sum(-1)
    dropped = (norms**2 if squared_norm else norms) < ref.NORM_THRESHOLD
    alone = interference < ref.INTERFERENCE_THRESHOLD
    codes = torch.full((W.shape[0],), 1 if swap else 2, dtype=torch.long)
    if norm_first:
        codes[dropped] = 0
        codes[alone] = 2 if swap else 1
    else:
        codes[alone] = 2 if swap else 1
        codes[dropped] = 0
    return codes


def check_classify_regime(classify_regime) -> None:
    check = Check("Exercise 4.8 — classify_regime")
    check.expect_callable(classify_regime, "classify_regime")
    one_dimension = torch.tensor(  # [instance, d_hidden=1, feature=2]
        [[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, -1.0]], [[0.0, 0.6]], [[0.2, 0.9]], [[0.3, 1.5]], [[0.05, 1.0]], [[0.7, 0.3]]]
    )
    two_dimensions = torch.tensor(  # [instance, d_hidden=2, feature=3]
        [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],  # feature 2 dropped
            [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # features 0 and 2 orthogonal
            [[1.0, -0.5, -0.5], [0.0, 0.87, -0.87]],  # a triangle
            [[0.0, 1.0, -1.0], [1.0, 0.0, 0.0]],  # features 1 and 2 antipodal
        ]
    )
    cases = [
        ("n=2 features in m=1 dimension, extra feature 1", one_dimension, 1),
        ("n=2 features in m=1 dimension, extra feature 0", one_dimension, 0),
        ("n=3 features in m=2 dimensions, extra feature 2", two_dimensions, 2),
        ("random W, 6 instances, n=4 in m=2, extra feature 3", _W(6, 2, 4, seed=7), 3),
    ]
    for case, W, extra in cases:
        got = check.call(classify_regime, W.clone(), extra, case=case, what="classify_regime")
        check.compare(
            got,
            ref.classify_regime(W, extra),
            case=case,
            what="the regime codes",
            mistakes={
                "swapping the codes of 'dedicated' (1) and 'superposition' (2)": _classify_variant(W, extra, swap=True),
                "letting the interference test overrule the norm test (a dropped feature has no "
                "interference either)": _classify_variant(W, extra, norm_first=True),
                "comparing ||W_extra||² instead of ||W_extra|| with the threshold": _classify_variant(W, extra, squared_norm=True),
                "measuring the interference without normalizing W_extra": _classify_variant(W, extra, normalize=False),
            },
            hint="0 if ||W_extra|| < norm_threshold; otherwise 1 if its interference (Exercise 4.4) is "
            "below interference_threshold, else 2. Use column `extra`, not a fixed one.",
        )
    check.passed(f"{len(cases)} cases")


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
    for i, (p, n_pairs, anti) in enumerate(cases):
        kind = "anti-correlated" if anti else "correlated"
        case = f"{kind}, {n_pairs} pair(s), feature_probability {p.tolist()}"
        got = _seeded(check, generate_paired_features, 10 + i, p.clone(), n_pairs, N_SAMPLES, anti,
                      case=case, what="generate_paired_features")
        got = _expect_features(check, got, (N_SAMPLES, len(p), 2 * n_pairs), case, "generate_paired_features")
        present = got != 0
        density = p[:, None].expand(-1, 2 * n_pairs)
        check.compare(
            present.float().mean(0),
            density,
            case=case,
            atol=STAT_ATOL,
            rtol=0,
            what="how often each feature is present",
            mistakes={
                "turning an anti-correlated pair on with probability p instead of 2p": density / 2,
                "using feature_probability as the sparsity (present with probability 1 - p)": 1 - density,
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
            atol=STAT_ATOL,
            rtol=0,
            what="how often both features of a pair are present",
            mistakes={"drawing an anti-correlated pair like a correlated one": p.clone()}
            if anti
            else {"drawing the two features of a pair independently": p**2},
            hint="correlated: both present exactly when the pair is on (rate p); anti-correlated: never both.",
        )
        if n_pairs >= 2:
            across = (present[..., 0] & present[..., 2]).float().mean(0)  # features of pairs 0 and 1
            check.compare(
                across,
                p**2,
                case=case,
                atol=STAT_ATOL,
                rtol=0,
                what="how often a feature of pair 0 and one of pair 1 are both present",
                mistakes={"one draw shared by all the pairs of a sample": p.clone()},
                hint="the pairs are independent of each other: draw one on/off per (batch, instance, pair).",
            )
        check.compare(
            _value_moments(got, present),
            UNIFORM_MOMENTS,
            case=case,
            atol=0.01,
            rtol=0,
            what="[mean, mean square] of the present features' values",
            mistakes={"setting every present feature to 1 instead of a uniform value": torch.ones(2)},
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
    _check_repeatable(check, generate_paired_features, (torch.tensor([0.2, 0.3]), 2, 16, True), "generate_paired_features")
    check.passed(f"{len(cases)} cases of {N_SAMPLES} samples")
