"""A green check means a right answer: every chapter-04 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/04_superposition.py` by `solution_cells`, so they follow the solution
as it changes; an edit that stops matching the solution fails loudly.
"""

from __future__ import annotations

import pytest
import solution_cells
import torch
from ch04_mutants import MUTANTS_4_1_TO_4_5, PRESENT
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
PAIR_REPEAT = (
    'present = einops.repeat(pair_on, "batch instance pair -> batch instance (pair two)", two=2)'
)

MUTANTS = [
    *MUTANTS_4_1_TO_4_5,
    # --- 4.6 dimensions_per_feature
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden = W.shape[1]", "d_hidden = W.shape[2]")],
        "dstar-n-features",
        hint="the number of features n",
    ),
    Mutant(
        "check_dimensions_per_feature",
        [
            (
                "d_hidden / (W**2).sum(dim=(1, 2))",
                "d_hidden / (W**2).sum(dim=(1, 2)).sqrt()",
            )
        ],
        "dstar-frobenius-not-squared",
        hint="||W||_F instead",
    ),
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden / (W**2).sum(dim=(1, 2))", "(W**2).sum(dim=(1, 2)) / d_hidden")],
        "dstar-inverted",
        hint="upside down",
    ),
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden = W.shape[1]", "d_hidden = W.shape[0]")],
        "dstar-n-instances",
        hint="the number of instances",
    ),
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden / (W**2).sum(dim=(1, 2))", "d_hidden / (W**2).sum()")],
        "dstar-one-number-for-all-instances",
        "wrong shape",
    ),
    # --- 4.7 regime_losses
    Mutant(
        "check_regime_losses",
        [("variance = density / 3 - density**2 / 4", "variance = density / 3")],
        "theory-dropped-feature-predicts-0",
        hint="predicting 0 for a dropped feature",
    ),
    Mutant(
        "check_regime_losses",
        [
            (
                "superposition = density**2 * (1 + importance) / 6",
                "superposition = density * (1 + importance) / 6",
            )
        ],
        "theory-interference-at-rate-p",
        hint="p instead of p²",
    ),
    Mutant(
        "check_regime_losses",
        [
            (
                "torch.stack([not_represented, dedicated, superposition])",
                "torch.stack([dedicated, not_represented, superposition])",
            )
        ],
        "theory-swapped",
        hint="swapping",
    ),
    Mutant(
        "check_regime_losses",
        [
            (
                "superposition = density**2 * (1 + importance) / 6",
                "superposition = density**2 * 2 / 6",
            )
        ],
        "theory-superposition-without-importance",
        hint="leaving the importance out",
    ),
    Mutant(
        "check_regime_losses",
        [
            (
                "torch.stack([not_represented, dedicated, superposition])",
                "torch.stack([not_represented, dedicated, superposition], dim=-1)",
            )
        ],
        "theory-stacked-last",
        "wrong shape",
    ),
    # --- 4.8 classify_regime
    Mutant(
        "check_classify_regime",
        [
            (
                "codes = torch.full((W.shape[0],), 2, dtype=torch.long)",
                "codes = torch.full((W.shape[0],), 1, dtype=torch.long)",
            ),
            (
                "codes[interference[:, extra] < interference_threshold] = 1",
                "codes[interference[:, extra] < interference_threshold] = 2",
            ),
        ],
        "regime-codes-swapped",
        hint="swapping the codes",
    ),
    Mutant(
        "check_classify_regime",
        [
            ("    codes[interference[:, extra] < interference_threshold] = 1\n", ""),
            (
                "    return codes\n",
                "    codes[interference[:, extra] < interference_threshold] = 1\n    return codes\n",
            ),
        ],
        "regime-interference-overrules-norm",
        hint="overrule the norm test",
    ),
    Mutant(
        "check_classify_regime",
        [
            (
                "codes[norms[:, extra] < norm_threshold]",
                "codes[norms[:, extra] ** 2 < norm_threshold]",
            )
        ],
        "regime-squared-norm",
        hint="||W_extra||²",
    ),
    Mutant(
        "check_classify_regime",
        [
            ("codes[interference[:, extra] <", "codes[interference[:, 1] <"),
            ("codes[norms[:, extra] <", "codes[norms[:, 1] <"),
        ],
        "regime-extra-always-1",
        "extra feature 0",
    ),
    Mutant(
        "check_classify_regime",
        [("dtype=torch.long)", "dtype=torch.float)")],
        "regime-float-codes",
        "create them with dtype=torch.long",
    ),
    # --- 4.9 generate_paired_features
    Mutant(
        "check_generate_paired_features",
        [
            (
                "pair_on = torch.rand(pair_shape) < 2 * p",
                "pair_on = torch.rand(pair_shape) < p",
            )
        ],
        "pairs-anti-on-with-p",
        hint="probability p instead of 2p",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                PAIR_REPEAT,
                "present = torch.rand(batch_size, n_instances, 2 * n_pairs) < p",
            )
        ],
        "pairs-correlated-drawn-independently",
        hint="independently",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                "return torch.rand(batch_size, n_instances, 2 * n_pairs) * present",
                'return einops.repeat(torch.rand(pair_shape), "batch instance pair -> batch instance (pair two)", two=2) * present',
            )
        ],
        "pairs-same-value",
        hint="the same value",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                "pair_on = torch.rand(pair_shape) < p\n",
                "pair_on = (torch.rand(batch_size, n_instances, 1) < p).expand(pair_shape)\n",
            )
        ],
        "pairs-one-draw-for-all-pairs",
        hint="shared by all the pairs",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                "torch.stack([pair_on & first, pair_on & ~first], dim=-1)",
                "torch.stack([pair_on, pair_on], dim=-1)",
            )
        ],
        "pairs-anti-both-on",
        "Case: anti-correlated",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                "first = torch.rand(pair_shape) < 0.5  # which of the two is present",
                "first = torch.ones(pair_shape, dtype=torch.bool)",
            )
        ],
        "pairs-anti-always-the-first",
        hint="no fair coin",
    ),
    # --- issue 14: one mutant per class of wrong answers that used to pass
    # 1. changing the inputs
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden / (W**2).sum(dim=(1, 2))", "d_hidden / W.pow_(2).sum(dim=(1, 2))")],
        "dstar-squares-W-in-place",
        "changed its argument `W` in place",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "squared_error = (features - out) ** 2",
                "squared_error = features.sub_(out) ** 2",
            )
        ],
        "loss-subtracts-in-place",
        "changed its argument `features` in place",
    ),
    # 2. right values, wrong gradients
    Mutant(
        "check_toy_model",
        [("einops.einsum(self.W, self.W,", "einops.einsum(self.W.detach(), self.W,")],
        "model-half-detached-WtW",
        "the gradient of the reconstruction w.r.t. `W`",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "squared_error = (features - out) ** 2",
                "squared_error = (features - out) * (features - out).detach()",
            )
        ],
        "loss-half-detached-square",
        "the gradient of the loss w.r.t. `out`",
    ),
    # 3. arguments that never change
    Mutant(
        "check_classify_regime",
        [
            (
                "codes[interference[:, extra] < interference_threshold]",
                "codes[interference[:, extra] < 0.1]",
            )
        ],
        "regime-interference-threshold-hard-coded",
        hint="ignoring interference_threshold",
    ),
    Mutant(
        "check_classify_regime",
        [("codes[norms[:, extra] < norm_threshold]", "codes[norms[:, extra] < 0.5]")],
        "regime-norm-threshold-hard-coded",
        hint="ignoring norm_threshold",
    ),
    # 4. loose types
    Mutant(
        "check_regime_losses",
        [
            (
                "torch.stack([not_represented, dedicated, superposition])",
                "torch.stack([not_represented, dedicated, superposition]).double()",
            )
        ],
        "theory-float64",
        "the chapter needs exactly torch.float32",
    ),
    Mutant(
        "check_classify_regime",
        [("dtype=torch.long)", "dtype=torch.int32)")],
        "regime-int32-codes",
        "the chapter needs exactly torch.int64",
    ),
    # 5. boundaries
    Mutant(
        "check_classify_regime",
        [
            (
                "codes[norms[:, extra] < norm_threshold]",
                "codes[norms[:, extra] <= norm_threshold]",
            )
        ],
        "regime-norm-at-most",
        hint="a norm exactly at norm_threshold",
    ),
    Mutant(
        "check_classify_regime",
        [
            (
                "codes[interference[:, extra] < interference_threshold]",
                "codes[interference[:, extra] <= interference_threshold]",
            )
        ],
        "regime-interference-at-most",
        hint="an interference exactly at interference_threshold",
    ),
    # 6. statistics: a fixed pattern with exactly the right frequencies, no randomness
    Mutant(
        "check_generate_features",
        [
            (
                PRESENT,
                "present = (torch.arange(batch_size) / batch_size).reshape(-1, 1, 1) < feature_probability",
            ),
            (
                "return torch.rand(shape) * present",
                "return torch.linspace(0, 1, batch_size).reshape(-1, 1, 1) * present",
            ),
        ],
        "features-fixed-pattern",
        "two calls in a row returned the same batch",
    ),
    Mutant(
        "check_generate_paired_features",
        [
            (
                "n_instances = feature_probability.shape[0]",
                "n_instances = feature_probability.shape[0]\n    torch.manual_seed(int(1000 * feature_probability.sum()))",
            )
        ],
        "pairs-seeded-from-the-input",
        "two calls in a row returned the same batch",
    ),
    # 7. only the chapter's own setting right
    Mutant(
        "check_dimensions_per_feature",
        [("d_hidden = W.shape[1]", "d_hidden = 2")],
        "dstar-m-hard-coded",
        hint="a fixed m = 2",
    ),
]


class TestChapter04Checks(ChapterChecks):
    module = ch04
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


# --- the reference answers, on cases small enough to work out by hand ---------------------------


def test_reference_geometry_by_hand():
    pentagon_angles = torch.arange(5) * 2 * torch.pi / 5
    pentagon = torch.stack([pentagon_angles.cos(), pentagon_angles.sin()])[None]  # [1, 2, 5]
    assert torch.allclose(
        ref.feature_dimensionality(pentagon), torch.full((1, 5), 2 / 5), atol=1e-5
    )
    antipodal_and_dropped = torch.tensor(
        [[[1.0, -1.0, 0.0]]]
    )  # 1 dimension: a pair and a zero column
    assert torch.allclose(
        ref.feature_dimensionality(antipodal_and_dropped),
        torch.tensor([[0.5, 0.5, 0.0]]),
    )
    norms, interference = ref.norms_and_interference(antipodal_and_dropped)
    assert torch.equal(norms, torch.tensor([[1.0, 1.0, 0.0]])) and torch.equal(
        interference, torch.tensor([[1.0, 1.0, 0.0]])
    )
    assert torch.allclose(ref.dimensions_per_feature(pentagon), torch.tensor([2 / 5]))
    assert ref.classify_regime(antipodal_and_dropped, extra=2).tolist() == [ref.NOT_REPRESENTED]
    assert ref.classify_regime(antipodal_and_dropped, extra=0).tolist() == [ref.SUPERPOSED]
    assert ref.classify_regime(torch.tensor([[[0.0, 1.0]]]), extra=1).tolist() == [ref.DEDICATED]


def test_reference_regime_losses_match_a_simulation():
    """The closed forms of Exercise 4.7 against the three solutions run on sampled data."""
    generator = torch.Generator().manual_seed(0)
    importance, density = 2.0, 0.3
    features = ref.generate_features(
        torch.full((1, 2), density), 400_000, generator=generator
    )  # [batch 1 2]
    weights = torch.tensor([1.0, importance])
    solutions = [
        (torch.tensor([[[1.0, 0.0]]]), torch.tensor([[0.0, density / 2]])),
        (torch.tensor([[[0.0, 1.0]]]), torch.tensor([[density / 2, 0.0]])),
        (torch.tensor([[[1.0, -1.0]]]), torch.zeros(1, 2)),
    ]
    simulated = torch.stack(
        [
            ref.importance_weighted_loss(ref.toy_model_forward(W, b, features), features, weights)[
                0
            ]
            for W, b in solutions
        ]
    )
    assert torch.allclose(
        simulated,
        ref.regime_losses(torch.tensor(importance), torch.tensor(density)),
        rtol=0.02,
    )


def test_reference_rejects_a_2d_W_with_a_clear_message():
    with pytest.raises(ValueError, match=r"\[instance, d_hidden, feature\]"):
        ref.feature_dimensionality(torch.ones(2, 5))
    with pytest.raises(ValueError, match=r"\[instance, feature\]"):
        ref.generate_features(torch.full((5,), 0.5), 4)


# Class 8 of issue 14: a check passes exactly the types the signature promises, so code that relies
# on them (an `is True`, an int in range(), a float threshold) is not wrongly rejected.
STRICT_EDITS = {
    "check_generate_features": [
        (
            "shape = (batch_size, *feature_probability.shape)",
            (
                "assert type(batch_size) is int and isinstance(feature_probability, torch.Tensor)\n"
                "    shape = (batch_size, *feature_probability.shape)"
            ),
        )
    ],
    "check_classify_regime": [
        (
            "norms, interference = norms_and_interference(W)",
            (
                "assert type(extra) is int and type(norm_threshold) is float and type(interference_threshold) is float\n"
                "    norms, interference = norms_and_interference(W)"
            ),
        )
    ],
    "check_generate_paired_features": [
        (
            "n_instances = feature_probability.shape[0]",
            (
                "assert anti is True or anti is False\n"
                "    assert type(n_pairs) is int and type(batch_size) is int\n"
                "    n_instances = feature_probability.shape[0]"
            ),
        )
    ],
}


@pytest.mark.parametrize("check_name", sorted(STRICT_EDITS))
def test_code_relying_on_the_annotated_types_passes(check_name, capsys):
    namespace = solution_cells.solution_namespace(STEM, STRICT_EDITS[check_name])
    getattr(ch04, check_name)(*(namespace[arg] for arg in CHECK_ARGS[check_name]))
    assert "all checks passed" in capsys.readouterr().out
