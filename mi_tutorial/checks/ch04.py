"""Self-checks for chapter 04, superposition (Elhage et al., "Toy Models of Superposition").

The deterministic exercises are compared with `mi_tutorial.checks._keys.superposition` on
several cases, including the edge cases that break careless code (a column of zeros, a
square W, a single instance), with float32 results demanded exactly; where training goes
through an exercise (the toy model, the loss) the gradients are compared too. Exercise 4.8
gets thresholds other than the defaults and norms and interferences exactly at them. The two
data generators are random: their checks first prove the batch is random (same seed, same
batch; two calls, two batches; no other RNG), then draw a large batch under a fixed seed and
compare statistics with what the distribution implies (how often each feature is present, how
often two co-occur, the mean and mean square of the values), within 5 standard errors of each
estimate, so a correct generator passes whatever order it draws its random numbers in.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mi_tutorial.checks._cases_ch04 import (
    _W,
    _classify,
    _classify_variant,
    _weight_cases,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import superposition as ref
from mi_tutorial.checks._sampled_ch04 import (
    check_generate_features,
    check_generate_paired_features,
)

__all__ = [  # in exercise order; the two generators' checks live in _sampled_ch04
    "check_classify_regime",
    "check_dimensions_per_feature",
    "check_feature_dimensionality",
    "check_generate_features",
    "check_generate_paired_features",
    "check_importance_weighted_loss",
    "check_norms_and_interference",
    "check_regime_losses",
    "check_toy_model",
]

# --- Exercise 4.2 ------------------------------------------------------------------------------


def check_toy_model(ToyModel) -> None:
    check = Check("Exercise 4.2 — ToyModel")
    check.expect_class(ToyModel, nn.Module, "ToyModel")
    for i, (n_instances, n_features, d_hidden, batch) in enumerate(
        [(3, 5, 2, 8), (2, 20, 5, 4), (1, 2, 1, 1)]
    ):
        case = f"{n_instances} instance(s), {n_features} features, d_hidden={d_hidden}, batch={batch}, random weights"
        with (
            torch.random.fork_rng()
        ):  # __init__ draws the initial weights: keep the learner's RNG as it was
            model = check.call(
                ToyModel,
                n_instances,
                n_features,
                d_hidden,
                case="constructing it",
                what="ToyModel(n_instances, n_features, d_hidden)",
            )
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
        features = ref.generate_features(
            torch.full((n_instances, n_features), 0.5), batch, generator=generator
        )
        got_features = features.clone().requires_grad_(True)
        got = check.call(model, got_features, case=case, what="ToyModel.forward")
        hidden = torch.einsum("bif,ihf->bih", features, W)
        linear = torch.einsum("bih,ihf->bif", hidden, W)
        check.compare(
            got,
            ref.toy_model_forward(W, b_final, features),
            case=case,
            what="the reconstruction x'",
            mistakes={
                "leaving out the ReLU": linear + b_final,
                "one WᵀW shared by all the instances (summed over the instance axis)": F.relu(
                    torch.einsum("big,fg->bif", features, torch.einsum("ihf,ihg->fg", W, W))
                    + b_final
                ),
                "leaving out b_final": F.relu(linear),
                "adding b_final after the ReLU": F.relu(linear) + b_final,
                "a ReLU on the hidden layer too": F.relu(
                    torch.einsum("bih,ihf->bif", F.relu(hidden), W) + b_final
                ),
            },
            hint="h = W x per instance ([batch, instance, d_hidden]), then ReLU(Wᵀ h + b_final).",
        )
        check.expect_dtype(got, torch.float32, case=case, what="the reconstruction")
        ref_inputs = {
            "W": W.clone().requires_grad_(True),
            "b_final": b_final.clone().requires_grad_(True),
            "the features": features.clone().requires_grad_(True),
        }
        expected = ref.toy_model_forward(
            ref_inputs["W"], ref_inputs["b_final"], ref_inputs["the features"]
        )
        check.compare_gradients(
            got,
            expected,
            {
                name: (mine, ref_inputs[name])
                for name, mine in (
                    ("W", model.W),
                    ("b_final", model.b_final),
                    ("the features", got_features),
                )
            },
            case=case,
            what="the reconstruction",
        )
    check.passed("3 cases")


# --- Exercise 4.3 ------------------------------------------------------------------------------


def check_importance_weighted_loss(importance_weighted_loss) -> None:
    check = Check("Exercise 4.3 — importance_weighted_loss")
    check.expect_callable(importance_weighted_loss, "importance_weighted_loss")
    for i, (batch, n_instances, n_features) in enumerate([(16, 3, 5), (7, 2, 4), (1, 1, 1)]):
        case = (
            f"batch={batch}, {n_instances} instance(s), {n_features} feature(s), random importances"
        )
        generator = torch.Generator().manual_seed(60 + i)
        features = ref.generate_features(
            torch.full((n_instances, n_features), 0.5), batch, generator=generator
        )
        out = torch.rand(batch, n_instances, n_features, generator=generator).requires_grad_(True)
        importance = 0.1 + torch.rand(n_instances, n_features, generator=generator)
        got = check.call(
            importance_weighted_loss,
            out,
            features,
            importance,
            case=case,
            what="importance_weighted_loss",
        )
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
                )
                .sum(-1)
                .mean(0),
                "averaging over the features instead of summing": (importance * error)
                .mean(-1)
                .mean(0),
                "summing over the batch instead of averaging": (importance * error).sum(-1).sum(0),
            },
            hint="one loss per instance, shape [instance]: sum over features, mean over the batch.",
        )
        check.expect_dtype(got, torch.float32, case=case, what="the loss")
        if not got.requires_grad:
            check.fail(
                "the loss is detached from the model's output, so training could not backpropagate through it.",
                case=case,
                hint="do not call .item(), .detach() or torch.no_grad() inside the loss.",
            )
        theirs = out.detach().clone().requires_grad_(True)
        check.compare_gradients(
            got,
            ref.importance_weighted_loss(theirs, features, importance),
            {"out": (out, theirs)},
            case=case,
            what="the loss",
        )
    check.passed("3 cases")


# --- Exercise 4.4 ------------------------------------------------------------------------------


def check_norms_and_interference(norms_and_interference) -> None:
    check = Check("Exercise 4.4 — norms_and_interference")
    check.expect_callable(norms_and_interference, "norms_and_interference")
    for case, W in _weight_cases():
        got = check.call(norms_and_interference, W, case=case, what="norms_and_interference")
        if not (isinstance(got, tuple) and len(got) == 2):
            check.fail(
                f"return a tuple (norms, interference); got {type(got).__name__}.",
                case=case,
            )
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
                "normalizing W_j as well (Ŵ_i · Ŵ_j)": ((normalized / norms_safe) ** 2 * off).sum(
                    -1
                ),
                "summing the dot products without squaring them": (normalized * off).sum(-1),
            },
            hint="sum over j != i of (Ŵ_i · W_j)², with Ŵ_i = W_i / ||W_i||.clamp(min=1e-8), so a zero "
            "column gets 0 rather than NaN.",
        )
        for part, name in zip(got, ("the norms", "the interference")):
            check.expect_dtype(part, torch.float32, case=case, what=name)
    check.passed("4 cases")


# --- Exercise 4.5 ------------------------------------------------------------------------------


def check_feature_dimensionality(feature_dimensionality) -> None:
    check = Check("Exercise 4.5 — feature_dimensionality")
    check.expect_callable(feature_dimensionality, "feature_dimensionality")
    for case, W in _weight_cases():
        got = check.call(feature_dimensionality, W, case=case, what="feature_dimensionality")
        expected = ref.feature_dimensionality(W)
        squared_norms = W.pow(2).sum(1)
        norms_safe = squared_norms.sqrt().clamp_min(1e-8)
        dots = torch.einsum("ihf,ihg->ifg", W, W)  # W_i . W_j
        normalized = dots / norms_safe[:, :, None]  # W_i-hat . W_j
        off = 1 - torch.eye(W.shape[-1])

        def zero_column_is_zero(values: Tensor, squared_norms: Tensor = squared_norms) -> Tensor:
            return torch.where(
                squared_norms > 0, values, 0.0
            )  # as the exercise asks, whatever the mistake

        check.compare(
            got,
            expected,
            case=case,
            what="D_i",
            mistakes={
                mistake: zero_column_is_zero(values)
                for mistake, values in {
                    "not normalizing W_i in the denominator (W_i · W_j instead of Ŵ_i · W_j)": squared_norms
                    / dots.pow(2).sum(-1),
                    "leaving j = i out of the denominator": squared_norms
                    / (normalized.pow(2) * off).sum(-1),
                    "normalizing W_j as well (Ŵ_i · Ŵ_j)": squared_norms
                    / (normalized / norms_safe[:, None, :]).pow(2).sum(-1),
                    "||W_i|| instead of ||W_i||² in the numerator": squared_norms.sqrt()
                    / normalized.pow(2).sum(-1),
                    "not squaring the dot products": squared_norms / normalized.sum(-1),
                    "the ratio upside down": normalized.pow(2).sum(-1)
                    / squared_norms.clamp_min(1e-12),
                }.items()
            },
            hint="D_i = ||W_i||² / Σ_j (Ŵ_i · W_j)², the sum including j = i; 0 for a zero column.",
        )
        check.expect_dtype(got, torch.float32, case=case, what="D_i")
    check.passed("4 cases")


# --- Exercise 4.6 ------------------------------------------------------------------------------


def check_dimensions_per_feature(dimensions_per_feature) -> None:
    check = Check("Exercise 4.6 — dimensions_per_feature")
    check.expect_callable(dimensions_per_feature, "dimensions_per_feature")
    for case, W in _weight_cases():
        got = check.call(dimensions_per_feature, W, case=case, what="dimensions_per_feature")
        n_instances, d_hidden, n_features = W.shape
        frobenius_squared = W.pow(2).sum((1, 2))
        check.compare(
            got,
            ref.dimensions_per_feature(W),
            case=case,
            what="D* of each instance",
            mistakes={
                "the number of features n instead of the hidden dimensions m": n_features
                / frobenius_squared,
                "||W||_F instead of ||W||_F²": d_hidden / frobenius_squared.sqrt(),
                "the ratio upside down, ||W||_F² / m": frobenius_squared / d_hidden,
                **(
                    {}
                    if d_hidden == 2
                    else {
                        "a fixed m = 2 (the chapter's setting) instead of W.shape[1]": 2
                        / frobenius_squared
                    }
                ),
                "the number of instances instead of m": n_instances / frobenius_squared,
            },
            hint="m = W.shape[1] (d_hidden), divided by the sum of every squared entry of W[k].",
        )
        check.expect_dtype(got, torch.float32, case=case, what="D*")
    check.passed("4 cases")


# --- Exercise 4.7 ------------------------------------------------------------------------------


def check_regime_losses(regime_losses) -> None:
    check = Check("Exercise 4.7 — regime_losses")
    check.expect_callable(regime_losses, "regime_losses")
    densities, importances = (
        torch.tensor([1.0, 0.3, 0.02, 0.005]),
        torch.tensor([0.1, 1.0, 3.5]),
    )
    grid_density, grid_importance = torch.meshgrid(densities, importances, indexing="ij")
    cases = [
        (
            "a 4 x 3 grid of densities (1, 0.3, 0.02, 0.005) and importances (0.1, 1, 3.5)",
            grid_importance,
            grid_density,
        ),
        (
            "importance 0.5, density 0.5 (1-element tensors)",
            torch.tensor([0.5]),
            torch.tensor([0.5]),
        ),
        (
            "importance 2, density 0.1 (0-dimensional tensors)",
            torch.tensor(2.0),
            torch.tensor(0.1),
        ),
    ]
    for case, importance, density in cases:
        got = check.call(regime_losses, importance, density, case=case, what="regime_losses")
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
                "swapping 'not represented' and 'dedicated'": torch.stack(
                    [dedicated, not_represented, superposition]
                ),
                "leaving the importance out of the superposition loss": torch.stack(
                    [not_represented, dedicated, density**2 * 2 / 6]
                ),
            },
            hint="a dropped feature costs importance x variance, p/3 - p²/4; superposition costs "
            "p² (1 + I) / 6. Stack them along a new first axis.",
        )
        check.expect_dtype(got, torch.float32, case=case, what="the losses")
    check.passed(f"{len(cases)} cases")


# --- Exercise 4.8 ------------------------------------------------------------------------------


def check_classify_regime(classify_regime) -> None:
    check = Check("Exercise 4.8 — classify_regime")
    check.expect_callable(classify_regime, "classify_regime")
    one_dimension = torch.tensor(  # [instance, d_hidden=1, feature=2]; the last two sit on the default norm limit
        [
            [[1.0, 0.0]],
            [[0.0, 1.0]],
            [[1.0, -1.0]],
            [[0.0, 0.6]],
            [[0.2, 0.9]],
            [[0.3, 1.5]],
            [[0.05, 1.0]],
            [[0.7, 0.3]],
            [[0.0, 0.5]],
            [[0.5, 0.0]],
        ]
    )
    two_dimensions = torch.tensor(  # [instance, d_hidden=2, feature=3]
        [
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],  # feature 2 dropped
            [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # features 0 and 2 orthogonal
            [[1.0, -0.5, -0.5], [0.0, 0.87, -0.87]],  # a triangle
            [[0.0, 1.0, -1.0], [1.0, 0.0, 0.0]],  # features 1 and 2 antipodal
        ]
    )
    at_limits = (
        torch.tensor(  # [instance, d_hidden=2, feature=2], extra feature 0; all exact in binary
            [
                [
                    [1.0, 0.5],
                    [0.0, 0.0],
                ],  # ||W_0|| = 1.0 exactly, interference 0.25 exactly: superposition
                [[0.0, 0.25], [1.0, 0.0]],  # ||W_0|| = 1.0, interference 0.0625: dedicated
                [
                    [0.75, 0.0],
                    [0.0, 1.0],
                ],  # ||W_0|| = 0.75 < 1.0: not represented (represented at 0.5)
                [[0.0, 1.0], [2.0, -1.0]],  # interference 1: superposition
                [
                    [1.0, 0.4],
                    [0.0, 0.0],
                ],  # interference 0.16: dedicated below 0.25 (superposition below 0.1)
            ]
        )
    )
    cases = [  # (case, W, extra, norm_threshold, interference_threshold); None: the default
        (
            "n=2 features in m=1 dimension, extra feature 1, two norms exactly 0.5",
            one_dimension,
            1,
            None,
            None,
        ),
        (
            "n=2 features in m=1 dimension, extra feature 0, two norms exactly 0.5",
            one_dimension,
            0,
            None,
            None,
        ),
        (
            "n=3 features in m=2 dimensions, extra feature 2, interference_threshold 0.3",
            two_dimensions,
            2,
            None,
            0.3,
        ),
        (
            "random W, 6 instances, n=4 in m=2, extra feature 3, norm_threshold 0.8",
            _W(6, 2, 4, seed=7),
            3,
            0.8,
            None,
        ),
        (
            "at the limits: norm_threshold 1.0, interference_threshold 0.25, norms and interferences at them",
            at_limits,
            0,
            1.0,
            0.25,
        ),
    ]
    for case, W, extra, norm_threshold, interference_threshold in cases:
        kwargs = {}
        if norm_threshold is not None:
            kwargs["norm_threshold"] = norm_threshold
        if interference_threshold is not None:
            kwargs["interference_threshold"] = interference_threshold
        nt = ref.NORM_THRESHOLD if norm_threshold is None else norm_threshold
        it = (
            ref.INTERFERENCE_THRESHOLD if interference_threshold is None else interference_threshold
        )
        got = check.call(classify_regime, W, extra, case=case, what="classify_regime", **kwargs)

        variant = functools.partial(_classify_variant, W, extra, nt, it)

        mistakes = {
            "swapping the codes of 'dedicated' (1) and 'superposition' (2)": variant(swap=True),
            "letting the interference test overrule the norm test (a dropped feature has no "
            "interference either)": variant(norm_first=True),
            "comparing ||W_extra||² instead of ||W_extra|| with the threshold": variant(
                squared_norm=True
            ),
            "measuring the interference without normalizing W_extra": variant(normalize=False),
            "`<=` where the text says below (a norm exactly at norm_threshold is represented)": variant(
                norm_at_most=True
            ),
            "`<=` where the text says below (an interference exactly at interference_threshold is "
            "superposition)": variant(interference_at_most=True),
        }
        if norm_threshold is not None:
            mistakes["ignoring norm_threshold (always the default 0.5)"] = _classify_variant(
                W, extra, ref.NORM_THRESHOLD, it
            )
        if interference_threshold is not None:
            mistakes["ignoring interference_threshold (always the default 0.1)"] = (
                _classify_variant(W, extra, nt, ref.INTERFERENCE_THRESHOLD)
            )
        if isinstance(got, Tensor):
            check.expect_dtype(
                got,
                torch.long,
                case=case,
                what="the regime codes",
                hint="the chapter stacks them with the theory's codes (an argmin, torch.long): "
                "create them with dtype=torch.long.",
            )
        check.compare(
            got,
            _classify(W, extra, nt, it),
            case=case,
            what="the regime codes",
            mistakes=mistakes,
            hint="0 if ||W_extra|| < norm_threshold; otherwise 1 if its interference (Exercise 4.4) is "
            "below interference_threshold, else 2. Use column `extra` and the thresholds you are given.",
        )
    check.passed(f"{len(cases)} cases")
