"""A green check means a right answer: every chapter-04 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/04_superposition.py` by `solution_cells`, so they follow the solution
as it changes; an edit that stops matching the solution fails loudly.
"""

from __future__ import annotations

import pytest
import torch

import solution_cells
from check_harness import ChapterChecks, Mutant
from mi_tutorial.checks import ch04
from mi_tutorial.checks._keys import superposition as ref

STEM = "04_superposition"

# What each check is given, by name in the chapter's namespace; in exercise order (4.1, 4.2, …).
CHECK_ARGS = {
    "check_generate_features": ["generate_features"],
    "check_toy_model": ["ToyModel"],
    "check_importance_weighted_loss": ["importance_weighted_loss"],
    "check_norms_and_interference": ["norms_and_interference"],
    "check_feature_dimensionality": ["feature_dimensionality"],
    "check_dimensions_per_feature": ["dimensions_per_feature"],
    "check_regime_losses": ["regime_losses"],
    "check_classify_regime": ["classify_regime"],
    "check_generate_paired_features": ["generate_paired_features"],
}
PRESENT = "present = torch.rand(shape) < feature_probability  # [batch instance feature], broadcast over batch"
PAIR_REPEAT = 'present = einops.repeat(pair_on, "batch instance pair -> batch instance (pair two)", two=2)'

MUTANTS = [
    # --- 4.1 generate_features
    Mutant("check_generate_features", [("torch.rand(shape) < feature_probability", "torch.rand(shape) > feature_probability")],
           "features-probability-as-sparsity", hint="as the sparsity"),
    Mutant("check_generate_features", [("return torch.rand(shape) * present", "return present.float()")],
           "features-all-ones", hint="every present feature to 1"),
    Mutant("check_generate_features",
           [(PRESENT, "uniform = torch.rand(shape)\n    present = uniform < feature_probability"),
            ("return torch.rand(shape) * present", "return uniform * present")],
           "features-one-draw-for-presence-and-value", hint="the same random number"),
    Mutant("check_generate_features",
           [(PRESENT, "present = torch.rand(batch_size, feature_probability.shape[0], 1) < feature_probability")],
           "features-presence-shared-by-features", hint="shared by all the features"),
    Mutant("check_generate_features",
           [(PRESENT, "present = torch.rand(batch_size, 1, feature_probability.shape[1]) < feature_probability")],
           "features-presence-shared-by-instances", hint="shared by all the instances"),
    Mutant("check_generate_features", [("return torch.rand(shape) * present", "return present")],
           "features-returns-the-mask", "the features should be floats"),
    Mutant("check_generate_features", [("shape = (batch_size, *feature_probability.shape)", "torch.manual_seed(0)\n    shape = (batch_size, *feature_probability.shape)")],
           "features-seeded-inside", "returned the same batch"),
    Mutant("check_generate_features",
           [(PRESENT, "import random\n    present = torch.tensor([random.random() for _ in range(math.prod(shape))]).reshape(shape) < feature_probability")],
           "features-python-random", "torch.manual_seed"),
    Mutant("check_generate_features", [("return torch.rand(shape) * present", "return torch.randn(shape) * present")],
           "features-gaussian-values", "[0, 1]"),
    # --- 4.2 ToyModel
    Mutant("check_toy_model", [("return torch.relu(out + self.b_final)", "return out + self.b_final")], "model-no-relu",
           hint="leaving out the ReLU"),
    Mutant("check_toy_model", [("return torch.relu(out + self.b_final)", "return torch.relu(out)")], "model-no-bias",
           hint="leaving out b_final"),
    Mutant("check_toy_model", [("return torch.relu(out + self.b_final)", "return torch.relu(out) + self.b_final")],
           "model-bias-after-relu", hint="after the ReLU"),
    Mutant("check_toy_model",
           [('"instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")\n        out', '"instance d_hidden f_i, instance d_hidden f_j -> f_i f_j")\n        out'),
            ('"batch instance f_j, instance f_i f_j -> batch instance f_i"', '"batch instance f_j, f_i f_j -> batch instance f_i"')],
           "model-instances-share-WtW"),
    Mutant("check_toy_model", [("self.W = nn.Parameter(", "self.W_enc = nn.Parameter(")], "model-renamed-parameter",
           "could not load weights"),
    # --- 4.3 importance_weighted_loss
    Mutant("check_importance_weighted_loss",
           [("return (importance * squared_error).sum(dim=-1).mean(dim=0)", "return squared_error.sum(dim=-1).mean(dim=0)")],
           "loss-unweighted", hint="leaving out the importance"),
    Mutant("check_importance_weighted_loss",
           [("(importance * squared_error).sum(dim=-1).mean(dim=0)", "(importance * squared_error).mean(dim=-1).mean(dim=0)")],
           "loss-mean-over-features", hint="averaging over the features"),
    Mutant("check_importance_weighted_loss",
           [("(importance * squared_error).sum(dim=-1).mean(dim=0)", "(importance * squared_error).sum(dim=-1).sum(dim=0)")],
           "loss-sum-over-batch", hint="summing over the batch"),
    Mutant("check_importance_weighted_loss",
           [("squared_error = (features - out) ** 2", "squared_error = (importance * (features - out)) ** 2"),
            ("return (importance * squared_error)", "return (squared_error)")],
           "loss-weighted-before-squaring", hint="weighting before squaring"),
    Mutant("check_importance_weighted_loss",
           [("(importance * squared_error).sum(dim=-1).mean(dim=0)", "(importance * squared_error).sum(dim=-1).mean(dim=0).sum()")],
           "loss-summed-over-instances", "wrong shape"),
    Mutant("check_importance_weighted_loss", [("squared_error = (features - out) ** 2", "squared_error = (features - out.detach()) ** 2")],
           "loss-detached", "detached"),
    # --- 4.4 norms_and_interference
    Mutant("check_norms_and_interference", [("(overlaps**2 * off_diagonal).sum(dim=-1)", "(overlaps**2).sum(dim=-1)")],
           "interference-includes-self", hint="including j = i"),
    Mutant("check_norms_and_interference",
           [("W_hat = W / norms.clamp(min=1e-8).unsqueeze(1)  # unit columns", "W_hat = W  # unit columns")],
           "interference-not-normalized", hint="not normalizing W_i"),
    Mutant("check_norms_and_interference", [("(overlaps**2 * off_diagonal).sum(dim=-1)", "(overlaps * off_diagonal).sum(dim=-1)")],
           "interference-not-squared", hint="without squaring"),
    Mutant("check_norms_and_interference", [("norms = W.norm(dim=1)  # [instance feature]", "norms = (W**2).sum(dim=1)  # [instance feature]")],
           "norms-squared", hint="squared norms"),
    Mutant("check_norms_and_interference", [("W / norms.clamp(min=1e-8).unsqueeze(1)", "W / norms.unsqueeze(1)")],
           "interference-nan-for-zero-column", "NaN"),
    Mutant("check_norms_and_interference", [("norms = W.norm(dim=1)  # [instance feature]", "norms = W.norm(dim=-1)  # [instance feature]")],
           "norms-of-rows", "Case: random W"),
    # --- 4.5 feature_dimensionality
    Mutant("check_feature_dimensionality",
           [("W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)", "W_hat = W")],
           "dimensionality-not-normalized", hint="not normalizing W_i"),
    Mutant("check_feature_dimensionality",
           [("denominator = (overlaps**2).sum(dim=-1)", "denominator = (overlaps**2 * (1 - torch.eye(W.shape[-1]))).sum(dim=-1)")],
           "dimensionality-denominator-without-self", hint="leaving j = i out"),
    Mutant("check_feature_dimensionality",
           [("W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)\n    overlaps = einops.einsum(W_hat, W,",
             "W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)\n    overlaps = einops.einsum(W_hat, W_hat,")],
           "dimensionality-both-normalized", hint="normalizing W_j as well"),
    Mutant("check_feature_dimensionality",
           [("return squared_norms / denominator.clamp(min=1e-12)", "return squared_norms.sqrt() / denominator.clamp(min=1e-12)")],
           "dimensionality-norm-not-squared", hint="instead of ||W_i||²"),
    Mutant("check_feature_dimensionality",
           [("squared_norms.sqrt().clamp(min=1e-8)", "squared_norms.sqrt()"), ("denominator.clamp(min=1e-12)", "denominator")],
           "dimensionality-nan-for-zero-column", "NaN"),
    Mutant("check_feature_dimensionality",
           [("return squared_norms / denominator.clamp(min=1e-12)", "return denominator / squared_norms.clamp(min=1e-12)")],
           "dimensionality-inverted"),
    # --- 4.6 dimensions_per_feature
    Mutant("check_dimensions_per_feature", [("d_hidden = W.shape[1]", "d_hidden = W.shape[2]")], "dstar-n-features",
           hint="the number of features n"),
    Mutant("check_dimensions_per_feature", [("d_hidden / (W**2).sum(dim=(1, 2))", "d_hidden / (W**2).sum(dim=(1, 2)).sqrt()")],
           "dstar-frobenius-not-squared", hint="||W||_F instead"),
    Mutant("check_dimensions_per_feature", [("d_hidden / (W**2).sum(dim=(1, 2))", "(W**2).sum(dim=(1, 2)) / d_hidden")],
           "dstar-inverted", hint="upside down"),
    Mutant("check_dimensions_per_feature", [("d_hidden = W.shape[1]", "d_hidden = W.shape[0]")], "dstar-n-instances",
           hint="the number of instances"),
    Mutant("check_dimensions_per_feature", [("d_hidden / (W**2).sum(dim=(1, 2))", "d_hidden / (W**2).sum()")],
           "dstar-one-number-for-all-instances", "wrong shape"),
    # --- 4.7 regime_losses
    Mutant("check_regime_losses", [("variance = density / 3 - density**2 / 4", "variance = density / 3")], "theory-dropped-feature-predicts-0",
           hint="predicting 0 for a dropped feature"),
    Mutant("check_regime_losses", [("superposition = density**2 * (1 + importance) / 6", "superposition = density * (1 + importance) / 6")],
           "theory-interference-at-rate-p", hint="p instead of p²"),
    Mutant("check_regime_losses",
           [("torch.stack([not_represented, dedicated, superposition])", "torch.stack([dedicated, not_represented, superposition])")],
           "theory-swapped", hint="swapping"),
    Mutant("check_regime_losses", [("superposition = density**2 * (1 + importance) / 6", "superposition = density**2 * 2 / 6")],
           "theory-superposition-without-importance", hint="leaving the importance out"),
    Mutant("check_regime_losses",
           [("torch.stack([not_represented, dedicated, superposition])", "torch.stack([not_represented, dedicated, superposition], dim=-1)")],
           "theory-stacked-last", "wrong shape"),
    # --- 4.8 classify_regime
    Mutant("check_classify_regime",
           [("codes = torch.full((W.shape[0],), 2, dtype=torch.long)", "codes = torch.full((W.shape[0],), 1, dtype=torch.long)"),
            ("codes[interference[:, extra] < interference_threshold] = 1", "codes[interference[:, extra] < interference_threshold] = 2")],
           "regime-codes-swapped", hint="swapping the codes"),
    Mutant("check_classify_regime",
           [("    codes[interference[:, extra] < interference_threshold] = 1\n", ""),
            ("    return codes\n", "    codes[interference[:, extra] < interference_threshold] = 1\n    return codes\n")],
           "regime-interference-overrules-norm", hint="overrule the norm test"),
    Mutant("check_classify_regime", [("codes[norms[:, extra] < norm_threshold]", "codes[norms[:, extra] ** 2 < norm_threshold]")],
           "regime-squared-norm", hint="||W_extra||²"),
    Mutant("check_classify_regime",
           [("codes[interference[:, extra] <", "codes[interference[:, 1] <"), ("codes[norms[:, extra] <", "codes[norms[:, 1] <")],
           "regime-extra-always-1", "extra feature 0"),
    Mutant("check_classify_regime", [("dtype=torch.long)", "dtype=torch.float)")], "regime-float-codes", "dtype"),
    # --- 4.9 generate_paired_features
    Mutant("check_generate_paired_features", [("pair_on = torch.rand(pair_shape) < 2 * p", "pair_on = torch.rand(pair_shape) < p")],
           "pairs-anti-on-with-p", hint="probability p instead of 2p"),
    Mutant("check_generate_paired_features", [(PAIR_REPEAT, "present = torch.rand(batch_size, n_instances, 2 * n_pairs) < p")],
           "pairs-correlated-drawn-independently", hint="independently"),
    Mutant("check_generate_paired_features",
           [("return torch.rand(batch_size, n_instances, 2 * n_pairs) * present",
             'return einops.repeat(torch.rand(pair_shape), "batch instance pair -> batch instance (pair two)", two=2) * present')],
           "pairs-same-value", hint="the same value"),
    Mutant("check_generate_paired_features",
           [("pair_on = torch.rand(pair_shape) < p\n", "pair_on = (torch.rand(batch_size, n_instances, 1) < p).expand(pair_shape)\n")],
           "pairs-one-draw-for-all-pairs", hint="shared by all the pairs"),
    Mutant("check_generate_paired_features",
           [("torch.stack([pair_on & first, pair_on & ~first], dim=-1)", "torch.stack([pair_on, pair_on], dim=-1)")],
           "pairs-anti-both-on", "Case: anti-correlated"),
    Mutant("check_generate_paired_features",
           [("first = torch.rand(pair_shape) < 0.5  # which of the two is present", "first = torch.ones(pair_shape, dtype=torch.bool)")],
           "pairs-anti-always-the-first"),
]


class TestChapter04Checks(ChapterChecks):
    module = ch04
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


def test_checks_leave_the_learners_random_state_alone():
    """A check draws its own random numbers under a fixed seed, and restores torch's RNG, so
    running a check between two cells does not change what the learner's next cell draws."""
    namespace = solution_cells.solution_namespace(STEM)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    ch04.check_generate_features(namespace["generate_features"])
    ch04.check_generate_paired_features(namespace["generate_paired_features"])
    assert torch.equal(torch.rand(3), expected)


# --- the reference answers, on cases small enough to work out by hand ---------------------------


def test_reference_geometry_by_hand():
    pentagon_angles = torch.arange(5) * 2 * torch.pi / 5
    pentagon = torch.stack([pentagon_angles.cos(), pentagon_angles.sin()])[None]  # [1, 2, 5]
    assert torch.allclose(ref.feature_dimensionality(pentagon), torch.full((1, 5), 2 / 5), atol=1e-5)
    antipodal_and_dropped = torch.tensor([[[1.0, -1.0, 0.0]]])  # 1 dimension: a pair and a zero column
    assert torch.allclose(ref.feature_dimensionality(antipodal_and_dropped), torch.tensor([[0.5, 0.5, 0.0]]))
    norms, interference = ref.norms_and_interference(antipodal_and_dropped)
    assert torch.equal(norms, torch.tensor([[1.0, 1.0, 0.0]])) and torch.equal(interference, torch.tensor([[1.0, 1.0, 0.0]]))
    assert torch.allclose(ref.dimensions_per_feature(pentagon), torch.tensor([2 / 5]))
    assert ref.classify_regime(antipodal_and_dropped, extra=2).tolist() == [ref.NOT_REPRESENTED]
    assert ref.classify_regime(antipodal_and_dropped, extra=0).tolist() == [ref.SUPERPOSED]
    assert ref.classify_regime(torch.tensor([[[0.0, 1.0]]]), extra=1).tolist() == [ref.DEDICATED]


def test_reference_regime_losses_match_a_simulation():
    """The closed forms of Exercise 4.7 against the three solutions run on sampled data."""
    generator = torch.Generator().manual_seed(0)
    importance, density = 2.0, 0.3
    features = ref.generate_features(torch.full((1, 2), density), 400_000, generator=generator)  # [batch 1 2]
    weights = torch.tensor([1.0, importance])
    solutions = [
        (torch.tensor([[[1.0, 0.0]]]), torch.tensor([[0.0, density / 2]])),
        (torch.tensor([[[0.0, 1.0]]]), torch.tensor([[density / 2, 0.0]])),
        (torch.tensor([[[1.0, -1.0]]]), torch.zeros(1, 2)),
    ]
    simulated = torch.stack(
        [ref.importance_weighted_loss(ref.toy_model_forward(W, b, features), features, weights)[0] for W, b in solutions]
    )
    assert torch.allclose(simulated, ref.regime_losses(torch.tensor(importance), torch.tensor(density)), rtol=0.02)


def test_reference_rejects_a_2d_W_with_a_clear_message():
    with pytest.raises(ValueError, match=r"\[instance, d_hidden, feature\]"):
        ref.feature_dimensionality(torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"\[instance, feature\]"):
        ref.generate_features(torch.full((5,), 0.5), 4)
