"""A green check means a right answer: every chapter-09 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The mutants are the solution with one typical mistake edited in (see `solution_cells`).
Issue 14's classes, each with at least one mutant here: an input changed in place
(rate-argmax-in-place, classes-multiply-in-place, edit-normalises-W-in-place), right values
with no gradient (probe-loss-detached), an argument hard-coded (classes-relative-ignored,
edit-last-token-hard-coded-hook, neuron-layer-hard-coded, mlp-n-class-hard-coded), a loose
type (rate-tensor, classes-int8, accuracy-float64, balanced-float64, errors-float), a
boundary (balanced-no-nan, top-n-plus-one), a hook left attached (edit-hook-left-on).
No exercise of this chapter samples, so the statistics class has nothing to test.
"""

from __future__ import annotations

import pytest
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import CheckFailed, ch09

STEM = "09_world_model"

CHECK_ARGS = {
    "check_legal_top1_rate": ["legal_top1_rate"],
    "check_board_classes": ["board_classes"],
    "check_probe_loss": ["probe_loss"],
    "check_square_accuracy": ["square_accuracy"],
    "check_mlp_probe": ["MLPProbe"],
    "check_balanced_accuracy": ["balanced_accuracy"],
    "check_edit_vector": ["edit_vector"],
    "check_logits_with_edit": ["logits_with_edit"],
    "check_top_n_errors": ["top_n_errors"],
    "check_neuron_correlation": ["neuron_correlation"],
    "check_logits_with_neuron_set": ["logits_with_neuron_set"],
}

RATE = "return hits[valid].float().mean().item()"
TOP = "top = logits.argmax(-1, keepdim=True)"
STATES = "states = boards.long().flatten(-2)"
REL = "states = states * players.long()[..., None]"
CLASSES = "return torch.where(states == 1, 1, torch.where(states == -1, 2, 0))"
PLOGITS = 'logits = torch.einsum("nd,dsc->nsc", acts, W) + b\n    return F.cross_entropy'
PCE = "return F.cross_entropy(logits.flatten(0, 1), labels.flatten())"
PRED = 'predicted = (torch.einsum("nd,dsc->nsc", acts, W) + b).argmax(-1)'
ACC = "return (predicted == labels).float().mean(0)"
MLP_OUT = "self.out = nn.Linear(d_hidden, n_square * n_class)"
MLP_FWD = "return self.out(F.relu(self.hidden(acts))).view(-1, *self.shape)"
BAL_PRED = "predicted = scores > 0"
BAL_TPR = "tpr = (predicted & targets).sum(0) / positives"
BAL_RES = "result = (tpr + tnr) / 2"
BAL_RET = "return torch.where((positives > 0) & (negatives > 0), result, torch.nan).float()"
DIR = "direction = W[:, square, to_class] - W[:, square, from_class]"
EDIT_RET = "return scale * direction / direction.norm()"
ADD = "resid[:, -1] += vectors"
N = "n = legal.sum(-1)"
IN_TOP = "in_top = ranks < n[:, None]"
ERR = "return (in_top & ~legal).sum(-1)"
CENTRE = "a = acts.double() - acts.double().mean(0)"
R = "r = (a * f[:, None]).sum(0) / denominator"
CORR_RET = "return torch.where(denominator > 0, r, 0.0).float()"
SET = "post[..., neuron] = value"
HOOK_POST = 'fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", set_neuron)]'

MUTANTS = [
    # --- 9.1 legal_top1_rate
    Mutant(
        "check_legal_top1_rate",
        [(RATE, "return hits.float().mean().item()")],
        "rate-counts-padding",
        hint="padded positions",
    ),
    Mutant(
        "check_legal_top1_rate",
        [(TOP, "top = logits.argmin(-1, keepdim=True)")],
        "rate-argmin",
        hint="argmin",
    ),
    Mutant(
        "check_legal_top1_rate",
        [(RATE, "return hits[valid].float().mean()")],
        "rate-tensor",
        says="exactly a float (the chapter relies",
    ),
    Mutant(
        "check_legal_top1_rate",
        [(TOP, "top = logits.sub_(1).argmax(-1, keepdim=True)")],
        "rate-argmax-in-place",
        says="in place",
    ),
    # --- 9.2 board_classes
    Mutant(
        "check_board_classes",
        [(REL, "pass")],
        "classes-relative-ignored",
        hint="the other basis",
    ),
    Mutant(
        "check_board_classes",
        [(CLASSES, "return torch.where(states == 1, 2, torch.where(states == -1, 1, 0))")],
        "classes-swapped",
        hint="1 and 2 swapped",
    ),
    Mutant(
        "check_board_classes",
        [(CLASSES, "return states")],
        "classes-raw-values",
        hint="raw board values",
    ),
    Mutant(
        "check_board_classes",
        [(CLASSES, CLASSES + ".to(torch.int8)")],
        "classes-int8",
        says="needs exactly torch.int64",
    ),
    Mutant(
        "check_board_classes",
        [(STATES, "states = boards.abs_().long().flatten(-2)")],
        "classes-multiply-in-place",
        says="in place",
    ),
    # --- 9.3 probe_loss
    Mutant(
        "check_probe_loss",
        [
            (
                PCE,
                'return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")'
                ".view(len(acts), -1).sum(-1).mean()",
            )
        ],
        "probe-loss-sum-squares",
        hint="summing over squares",
    ),
    Mutant(
        "check_probe_loss",
        [(PLOGITS, 'logits = torch.einsum("nd,dsc->nsc", acts, W)\n    return F.cross_entropy')],
        "probe-loss-no-bias",
        hint="leaving out the bias",
    ),
    Mutant(
        "check_probe_loss",
        [
            (
                PCE,
                "return F.binary_cross_entropy_with_logits(logits, F.one_hot(labels, W.shape[-1]).float())",
            )
        ],
        "probe-loss-bce",
        hint="binary cross-entropy",
    ),
    Mutant(
        "check_probe_loss",
        [(PCE, "return F.cross_entropy(logits.flatten(0, 1).detach(), labels.flatten())")],
        "probe-loss-detached",
        says="carries no gradient",
    ),
    # --- 9.4 square_accuracy
    Mutant(
        "check_square_accuracy",
        [(ACC, "return (predicted == labels).float().mean(1)")],
        "accuracy-per-position",
        hint="averaging over squares",
    ),
    Mutant(
        "check_square_accuracy",
        [(PRED, PRED.replace("argmax", "argmin"))],
        "accuracy-argmin",
        hint="argmin",
    ),
    Mutant(
        "check_square_accuracy",
        [(PRED, 'predicted = torch.einsum("nd,dsc->nsc", acts, W).argmax(-1)')],
        "accuracy-no-bias",
        hint="leaving out the bias",
    ),
    Mutant(
        "check_square_accuracy",
        [(ACC, "return (predicted == labels).double().mean(0)")],
        "accuracy-float64",
        says="needs exactly torch.float32",
    ),
    # --- 9.5 MLPProbe
    Mutant(
        "check_mlp_probe",
        [(MLP_FWD, "return self.out(self.hidden(acts)).view(-1, *self.shape)")],
        "mlp-no-relu",
        hint="no ReLU",
    ),
    Mutant(
        "check_mlp_probe",
        [
            (
                MLP_FWD,
                "return self.out(F.relu(self.hidden(acts))).view(-1, self.shape[1], self.shape[0]).transpose(1, 2)",
            )
        ],
        "mlp-transposed",
        hint="transposing",
    ),
    Mutant(
        "check_mlp_probe",
        [(MLP_FWD, "return F.relu(self.out(F.relu(self.hidden(acts)))).view(-1, *self.shape)")],
        "mlp-relu-on-output",
        hint="ReLU on the output",
    ),
    Mutant(
        "check_mlp_probe",
        [(MLP_OUT, "self.out = nn.Linear(d_hidden, n_square * 3)")],
        "mlp-n-class-hard-coded",
        says="nn.Linear with weight of shape",
    ),
    # --- 9.6 balanced_accuracy
    Mutant(
        "check_balanced_accuracy",
        [(BAL_RES, "result = (predicted == targets).float().mean(0)")],
        "balanced-plain-accuracy",
        hint="plain accuracy",
    ),
    Mutant(
        "check_balanced_accuracy",
        [(BAL_RES, "result = tpr")],
        "balanced-tpr-only",
        hint="true-positive rate alone",
    ),
    Mutant(
        "check_balanced_accuracy",
        [(BAL_PRED, "predicted = scores >= 0.5")],
        "balanced-cut-at-half",
        hint="scores >= 0.5",
    ),
    Mutant(
        "check_balanced_accuracy",
        [
            (BAL_TPR, BAL_TPR.replace("/ positives", "/ positives.clamp(min=1)")),
            (BAL_RET, "return result.float()"),
        ],
        "balanced-no-nan",
        says="NaN",
    ),
    Mutant(
        "check_balanced_accuracy",
        [(BAL_RET, BAL_RET.replace(".float()", ".double()"))],
        "balanced-float64",
        says="needs exactly torch.float32",
    ),
    # --- 9.7 edit_vector
    Mutant(
        "check_edit_vector",
        [(DIR, "direction = W[:, square, from_class] - W[:, square, to_class]")],
        "edit-reversed",
        hint="reversed",
    ),
    Mutant(
        "check_edit_vector",
        [(EDIT_RET, "return scale * direction")],
        "edit-not-normalised",
        hint="not normalising",
    ),
    Mutant(
        "check_edit_vector",
        [(EDIT_RET, "return direction / direction.norm()")],
        "edit-no-scale",
        hint="forgetting the scale",
    ),
    Mutant(
        "check_edit_vector",
        [(DIR, "direction = W.div_(W.norm())[:, square, to_class] - W[:, square, from_class]")],
        "edit-normalises-W-in-place",
        says="in place",
    ),
    # --- 9.8 logits_with_edit
    Mutant(
        "check_logits_with_edit",
        [(ADD, "resid += vectors[:, None, :]")],
        "edit-every-position",
        hint="every position",
    ),
    Mutant(
        "check_logits_with_edit",
        [(ADD, "resid[:, 0] += vectors")],
        "edit-first-position",
        hint="first position",
    ),
    Mutant(
        "check_logits_with_edit",
        [("fwd_hooks=[(hook_name, add)]", 'fwd_hooks=[("blocks.0.hook_resid_post", add)]')],
        "edit-last-token-hard-coded-hook",
        says="wrong values",
    ),
    Mutant(
        "check_logits_with_edit",
        [
            (
                "return model.run_with_hooks(tokens, fwd_hooks=[(hook_name, add)])[:, -1]",
                "model.add_hook(hook_name, add)\n        return model(tokens)[:, -1]",
            )
        ],
        "edit-hook-left-on",
        says="still attached",
    ),
    # --- 9.9 top_n_errors
    Mutant(
        "check_top_n_errors",
        [("ranks = logits.argsort(-1, descending=True)", "ranks = logits.argsort(-1)")],
        "top-n-lowest",
        hint="lowest logits",
    ),
    Mutant(
        "check_top_n_errors",
        [(ERR, "return (in_top & legal).sum(-1)")],
        "top-n-hits",
        hint="hits, not errors",
    ),
    Mutant(
        "check_top_n_errors",
        [(ERR, "return (in_top ^ legal).sum(-1)")],
        "top-n-symmetric",
        hint="outside the top n",
    ),
    Mutant(
        "check_top_n_errors",
        [(IN_TOP, "in_top = ranks <= n[:, None]")],
        "top-n-plus-one",
        hint="the top n + 1",
    ),
    Mutant(
        "check_top_n_errors",
        [(ERR, "return (in_top & ~legal).sum(-1).float()")],
        "errors-float",
        says="expected torch.int64",
    ),
    # --- 9.10 neuron_correlation
    Mutant(
        "check_neuron_correlation",
        [(R, "r = (a * f[:, None]).mean(0)")],
        "corr-covariance",
        hint="covariance",
    ),
    Mutant(
        "check_neuron_correlation",
        [
            (CENTRE, "a = acts.double()"),
            ("f = feature.double() - feature.double().mean()", "f = feature.double()"),
        ],
        "corr-not-centred",
        hint="cosine similarity",
    ),
    Mutant(
        "check_neuron_correlation",
        [(CORR_RET, "return r.float()")],
        "corr-nan-for-constant",
        says="NaN",
    ),
    # --- 9.11 logits_with_neuron_set
    Mutant(
        "check_logits_with_neuron_set",
        [(HOOK_POST, HOOK_POST.replace("hook_post", "hook_pre"))],
        "neuron-hook-pre",
        hint="hook_pre",
    ),
    Mutant(
        "check_logits_with_neuron_set",
        [(SET, "post[..., neuron] = 0.0")],
        "neuron-zero",
        hint="to 0 instead of value",
    ),
    Mutant(
        "check_logits_with_neuron_set",
        [(HOOK_POST, 'fwd_hooks=[("blocks.0.mlp.hook_post", set_neuron)]')],
        "neuron-layer-hard-coded",
        says="wrong values",
    ),
]


class TestChapter09Checks(ChapterChecks):
    module = ch09
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_a_check_given_something_else_than_a_function_says_so(bad):
    with pytest.raises(CheckFailed, match="pass your function"):
        ch09.check_top_n_errors(bad)
