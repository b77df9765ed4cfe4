"""A green check means a right answer: every chapter-11 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations
(mutants: the solution with one typical mistake edited in, built from
`solutions/11_saes_at_scale.py` by `solution_cells`). That no check changes the global RNG
is the harness's rule (`test_check_leaves_the_global_rng_alone`), for every check.

Issue 14's classes, each with at least one mutant here: an input changed in place
(buffer-shuffles-chunk-in-place, scores-label-in-place, absorption-fires-in-place), right
values with no gradient (batch-topk-detached, jumprelu-no-ste), an argument ignored
(buffer-global-rng, fit-fixed-b, batch-topk-k-hard-coded), a loose type (fit-tensors,
threshold-tensor, absorption-tensor, costs-ints, scores-float64), a boundary (frontier
ties, batch_topk's kept negatives), a constant (threshold-constant).
"""

from __future__ import annotations

import pytest
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import CheckFailed, ch11

STEM = "11_saes_at_scale"

CHECK_ARGS = {
    "check_shuffled_batches": ["shuffled_batches"],
    "check_fit_power_law": ["fit_power_law"],
    "check_pareto_frontier": ["pareto_frontier"],
    "check_detection_scores": ["detection_scores"],
    "check_child_coverage": ["child_coverage"],
    "check_batch_topk": ["batch_topk"],
    "check_batchtopk_threshold": ["batchtopk_threshold"],
    "check_jumprelu": ["jumprelu"],
    "check_step_l0": ["step_l0"],
    "check_absorption_rate": ["absorption_rate"],
    "check_frontier_costs": ["frontier_costs"],
}

SHUFFLE = "buffer = buffer[torch.randperm(len(buffer), generator=generator)]"
LEFTOVER = "yield from buffer[torch.randperm(len(buffer), generator=generator)].split(batch_size)"
CAT = "buffer = chunk if buffer is None else torch.cat([buffer, chunk])"
N_OUT = "n_out = buffer_size // 2 // batch_size * batch_size"
ZOOM = "for _ in range(6):"
FIT_RETURN = "return a, b, c\n"
FRONTIER_IF = "if point[1] < best or point == previous:"
PRECISION = "precision = torch.where(n_fires > 0, hits / n_fires.clamp_min(1), 0.0)"
SCORES_RETURN = "return precision, recall\n"
COVER = "coverage[:, g] = fires[members][:, children].float().mean(0)"
BTOPK = "top = flat.topk(k * pre.shape[0], sorted=False)"
BTOPK_RETURN = "scatter(0, top.indices, top.values.relu()).view_as(pre)"
THRESHOLD = "return sum(code[code > 0].min().item() for code in codes) / len(codes)"
JUMP_GRAD = "grad_threshold = (-(threshold / ctx.bandwidth) * kernel * grad_output).sum(0)"
JUMP_KERNEL = "kernel = ((u > -0.5) & (u < 0.5)).to(pre.dtype)\n            grad_pre"
STEP_GRAD = "return torch.zeros_like(pre), (-(kernel / ctx.bandwidth) * grad_output).sum(0), None"
STEP_RETURN = "return StepFunction.apply(pre, threshold, bandwidth).sum(-1).mean()"
ABSORB = "return (silent & absorbed).float().mean().item()"
FLOPS = "flops = float(tokens) * (4 * d_model * d_sae + 6 * d_model * k)"
PARAMS = '"parameters": float(2 * d_sae * d_model + d_sae + d_model),'

MUTANTS = [
    # --- 11.1 shuffled_batches
    Mutant("check_shuffled_batches", [(SHUFFLE, "pass")], "buffer-no-shuffle", says="stream order"),
    Mutant(
        "check_shuffled_batches",
        [
            (
                CAT,
                "chunk = chunk[torch.randperm(len(chunk), generator=generator)]\n        " + CAT,
            ),
            (SHUFFLE, "pass"),
        ],
        "buffer-shuffles-each-chunk",
        says="does not mix the chunks",
    ),
    Mutant(
        "check_shuffled_batches",
        [("if buffer is not None and len(buffer):", "if False:")],
        "buffer-drops-leftover",
        says="never came out",
    ),
    Mutant(
        "check_shuffled_batches",
        [("for chunk in chunks:", "for chunk in list(chunks):\n        chunks = None")],
        "buffer-reads-everything-first",
        says="one buffer plus one chunk",
    ),
    Mutant(
        "check_shuffled_batches",
        [
            (SHUFFLE, "buffer = buffer[torch.randperm(len(buffer))]"),
            (LEFTOVER, "yield from buffer[torch.randperm(len(buffer))].split(batch_size)"),
        ],
        "buffer-global-rng",
        says="does not use the generator",
    ),
    Mutant(
        "check_shuffled_batches",
        [("while len(buffer) >= buffer_size:", "if len(buffer) >= buffer_size:")],
        "buffer-if-not-while",
        says="a `while`, not an `if`",
    ),
    Mutant(
        "check_shuffled_batches",
        [(N_OUT, "n_out = buffer_size // 2")],
        "buffer-half-not-whole-batches",
        says="every batch but the last",
    ),
    Mutant(
        "check_shuffled_batches",
        [("buffer = buffer[n_out:]", "buffer = buffer[n_out - 1 :]")],
        "buffer-repeats-a-row",
        says="came out twice",
    ),
    Mutant(
        "check_shuffled_batches",
        [(CAT, "chunk.mul_(2)\n        " + CAT)],
        "buffer-shuffles-chunk-in-place",
        says="in place",
    ),
    # --- 11.2 fit_power_law
    Mutant(
        "check_fit_power_law", [(ZOOM, "for _ in range(1):")], "fit-coarse-grid", hint="coarse grid"
    ),
    Mutant(
        "check_fit_power_law",
        [
            (
                FIT_RETURN,
                "lx, ly = x.log(), loss.log()\n    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum()"
                " / ((lx - lx.mean()) ** 2).sum()\n    return math.exp((ly.mean() - slope * lx.mean())"
                ".item()), -slope.item(), 0.0\n",
            )
        ],
        "fit-no-floor",
        hint="pure power law",
    ),
    Mutant(
        "check_fit_power_law",
        [(FIT_RETURN, "return a, 0.5, c\n")],
        "fit-fixed-b",
        says="fitted curve",
    ),
    Mutant(
        "check_fit_power_law",
        [(FIT_RETURN, "return torch.tensor(a), torch.tensor(b), torch.tensor(c)\n")],
        "fit-tensors",
        says="the chapter relies on that type",
    ),
    Mutant(
        "check_fit_power_law",
        [(FIT_RETURN, "return [a, b, c]\n")],
        "fit-list",
        says="exactly a tuple",
    ),
    # --- 11.3 pareto_frontier
    Mutant(
        "check_pareto_frontier",
        [(FRONTIER_IF, "if point[1] < best:")],
        "frontier-duplicate-dominates",
        says="Case: ties",
    ),
    Mutant(
        "check_pareto_frontier",
        [(FRONTIER_IF, "if point[1] <= best:")],
        "frontier-ties-kept",
        says="Case: ties",
    ),
    Mutant(
        "check_pareto_frontier",
        [("return keep\n", "return ~keep\n")],
        "frontier-reversed",
        hint="the reverse",
    ),
    Mutant(
        "check_pareto_frontier",
        [("return keep\n", "return keep.long()\n")],
        "frontier-int",
        says="the chapter needs exactly torch.bool",
    ),
    # --- 11.4 detection_scores
    Mutant(
        "check_detection_scores",
        [(SCORES_RETURN, "return recall, precision\n")],
        "scores-swapped",
        hint="swapping precision and recall",
    ),
    Mutant(
        "check_detection_scores",
        [(PRECISION, "precision = hits / n_fires")],
        "scores-nan-for-silent-latents",
        says="NaN",
    ),
    Mutant(
        "check_detection_scores",
        [(PRECISION, "precision = hits / len(fires)")],
        "scores-over-all-tokens",
        hint="number of tokens",
    ),
    Mutant(
        "check_detection_scores",
        [(SCORES_RETURN, "return precision.double(), recall\n")],
        "scores-float64",
        says="needs exactly torch.float32",
    ),
    Mutant(
        "check_detection_scores",
        [
            (
                "hits = (fires & label[:, None])",
                "label[0] = ~label[0]\n    hits = (fires & label[:, None])",
            )
        ],
        "scores-label-in-place",
        says="in place",
    ),
    # --- 11.5 child_coverage
    Mutant(
        "check_child_coverage",
        [
            (
                COVER,
                "coverage[:, g] = fires[members][:, children].float().sum(0) / fires[:, children].float().sum(0).clamp_min(1)",
            )
        ],
        "coverage-precision",
        hint="precision per group",
    ),
    Mutant(
        "check_child_coverage",
        [
            (
                COVER,
                "coverage[:, g] = fires[members][:, children].float().sum(0) / (groups >= 0).sum()",
            )
        ],
        "coverage-over-concept",
        hint="all the concept's tokens",
    ),
    Mutant(
        "check_child_coverage",
        [("for g in range(n_groups):", "for g in range(n_groups - 1):")],
        "coverage-last-group-missed",
        says="wrong values",
    ),
    # --- 11.6 batch_topk
    Mutant(
        "check_batch_topk",
        [(BTOPK, "top = flat.topk(k, sorted=False)")],
        "batch-topk-k-not-k-batch",
        hint="k entries in the whole batch",
    ),
    Mutant(
        "check_batch_topk",
        [(BTOPK_RETURN, "scatter(0, top.indices, top.values).view_as(pre)")],
        "batch-topk-no-relu",
        hint="forgetting the ReLU",
    ),
    Mutant(
        "check_batch_topk",
        [
            (
                "flat = pre.flatten()\n    top = flat.topk(k * pre.shape[0], sorted=False)\n",
                "top = pre.topk(k, dim=-1)\n    return torch.zeros_like(pre).scatter(-1, top.indices,"
                " top.values.relu())\n    flat = pre.flatten()\n",
            )
        ],
        "batch-topk-per-row",
        hint="TopK per row",
    ),
    Mutant(
        "check_batch_topk",
        [(BTOPK_RETURN, "scatter(0, top.indices, top.values.relu()).view_as(pre).detach()")],
        "batch-topk-detached",
        says="carries no gradient",
    ),
    Mutant(
        "check_batch_topk",
        [(BTOPK, "top = flat.topk(2 * pre.shape[0], sorted=False)")],
        "batch-topk-k-hard-coded",
        says="wrong values",
    ),
    # --- 11.7 batchtopk_threshold
    Mutant(
        "check_batchtopk_threshold",
        [(THRESHOLD, "return sum(code[code > 0].mean().item() for code in codes) / len(codes)")],
        "threshold-mean-of-means",
        hint="mean of all the positive",
    ),
    Mutant(
        "check_batchtopk_threshold",
        [(THRESHOLD, "return min(code[code > 0].min().item() for code in codes)")],
        "threshold-global-min",
        hint="all batches together",
    ),
    Mutant(
        "check_batchtopk_threshold",
        [(THRESHOLD, "return sum(code.min().item() for code in codes) / len(codes)")],
        "threshold-zeros-included",
        hint="zeros included",
    ),
    Mutant(
        "check_batchtopk_threshold",
        [(THRESHOLD, "return torch.tensor([code[code > 0].min() for code in codes]).mean()")],
        "threshold-tensor",
        says="the chapter relies on that type",
    ),
    Mutant(
        "check_batchtopk_threshold", [(THRESHOLD, "return 0.5")], "threshold-constant", says="Case:"
    ),
    # --- 11.8 jumprelu
    Mutant(
        "check_jumprelu",
        [(JUMP_GRAD, "grad_threshold = (-(1 / ctx.bandwidth) * kernel * grad_output).sum(0)")],
        "jumprelu-step-derivative",
        hint="without the factor threshold",
    ),
    Mutant(
        "check_jumprelu",
        [
            (
                JUMP_GRAD,
                "grad_threshold = ((threshold / ctx.bandwidth) * kernel * grad_output).sum(0)",
            )
        ],
        "jumprelu-sign",
        hint="opposite sign",
    ),
    Mutant(
        "check_jumprelu",
        [(JUMP_KERNEL, "kernel = ((u > -1) & (u < 1)).to(pre.dtype)\n            grad_pre")],
        "jumprelu-wide-kernel",
        hint="twice as wide",
    ),
    Mutant(
        "check_jumprelu",
        [("return grad_pre, grad_threshold, None", "return grad_pre, None, None")],
        "jumprelu-no-ste",
        hint="no gradient to the threshold",
    ),
    Mutant(
        "check_jumprelu",
        [("return pre * (pre > threshold)", "return (pre - threshold) * (pre > threshold)")],
        "jumprelu-shifted",
        hint="shifted by the threshold",
    ),
    Mutant(
        "check_jumprelu",
        [("grad_pre = (pre > threshold) * grad_output", "grad_pre = grad_output")],
        "jumprelu-pre-gradient-everywhere",
        says="w.r.t. `pre`",
    ),
    Mutant(
        "check_jumprelu",
        [(JUMP_GRAD, "grad_threshold = (-(threshold / ctx.bandwidth) * kernel).sum(0)")],
        "jumprelu-no-grad-output",
        hint="forgetting to multiply by grad_output",
    ),
    Mutant(
        "check_jumprelu",
        [
            (
                JUMP_GRAD,
                "grad_threshold = (-(threshold / ctx.bandwidth) * kernel * grad_output).mean(0)",
            )
        ],
        "jumprelu-mean-not-sum",
        hint="the mean over the batch, not the sum",
    ),
    # --- 11.9 step_l0
    Mutant(
        "check_step_l0",
        [
            (
                STEP_GRAD,
                "return torch.zeros_like(pre), (-(kernel / ctx.bandwidth) * grad_output).sum(0) * len(pre), None",
            )
        ],
        "l0-gradient-summed-not-averaged",
        hint="the sum over the batch, not the mean",
    ),
    Mutant(
        "check_step_l0",
        [(STEP_RETURN, "return StepFunction.apply(pre, threshold, bandwidth).sum()")],
        "l0-sum-not-mean",
        hint="sum over the whole batch",
    ),
    Mutant(
        "check_step_l0",
        [(STEP_RETURN, "return StepFunction.apply(pre, threshold, bandwidth).mean()")],
        "l0-mean-over-entries",
        hint="mean over every entry",
    ),
    Mutant(
        "check_step_l0",
        [
            (
                STEP_GRAD,
                "return torch.zeros_like(pre), (-(threshold / ctx.bandwidth) * kernel * grad_output).sum(0), None",
            )
        ],
        "l0-jumprelu-derivative",
        hint="JumpReLU's pseudo-derivative",
    ),
    Mutant(
        "check_step_l0",
        [
            (
                STEP_GRAD,
                "return -(kernel / ctx.bandwidth) * grad_output, (-(kernel / ctx.bandwidth) * grad_output).sum(0), None",
            )
        ],
        "l0-gradient-to-pre",
        says="gradient flows from the L0 back into pre",
    ),
    Mutant(
        "check_step_l0",
        [
            (
                STEP_GRAD,
                "return torch.zeros_like(pre), ((kernel / ctx.bandwidth) * grad_output).sum(0), None",
            )
        ],
        "l0-sign",
        hint="opposite sign",
    ),
    # --- 11.10 absorption_rate
    Mutant(
        "check_absorption_rate",
        [(ABSORB, "return (silent & absorbed).float().sum().item() / silent.sum().item()")],
        "absorption-over-silent",
        hint="where the general latent is silent",
    ),
    Mutant(
        "check_absorption_rate",
        [(ABSORB, "return absorbed.float().mean().item()")],
        "absorption-general-firing-counted",
        hint="general latent fires too",
    ),
    Mutant(
        "check_absorption_rate",
        [(ABSORB, "return (silent & absorbed).float().sum().item() / len(fires)")],
        "absorption-over-all-tokens",
        hint="every token",
    ),
    Mutant(
        "check_absorption_rate",
        [(ABSORB, "return (silent & absorbed).float().mean()")],
        "absorption-tensor",
        says="the chapter relies on that type",
    ),
    Mutant(
        "check_absorption_rate",
        [
            (
                "silent = ~fires[label, general]",
                "fires[:, general] &= label\n    silent = ~fires[label, general]",
            )
        ],
        "absorption-fires-in-place",
        says="in place",
    ),
    # --- 11.11 frontier_costs
    Mutant(
        "check_frontier_costs",
        [(PARAMS, '"parameters": float(2 * d_sae * d_model),')],
        "costs-no-biases",
        hint="no biases",
    ),
    Mutant(
        "check_frontier_costs",
        [(FLOPS, "flops = float(tokens) * 12 * d_model * d_sae")],
        "costs-dense-decoder",
        hint="dense decoder",
    ),
    Mutant(
        "check_frontier_costs",
        [("flops / flops_per_second / 3600,", "flops / flops_per_second,")],
        "costs-seconds",
        hint="seconds, not hours",
    ),
    Mutant(
        "check_frontier_costs",
        [
            (
                '"activation_bytes": float(tokens * d_model * bytes_per_value),',
                '"activation_bytes": float(tokens * d_model * 4),',
            )
        ],
        "costs-float32-activations",
        hint="float32 whatever",
    ),
    Mutant(
        "check_frontier_costs",
        [
            (
                '"decoder_bytes": float(d_sae * d_model * bytes_per_value),',
                '"decoder_bytes": d_sae * d_model * bytes_per_value,',
            )
        ],
        "costs-ints",
        says="the chapter relies on that type",
    ),
]


class TestChapter11Checks(ChapterChecks):
    module = ch11
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_a_check_given_something_else_than_a_function_says_so(bad):
    with pytest.raises(CheckFailed, match="pass your function"):
        ch11.check_batch_topk(bad)
