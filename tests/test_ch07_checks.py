"""A green check means a right answer: every chapter-07 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/07_lenses_and_probes.py` by `solution_cells`, so they follow the
solution as it changes; an edit that stops matching the solution fails loudly. The classes
of issue 14 each have mutants: a wrong value whose mistake is named (most), a parameter
ignored (positions, l2, kl_weight), a wrong dtype or Python type (answer_rank, the probes'
thresholds, control_labels, top_k_latents), a case at a threshold (ties in answer_rank), a
sampled quantity not tied to its generator (control_labels), and a loss whose gradient is
wrong or missing (tuned_lens_loss, obfuscation_loss).
"""

from __future__ import annotations

from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import ch07

STEM = "07_lenses_and_probes"

CHECK_ARGS = {
    "check_residual_stack": ["residual_stack"],
    "check_logit_lens": ["logit_lens"],
    "check_answer_rank": ["answer_rank"],
    "check_kl_to_final": ["kl_to_final"],
    "check_tuned_lens_loss": ["tuned_lens_loss"],
    "check_diff_of_means_probe": ["diff_of_means_probe"],
    "check_fit_logistic_probe": ["fit_logistic_probe"],
    "check_control_labels": ["control_labels"],
    "check_push_last_position": ["push_last_position"],
    "check_top_k_latents": ["top_k_latents"],
    "check_obfuscation_loss": ["obfuscation_loss"],
}

STACK = "return torch.stack([cache[name][rows, positions] for name in names])"
PRE = 'names = [get_act_name("resid_pre", layer) for layer in range(n_layers)]'
LENS = "return model.unembed(model.ln_final(resid)).log_softmax(dim=-1)"
RANK = "return (log_probs > answer).sum(dim=-1)"
KL = "return (final_log_probs.exp() * (final_log_probs - lens_log_probs)).sum(dim=-1).mean(dim=-1)"
TUNED = "lens = logit_lens(model, resid + translator(resid))  # [batch d_vocab]"
TUNED_KL = "return (final_log_probs.exp() * (final_log_probs - lens)).sum(dim=-1).mean()"
DOM = "direction = positive - negative"
DOM_RETURN = "return direction, (direction @ (positive + negative) / 2).item()"
BCE = "F.binary_cross_entropy_with_logits(acts @ w + b, labels.float()) + l2 * w.pow(2).sum()"
TABLE = "table = torch.rand(vocab_size, generator=generator) < 0.5  # [vocab_size]"
PUSH = "push[:, -1] = alpha * direction / direction.norm()"
GAP = "return gap.abs().topk(k).indices"
EVASION = "evasion = F.softplus(probe_logits).mean()"
KL_NEW = "kl = (reference.exp() * (reference - new)).sum(dim=-1).mean()"
OBF_RETURN = "return evasion + kl_weight * kl"

MUTANTS = [
    # --- 7.1 residual_stack
    Mutant(
        "check_residual_stack",
        [(STACK, "return torch.stack([cache[name][:, -1] for name in names])")],
        "stack-ignores-positions",
        hint="the last position of every prompt",
    ),
    Mutant(
        "check_residual_stack",
        [(PRE, 'names = [get_act_name("resid_post", layer) for layer in range(n_layers)]')],
        "stack-resid-post",
        hint="resid_post of every layer",
    ),
    Mutant(
        "check_residual_stack",
        [(PRE, 'names = [get_act_name("resid_mid", layer) for layer in range(n_layers)]')],
        "stack-resid-mid",
        hint="resid_mid instead of resid_pre",
    ),
    Mutant(
        "check_residual_stack",
        [('    names.append(get_act_name("resid_post", n_layers - 1))\n', "")],
        "stack-no-final",
        "n_layers + 1",
    ),
    Mutant(
        "check_residual_stack",
        [
            (
                '    n_layers = model.cfg.n_layers\n    names = [get_act_name("resid_pre"',
                '    n_layers = 4\n    names = [get_act_name("resid_pre"',
            )
        ],
        "stack-four-layers-hard-coded",
        "raised",
    ),
    # --- 7.2 logit_lens
    Mutant(
        "check_logit_lens",
        [(LENS, "return model.unembed(resid).log_softmax(dim=-1)")],
        "lens-no-ln-final",
        hint="without ln_final",
    ),
    Mutant(
        "check_logit_lens",
        [(LENS, "return model.unembed(model.ln_final(resid))")],
        "lens-logits",
        hint="logits instead",
    ),
    Mutant(
        "check_logit_lens",
        [(LENS, "return model.unembed(model.ln_final(resid)).softmax(dim=-1)")],
        "lens-probs",
        hint="probabilities instead",
    ),
    Mutant(
        "check_logit_lens",
        [(LENS, "return (model.ln_final(resid) @ model.W_U).log_softmax(dim=-1)")],
        "lens-no-bias",
        hint="without the bias",
    ),
    # --- 7.3 answer_rank (a threshold: ties)
    Mutant(
        "check_answer_rank",
        [(RANK, "return (log_probs >= answer).sum(dim=-1)")],
        "rank-ties-count",
        hint="ties",
    ),
    Mutant(
        "check_answer_rank",
        [(RANK, "return (log_probs < answer).sum(dim=-1)")],
        "rank-below",
        hint="below the answer",
    ),
    Mutant(
        "check_answer_rank",
        [(RANK, "return (log_probs > answer).sum(dim=-1) + 1")],
        "rank-from-one",
        hint="starting at 1",
    ),
    Mutant(
        "check_answer_rank",
        [(RANK, "return (log_probs > answer).float().sum(dim=-1)")],
        "rank-float",
        "torch.int64",
    ),
    # --- 7.4 kl_to_final
    Mutant(
        "check_kl_to_final",
        [
            (
                KL,
                "return (lens_log_probs.exp() * (lens_log_probs - final_log_probs))"
                ".sum(dim=-1).mean(dim=-1)",
            )
        ],
        "kl-swapped",
        hint="swapped",
    ),
    Mutant(
        "check_kl_to_final",
        [
            (
                KL,
                "return (final_log_probs.exp() * (final_log_probs - lens_log_probs))"
                ".sum(dim=-1).sum(dim=-1)",
            )
        ],
        "kl-sum-batch",
        hint="summing over the batch",
    ),
    Mutant(
        "check_kl_to_final",
        [(KL, "return -(final_log_probs.exp() * lens_log_probs).sum(dim=-1).mean(dim=-1)")],
        "kl-cross-entropy",
        hint="cross-entropy",
    ),
    # --- 7.5 tuned_lens_loss (gradients)
    Mutant(
        "check_tuned_lens_loss",
        [(TUNED, "lens = logit_lens(model, translator(resid))")],
        "tuned-no-residual",
        hint="without adding resid",
    ),
    Mutant(
        "check_tuned_lens_loss",
        [(TUNED, "lens = model.unembed(resid + translator(resid)).log_softmax(-1)")],
        "tuned-no-ln-final",
        hint="leaving out ln_final",
    ),
    Mutant(
        "check_tuned_lens_loss",
        [(TUNED_KL, "return (lens.exp() * (lens - final_log_probs)).sum(dim=-1).mean()")],
        "tuned-kl-swapped",
        hint="swapped",
    ),
    Mutant(
        "check_tuned_lens_loss",
        [
            (
                TUNED_KL,
                "return (final_log_probs.exp() * (final_log_probs - lens))"
                ".sum(dim=-1).mean().detach()",
            )
        ],
        "tuned-detached",
        "no gradient",
    ),
    Mutant(
        "check_tuned_lens_loss",
        [(TUNED, "lens = logit_lens(model, resid + translator(resid).detach())")],
        "tuned-gradient-cut",
        "no gradient",
    ),
    # --- 7.6 diff_of_means_probe
    Mutant(
        "check_diff_of_means_probe",
        [(DOM, "direction = negative - positive")],
        "dom-sign",
        hint="sign flipped",
    ),
    Mutant(
        "check_diff_of_means_probe",
        [(DOM, "direction = (positive - negative) / (positive - negative).norm()")],
        "dom-normalized",
        hint="normalizing",
    ),
    Mutant(
        "check_diff_of_means_probe",
        [(DOM_RETURN, "return direction, 0.0")],
        "dom-threshold-zero",
        hint="a threshold of 0",
    ),
    Mutant(
        "check_diff_of_means_probe",
        [(DOM_RETURN, "return direction, (direction @ acts.mean(dim=0)).item()")],
        "dom-overall-mean",
        hint="overall mean",
    ),
    Mutant(
        "check_diff_of_means_probe",
        [(DOM_RETURN, "return direction, direction @ (positive + negative) / 2")],
        "dom-threshold-tensor",
        "Python float",
    ),
    # --- 7.7 fit_logistic_probe (a parameter ignored)
    Mutant(
        "check_fit_logistic_probe",
        [(BCE, BCE.replace("l2 * w", "1e-3 * w"))],
        "logistic-ignores-l2",
        hint="ignoring l2",
    ),
    Mutant(
        "check_fit_logistic_probe",
        [(BCE, BCE.replace("l2 * w", "l2 / 2 * w"))],
        "logistic-half-penalty",
        hint="l2/2",
    ),
    Mutant(
        "check_fit_logistic_probe",
        [(BCE, BCE.replace("labels.float()", "(~labels).float()"))],
        "logistic-flipped",
        hint="labels flipped",
    ),
    Mutant(
        "check_fit_logistic_probe",
        [("return w.detach(), b.item()", "return w, b.item()")],
        "logistic-not-detached",
        "require gradients",
    ),
    Mutant(
        "check_fit_logistic_probe",
        [("max_iter=steps,", "max_iter=3,")],
        "logistic-too-few-steps",
        "gradient",
    ),
    # --- 7.8 control_labels (a sampled quantity)
    Mutant(
        "check_control_labels",
        [
            (
                TABLE + "\n    return table[word_ids]",
                "return torch.rand(len(word_ids), generator=generator) < 0.5",
            )
        ],
        "control-per-example",
        hint="one random draw per example",
    ),
    Mutant(
        "check_control_labels",
        [(TABLE, "table = torch.rand(vocab_size, generator=generator) > 0.5")],
        "control-flipped",
        hint="> 0.5",
    ),
    Mutant(
        "check_control_labels",
        [
            (
                TABLE,
                "table = torch.rand(vocab_size, generator=torch.Generator().manual_seed(0)) < 0.5",
            )
        ],
        "control-fresh-generator",
    ),
    Mutant(
        "check_control_labels",
        [("    return table[word_ids]\n", "    return table[word_ids].long()\n")],
        "control-long",
        "torch.bool",
    ),
    # --- 7.9 push_last_position
    Mutant(
        "check_push_last_position",
        [(PUSH, "push[:] = alpha * direction / direction.norm()")],
        "push-everywhere",
        hint="every position",
    ),
    Mutant(
        "check_push_last_position",
        [(PUSH, "push[:, -1] = alpha * direction")],
        "push-unnormalized",
        hint="without normalizing",
    ),
    Mutant(
        "check_push_last_position",
        [(PUSH, "push[:, 0] = alpha * direction / direction.norm()")],
        "push-first",
        hint="the first position",
    ),
    Mutant(
        "check_push_last_position",
        [("    return resid + push\n", "    resid += push\n    return resid\n")],
        "push-in-place",
        "in place",
    ),
    # --- 7.10 top_k_latents
    Mutant(
        "check_top_k_latents",
        [(GAP, "return gap.topk(k).indices")],
        "topk-signed",
        hint="signed difference",
    ),
    Mutant(
        "check_top_k_latents",
        [(GAP, "return gap.abs().topk(k, largest=False).indices")],
        "topk-smallest",
        hint="smallest",
    ),
    Mutant(
        "check_top_k_latents",
        [(GAP, "return latents[labels].mean(dim=0).topk(k).indices")],
        "topk-positives-only",
        hint="positives' mean alone",
    ),
    Mutant(
        "check_top_k_latents",
        [(GAP, "return gap.abs().topk(k).indices.int()")],
        "topk-int32",
        "torch.int64",
    ),
    # --- 7.11 obfuscation_loss (gradients)
    Mutant(
        "check_obfuscation_loss",
        [(EVASION, "evasion = F.softplus(-probe_logits).mean()")],
        "obf-towards-harmful",
        hint="towards 'harmful'",
    ),
    Mutant(
        "check_obfuscation_loss",
        [(KL_NEW, "kl = (new.exp() * (new - reference)).sum(dim=-1).mean()")],
        "obf-kl-swapped",
        hint="swapped",
    ),
    Mutant(
        "check_obfuscation_loss",
        [(OBF_RETURN, "return evasion + kl")],
        "obf-ignores-weight",
        hint="ignoring kl_weight",
    ),
    Mutant(
        "check_obfuscation_loss",
        [(KL_NEW, "kl = (reference.exp() * (reference - new)).sum(dim=-1)[:, -1].mean()")],
        "obf-last-position",
        hint="last position only",
    ),
    Mutant(
        "check_obfuscation_loss",
        [(OBF_RETURN, "return (evasion + kl_weight * kl).item()")],
        "obf-item",
        "no gradient",
    ),
    Mutant(
        "check_obfuscation_loss",
        [(EVASION, "evasion = F.softplus(probe_logits.detach()).mean()")],
        "obf-probe-detached",
        "gradient",
    ),
]


class TestChapter07Checks(ChapterChecks):
    module = ch07
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS
