"""A green check means a right answer: every chapter-08 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The mutants are the solution with one typical mistake edited in (see `solution_cells`).
Issue 14's classes, each with at least one mutant here: an input changed in place
(weight-norm-abs-in-place, fraction-centres-acts-in-place, gini-normalises-input-in-place),
right values with no gradient (loss-detached), an argument hard-coded (basis-p-hard-coded,
norms-basis-hard-coded, key-threshold-hard-coded, fraction-k-hard-coded,
explained-freqs-hard-coded, ablate-first-freq-only), a loose type (loss-float64,
weight-norm-tensor, basis-float64, key-tensor-elements, explained-tensor,
component-float64, gini-tensor), a boundary (key-greater-or-equal, at a share exactly at the
threshold), a constant (gini-constant). No exercise of this chapter samples, so the
statistics class has nothing to test.
"""

from __future__ import annotations

import pytest
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import CheckFailed, ch08

STEM = "08_grokking"

CHECK_ARGS = {
    "check_last_position_loss": ["last_position_loss"],
    "check_weight_norm": ["weight_norm"],
    "check_fourier_basis": ["fourier_basis"],
    "check_frequency_norms": ["frequency_norms"],
    "check_key_frequencies": ["key_frequencies"],
    "check_neuron_activations": ["neuron_activations"],
    "check_frequency_fraction": ["frequency_fraction"],
    "check_logit_variance_explained": ["logit_variance_explained"],
    "check_frequency_component": ["frequency_component"],
    "check_gini": ["gini"],
    "check_ablate_frequencies": ["ablate_frequencies"],
}

LOGITS = "logits = model(tokens)[:, -1, :]"
CE = "return F.cross_entropy(logits, labels)"
NORM = "return math.sqrt(sum(value.double().pow(2).sum().item() for value in state_dict.values()))"
WAVES = "torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)"
BASIS_RETURN = "return (basis / basis.norm(dim=1, keepdim=True)).float()"
NORMS = "return (coefficients[1::2].pow(2).sum(-1) + coefficients[2::2].pow(2).sum(-1)).sqrt()"
KEY = "return [k + 1 for k in range(len(norms)) if share[k] > threshold]"
HOOK = (
    '_, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_post")\n'
    '    return cache["blocks.0.mlp.hook_post"][:, -1, :]'
)
EINSUM = 'coefficients = torch.einsum("ia,abn,jb->ijn", basis, acts, basis).pow(2)'
IDX = "idx = [0, 2 * k - 1, 2 * k]"
CENTRED = "centred = logits.double() - logits.double().mean()"
R2 = "return 1 - ((centred - fit) ** 2).sum().item() / (centred**2).sum().item()"
COS_LOOP = "for k in freqs:\n        wave = torch.cos"
SIN_COS = "            torch.sin(2 * math.pi * k * total / p),\n"
COEFF = 'coefficient = torch.einsum("abc,ab->c", logits.double(), wave) / (wave * wave).sum()'
SORT = "values = x.double().sort().values"
GINI = "return ((2 * i - n - 1) * values).sum().item() / (n * values.sum().item())"
KEEP = "keep[2 * k - 1] = keep[2 * k] = 0"

MUTANTS = [
    # --- 8.1 last_position_loss
    Mutant(
        "check_last_position_loss",
        [(LOGITS, "logits = model(tokens)[:, 0, :]")],
        "loss-first-position",
        hint="first position",
    ),
    Mutant(
        "check_last_position_loss",
        [(CE, 'return F.cross_entropy(logits, labels, reduction="sum")')],
        "loss-sum",
        hint="summing",
    ),
    Mutant(
        "check_last_position_loss",
        [(CE, "return F.cross_entropy(model(tokens).flatten(0, 1), labels.repeat_interleave(3))")],
        "loss-all-positions",
        hint="all three positions",
    ),
    Mutant(
        "check_last_position_loss",
        [(LOGITS, LOGITS + ".detach().requires_grad_()")],
        "loss-detached",
        says="no gradient reaches",
    ),
    Mutant(
        "check_last_position_loss",
        [(CE, "return F.cross_entropy(logits.double(), labels)")],
        "loss-float64",
        says="needs exactly torch.float32",
    ),
    # --- 8.2 weight_norm
    Mutant(
        "check_weight_norm",
        [(NORM, "return sum(value.double().norm().item() for value in state_dict.values())")],
        "weight-norm-sum-of-norms",
        hint="sum of each tensor's norm",
    ),
    Mutant(
        "check_weight_norm",
        [(NORM, "return sum(value.double().pow(2).sum().item() for value in state_dict.values())")],
        "weight-norm-squared",
        hint="squared norm",
    ),
    Mutant(
        "check_weight_norm",
        [(NORM, "return torch.tensor(" + NORM[len("return ") :] + ")")],
        "weight-norm-tensor",
        says="should be exactly a float",
    ),
    Mutant(
        "check_weight_norm",
        [("value.double().pow(2)", "value.abs_().double().pow(2)")],
        "weight-norm-abs-in-place",
        says="in place",
    ),
    # --- 8.3 fourier_basis
    Mutant(
        "check_fourier_basis",
        [(BASIS_RETURN, "return basis.float()")],
        "basis-not-normalised",
        hint="not normalised",
    ),
    Mutant(
        "check_fourier_basis",
        [(WAVES, "torch.cos(k * x / p), torch.sin(k * x / p)")],
        "basis-no-two-pi",
        hint="without the 2 pi",
    ),
    Mutant(
        "check_fourier_basis",
        [(WAVES, "torch.sin(2 * math.pi * k * x / p), torch.cos(2 * math.pi * k * x / p)")],
        "basis-sin-first",
        hint="sin before cos",
    ),
    Mutant(
        "check_fourier_basis",
        [(BASIS_RETURN, "return basis / basis.norm(dim=1, keepdim=True)")],
        "basis-float64",
        says="needs exactly torch.float32",
    ),
    Mutant(
        "check_fourier_basis",
        [
            (
                "x = torch.arange(p, dtype=torch.float64)",
                "p = 59\n    x = torch.arange(p, dtype=torch.float64)",
            )
        ],
        "basis-p-hard-coded",
        says="Case: p 5",
    ),
    # --- 8.4 frequency_norms
    Mutant(
        "check_frequency_norms",
        [(NORMS, NORMS.replace(".sqrt()", ""))],
        "norms-squared",
        hint="squared norms",
    ),
    Mutant(
        "check_frequency_norms",
        [(NORMS, "return coefficients[1::2].pow(2).sum(-1).sqrt()")],
        "norms-cos-only",
        hint="the cos rows only",
    ),
    Mutant(
        "check_frequency_norms",
        [("coefficients = basis @ W", "coefficients = fourier_basis(59) @ W")],
        "norms-basis-hard-coded",
        says="Case: random W, p 7",
    ),
    # --- 8.5 key_frequencies
    Mutant(
        "check_key_frequencies",
        [(KEY, KEY.replace("share[k] > threshold", "share[k] >= threshold"))],
        "key-greater-or-equal",
        hint="`>=`",
    ),
    Mutant(
        "check_key_frequencies",
        [(KEY, KEY.replace("[k + 1 for", "[k for"))],
        "key-zero-based",
        hint="0-based",
    ),
    Mutant(
        "check_key_frequencies",
        [(KEY, KEY.replace("[k + 1 for", "[torch.tensor(k + 1) for"))],
        "key-tensor-elements",
        says="list of Python ints",
    ),
    Mutant(
        "check_key_frequencies",
        [(KEY, KEY.replace("> threshold", "> 0.05"))],
        "key-threshold-hard-coded",
        says="exactly at it",
    ),
    Mutant(
        "check_key_frequencies",
        [("share = norms.pow(2) / norms.pow(2).sum()", "share = norms / norms.sum()")],
        "key-share-of-norms",
        hint="share of the norms",
    ),
    # --- 8.6 neuron_activations
    Mutant(
        "check_neuron_activations",
        [(HOOK, HOOK.replace("hook_post", "hook_pre"))],
        "acts-pre-relu",
        hint="pre-ReLU",
    ),
    Mutant(
        "check_neuron_activations",
        [(HOOK, HOOK.replace("[:, -1, :]", "[:, 0, :]"))],
        "acts-first-position",
        hint="first position",
    ),
    Mutant(
        "check_neuron_activations",
        [(HOOK, HOOK.replace("mlp.hook_post", "hook_resid_post"))],
        "acts-resid-post",
        says="wrong shape",
    ),
    # --- 8.7 frequency_fraction
    Mutant(
        "check_frequency_fraction",
        [("    coefficients[0, 0] = 0\n", "")],
        "fraction-keeps-constant",
        hint="constant-constant",
    ),
    Mutant(
        "check_frequency_fraction",
        [(IDX, "idx = [2 * k - 1, 2 * k]")],
        "fraction-products-only",
        hint="only the products",
    ),
    Mutant(
        "check_frequency_fraction",
        [(EINSUM, "acts.sub_(acts.mean())\n    " + EINSUM)],
        "fraction-centres-acts-in-place",
        says="in place",
    ),
    Mutant(
        "check_frequency_fraction",
        [(IDX, "idx = [0, 1, 2]")],
        "fraction-k-hard-coded",
        says="Case: two neurons periodic in frequency 2",
    ),
    # --- 8.8 logit_variance_explained
    Mutant(
        "check_logit_variance_explained",
        [("k * (a + b - c) / p).double()", "k * (a + b + c) / p).double()")],
        "explained-plus-c",
        hint="a + b + c",
    ),
    Mutant(
        "check_logit_variance_explained",
        [(CENTRED, "centred = logits.double()")],
        "explained-not-centred",
        hint="not subtracting the mean",
    ),
    Mutant(
        "check_logit_variance_explained",
        [(R2, "return 1 - ((centred - fit) ** 2).sum() / (centred**2).sum()")],
        "explained-tensor",
        says="should be exactly a float",
    ),
    Mutant(
        "check_logit_variance_explained",
        [(COS_LOOP, COS_LOOP.replace("freqs", "[1]"))],
        "explained-freqs-hard-coded",
        says="freqs [1, 4]",
    ),
    # --- 8.9 frequency_component
    Mutant(
        "check_frequency_component",
        [(SIN_COS, "")],
        "component-cos-only",
        hint="cos directions only",
    ),
    Mutant(
        "check_frequency_component",
        [(COEFF, COEFF.replace("(wave * wave).sum()", "p**2"))],
        "component-divides-by-p-squared",
        hint="dividing by p^2",
    ),
    Mutant(
        "check_frequency_component",
        [
            (
                "total = (x[:, None] + x[None, :]).double()",
                "total = (x[:, None] - x[None, :]).double()",
            )
        ],
        "component-a-minus-b",
        hint="(a - b)",
    ),
    Mutant(
        "check_frequency_component",
        [("return part.to(logits.dtype)", "return part")],
        "component-float64",
        says="needs exactly torch.float32",
    ),
    # --- 8.10 gini
    Mutant(
        "check_gini", [(SORT, "values = x.double()")], "gini-unsorted", hint="forgetting to sort"
    ),
    Mutant(
        "check_gini",
        [(SORT, "values = x.double().sort(descending=True).values")],
        "gini-descending",
        hint="descending",
    ),
    Mutant(
        "check_gini",
        [(GINI, "return ((2 * i - n - 1) * values).sum() / (n * values.sum())")],
        "gini-tensor",
        says="should be exactly a float",
    ),
    Mutant(
        "check_gini",
        [(GINI, "return 0.0")],
        "gini-constant",
        says="Case: one entry holds everything",
    ),
    Mutant(
        "check_gini",
        [("n = len(values)", "n = len(values)\n    x.div_(x.sum())")],
        "gini-normalises-input-in-place",
        says="in place",
    ),
    # --- 8.11 ablate_frequencies
    Mutant(
        "check_ablate_frequencies",
        [(KEEP, "keep[2 * k - 1] = 0")],
        "ablate-cos-only",
        hint="only the cos",
    ),
    Mutant(
        "check_ablate_frequencies",
        [(KEEP, "keep[k] = 0")],
        "ablate-index-k",
        hint="coefficient k instead",
    ),
    Mutant(
        "check_ablate_frequencies",
        [("return (coefficients * keep) @ basis", "return (coefficients * (1 - keep)) @ basis")],
        "ablate-keeps-only",
        hint="keeping only",
    ),
    Mutant(
        "check_ablate_frequencies",
        [("for k in freqs:\n        keep", "for k in freqs[:1]:\n        keep")],
        "ablate-first-freq-only",
        says="remove [2, 5]",
    ),
]


class TestChapter08Checks(ChapterChecks):
    module = ch08
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_a_check_given_something_else_than_a_function_says_so(bad):
    with pytest.raises(CheckFailed, match="pass your function"):
        ch08.check_gini(bad)
