"""The mutants of chapter 04's Exercises 4.1 to 4.5 (`test_ch04_checks.py` holds the rest and runs
them all): the solution with one typical mistake edited in, as `solution_cells` applies it."""

from check_harness import Mutant

PRESENT = "present = torch.rand(shape) < feature_probability  # [batch instance feature], broadcast over batch"

MUTANTS_4_1_TO_4_5 = [
    # --- 4.1 generate_features
    Mutant(
        "check_generate_features",
        [
            (
                "torch.rand(shape) < feature_probability",
                "torch.rand(shape) > feature_probability",
            )
        ],
        "features-probability-as-sparsity",
        hint="as the sparsity",
    ),
    Mutant(
        "check_generate_features",
        [("return torch.rand(shape) * present", "return present.float()")],
        "features-all-ones",
        hint="every present feature to 1",
    ),
    Mutant(
        "check_generate_features",
        [
            (
                PRESENT,
                "uniform = torch.rand(shape)\n    present = uniform < feature_probability",
            ),
            ("return torch.rand(shape) * present", "return uniform * present"),
        ],
        "features-one-draw-for-presence-and-value",
        hint="the same random number",
    ),
    Mutant(
        "check_generate_features",
        [
            (
                PRESENT,
                "present = torch.rand(batch_size, feature_probability.shape[0], 1) < feature_probability",
            )
        ],
        "features-presence-shared-by-features",
        hint="shared by all the features",
    ),
    Mutant(
        "check_generate_features",
        [
            (
                PRESENT,
                "present = torch.rand(batch_size, 1, feature_probability.shape[1]) < feature_probability",
            )
        ],
        "features-presence-shared-by-instances",
        hint="shared by all the instances",
    ),
    Mutant(
        "check_generate_features",
        [("return torch.rand(shape) * present", "return present")],
        "features-returns-the-mask",
        "multiply the uniform values by the boolean mask",
    ),
    Mutant(
        "check_generate_features",
        [
            (
                "shape = (batch_size, *feature_probability.shape)",
                "torch.manual_seed(0)\n    shape = (batch_size, *feature_probability.shape)",
            )
        ],
        "features-seeded-inside",
        "returned the same batch",
    ),
    Mutant(
        "check_generate_features",
        [
            (
                PRESENT,
                "import random\n    present = torch.tensor([random.random() for _ in range(math.prod(shape))]).reshape(shape) < feature_probability",
            )
        ],
        "features-python-random",
        "torch.manual_seed",
    ),
    Mutant(
        "check_generate_features",
        [("return torch.rand(shape) * present", "return torch.randn(shape) * present")],
        "features-gaussian-values",
        "[0, 1]",
    ),
    # --- 4.2 ToyModel
    Mutant(
        "check_toy_model",
        [("return torch.relu(out + self.b_final)", "return out + self.b_final")],
        "model-no-relu",
        hint="leaving out the ReLU",
    ),
    Mutant(
        "check_toy_model",
        [("return torch.relu(out + self.b_final)", "return torch.relu(out)")],
        "model-no-bias",
        hint="leaving out b_final",
    ),
    Mutant(
        "check_toy_model",
        [
            (
                "return torch.relu(out + self.b_final)",
                "return torch.relu(out) + self.b_final",
            )
        ],
        "model-bias-after-relu",
        hint="after the ReLU",
    ),
    Mutant(
        "check_toy_model",
        [
            (
                '"instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")\n        out',
                '"instance d_hidden f_i, instance d_hidden f_j -> f_i f_j")\n        out',
            ),
            (
                '"batch instance f_j, instance f_i f_j -> batch instance f_i"',
                '"batch instance f_j, f_i f_j -> batch instance f_i"',
            ),
        ],
        "model-instances-share-WtW",
        hint="one WᵀW shared by all the instances",
    ),
    Mutant(
        "check_toy_model",
        [("self.W = nn.Parameter(", "self.W_enc = nn.Parameter(")],
        "model-renamed-parameter",
        "could not load weights",
    ),
    # --- 4.3 importance_weighted_loss
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "return (importance * squared_error).sum(dim=-1).mean(dim=0)",
                "return squared_error.sum(dim=-1).mean(dim=0)",
            )
        ],
        "loss-unweighted",
        hint="leaving out the importance",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "(importance * squared_error).sum(dim=-1).mean(dim=0)",
                "(importance * squared_error).mean(dim=-1).mean(dim=0)",
            )
        ],
        "loss-mean-over-features",
        hint="averaging over the features",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "(importance * squared_error).sum(dim=-1).mean(dim=0)",
                "(importance * squared_error).sum(dim=-1).sum(dim=0)",
            )
        ],
        "loss-sum-over-batch",
        hint="summing over the batch",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "squared_error = (features - out) ** 2",
                "squared_error = (importance * (features - out)) ** 2",
            ),
            ("return (importance * squared_error)", "return (squared_error)"),
        ],
        "loss-weighted-before-squaring",
        hint="weighting before squaring",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "(importance * squared_error).sum(dim=-1).mean(dim=0)",
                "(importance * squared_error).sum(dim=-1).mean(dim=0).sum()",
            )
        ],
        "loss-summed-over-instances",
        "wrong shape",
    ),
    Mutant(
        "check_importance_weighted_loss",
        [
            (
                "squared_error = (features - out) ** 2",
                "squared_error = (features - out.detach()) ** 2",
            )
        ],
        "loss-detached",
        "detached",
    ),
    # --- 4.4 norms_and_interference
    Mutant(
        "check_norms_and_interference",
        [("(overlaps**2 * off_diagonal).sum(dim=-1)", "(overlaps**2).sum(dim=-1)")],
        "interference-includes-self",
        hint="including j = i",
    ),
    Mutant(
        "check_norms_and_interference",
        [
            (
                "W_hat = W / norms.clamp(min=1e-8).unsqueeze(1)  # unit columns",
                "W_hat = W  # unit columns",
            )
        ],
        "interference-not-normalized",
        hint="not normalizing W_i",
    ),
    Mutant(
        "check_norms_and_interference",
        [
            (
                "(overlaps**2 * off_diagonal).sum(dim=-1)",
                "(overlaps * off_diagonal).sum(dim=-1)",
            )
        ],
        "interference-not-squared",
        hint="without squaring",
    ),
    Mutant(
        "check_norms_and_interference",
        [
            (
                "norms = W.norm(dim=1)  # [instance feature]",
                "norms = (W**2).sum(dim=1)  # [instance feature]",
            )
        ],
        "norms-squared",
        hint="squared norms",
    ),
    Mutant(
        "check_norms_and_interference",
        [("W / norms.clamp(min=1e-8).unsqueeze(1)", "W / norms.unsqueeze(1)")],
        "interference-nan-for-zero-column",
        "NaN",
    ),
    Mutant(
        "check_norms_and_interference",
        [
            (
                "norms = W.norm(dim=1)  # [instance feature]",
                "norms = W.norm(dim=-1)  # [instance feature]",
            )
        ],
        "norms-of-rows",
        "Case: random W",
    ),
    # --- 4.5 feature_dimensionality
    Mutant(
        "check_feature_dimensionality",
        [
            (
                "W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)",
                "W_hat = W",
            )
        ],
        "dimensionality-not-normalized",
        hint="not normalizing W_i",
    ),
    Mutant(
        "check_feature_dimensionality",
        [
            (
                "denominator = (overlaps**2).sum(dim=-1)",
                "denominator = (overlaps**2 * (1 - torch.eye(W.shape[-1]))).sum(dim=-1)",
            )
        ],
        "dimensionality-denominator-without-self",
        hint="leaving j = i out",
    ),
    Mutant(
        "check_feature_dimensionality",
        [
            (
                "W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)\n    overlaps = einops.einsum(W_hat, W,",
                "W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)\n    overlaps = einops.einsum(W_hat, W_hat,",
            )
        ],
        "dimensionality-both-normalized",
        hint="normalizing W_j as well",
    ),
    Mutant(
        "check_feature_dimensionality",
        [
            (
                "return squared_norms / denominator.clamp(min=1e-12)",
                "return squared_norms.sqrt() / denominator.clamp(min=1e-12)",
            )
        ],
        "dimensionality-norm-not-squared",
        hint="instead of ||W_i||²",
    ),
    Mutant(
        "check_feature_dimensionality",
        [
            ("squared_norms.sqrt().clamp(min=1e-8)", "squared_norms.sqrt()"),
            ("denominator.clamp(min=1e-12)", "denominator"),
        ],
        "dimensionality-nan-for-zero-column",
        "NaN",
    ),
    Mutant(
        "check_feature_dimensionality",
        [
            (
                "return squared_norms / denominator.clamp(min=1e-12)",
                "return denominator / squared_norms.clamp(min=1e-12)",
            )
        ],
        "dimensionality-inverted",
        hint="the ratio upside down",
    ),
]
