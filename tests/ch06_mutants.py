"""The mutants of chapter 06's Exercises 6.1 to 6.6 (`test_ch06_checks.py` holds the rest and runs
them all): the solution with one typical mistake edited in, as `solution_cells` applies it."""

from check_harness import Mutant

SCORE_LINE = "return last[:, refuse_id] - last[:, comply_id]"
KL_LINE = "return (clean.exp() * (clean - edited)).sum(dim=-1).mean()"
DIFF_LINE = "return means(harmful_tokens) - means(harmless_tokens)"
ABLATE_LINE = "return resid - (resid @ unit)[..., None] * unit  # (resid @ unit): [batch pos]"
HOOKS_RETURN = "return [(name, hook_fn) for name in names]"
KINDS = 'for kind in ("resid_pre", "resid_mid")]'
FINAL_APPEND = '    names.append(get_act_name("resid_post", n_layers - 1))  # what ln_final and the unembedding read\n'
ADD_NAME = 'name = get_act_name("resid_pre", layer) if layer < n_layers'
ADD_LINE = "return resid + coefficient * vector  # broadcast over batch and pos"
KL_SCORE = (
    "kl = kl_last_position(clean_harmless, model.run_with_hooks(harmless_tokens, fwd_hooks=ablate))"
)
BYPASS = "bypass = refusal_score(model.run_with_hooks(harmful_tokens, fwd_hooks=ablate)).mean()"
KEPT = "kept = (layers < layer_limit) & (induce > 0) & (kl < max_kl)"
BEST = (
    "best = torch.where(kept, bypass, torch.full_like(bypass, math.inf)).flatten().argmin().item()"
)
PROJECT_LINE = "return weight - (weight @ unit)[..., None] * unit"
COPY_LINE = "params[name].copy_(project_out(params[name], direction))"
TO_REFERENCE = "return resid - ((resid - reference) @ unit)[..., None] * unit"


MUTANTS_6_1_TO_6_6 = [
    # --- 6.1 refusal_score
    Mutant(
        "check_refusal_score",
        [(SCORE_LINE, "return last[:, comply_id] - last[:, refuse_id]")],
        "score-sign-flipped",
        hint="sign flipped",
    ),
    Mutant(
        "check_refusal_score",
        [("last = logits[:, -1]", "last = logits[:, 0]")],
        "score-first-position",
        hint="first position",
    ),
    Mutant(
        "check_refusal_score",
        [(SCORE_LINE, "return last[:, REFUSE_ID] - last[:, COMPLY_ID]")],
        "score-hard-coded-ids",
        hint="ignoring refuse_id",
    ),
    Mutant(
        "check_refusal_score",
        [("last = logits[:, -1]", "last = logits[:, -1].softmax(dim=-1)")],
        "score-probabilities",
        hint="difference of probabilities",
    ),
    Mutant(
        "check_refusal_score",
        [("last = logits[:, -1]", "last = logits.mean(dim=1)")],
        "score-mean-over-positions",
        hint="averaging over all positions",
    ),
    # --- 6.2 kl_last_position
    Mutant(
        "check_kl_last_position",
        [(KL_LINE, "return (edited.exp() * (edited - clean)).sum(dim=-1).mean()")],
        "kl-swapped",
        hint="swapped",
    ),
    Mutant(
        "check_kl_last_position",
        [(KL_LINE, "return (clean.exp() * (clean - edited)).sum(dim=-1).sum()")],
        "kl-summed-over-batch",
        hint="summing over the batch",
    ),
    Mutant(
        "check_kl_last_position",
        [
            (
                "clean = clean_logits[:, -1].log_softmax(dim=-1)",
                "clean = clean_logits[:, -1].softmax(dim=-1).log()",
            )
        ],
        "kl-log-of-softmax",
        says="use log_softmax",
    ),
    Mutant(
        "check_kl_last_position",
        [
            ("clean = clean_logits[:, -1]", "clean = clean_logits[:, 0]"),
            ("edited = edited_logits[:, -1]", "edited = edited_logits[:, 0]"),
        ],
        "kl-first-position",
        hint="first position",
    ),
    Mutant(
        "check_kl_last_position",
        [(KL_LINE, "return (clean.exp() * (clean - edited)).sum(dim=-1)")],
        "kl-not-averaged",
        says="single number",
    ),
    # --- 6.3 candidate_directions
    Mutant(
        "check_candidate_directions",
        [(DIFF_LINE, "return means(harmless_tokens) - means(harmful_tokens)")],
        "dirs-sign-flipped",
        hint="sign flipped",
    ),
    Mutant(
        "check_candidate_directions",
        [("cache[name][:, -n_positions:]", "cache[name][:, :n_positions]")],
        "dirs-first-positions",
        hint="first n_positions",
    ),
    Mutant(
        "check_candidate_directions",
        [(' + [get_act_name("resid_post", n_layers - 1)]\n\n    def means', "\n\n    def means")],
        "dirs-no-final-resid",
        says="one too few",
    ),
    Mutant(
        "check_candidate_directions",
        [
            (
                'names = [get_act_name("resid_pre", layer) for layer in range(n_layers)] +',
                'names = [get_act_name("resid_post", layer) for layer in range(n_layers)] +',
            )
        ],
        "dirs-resid-post",
        hint="one layer too late",
    ),
    Mutant(
        "check_candidate_directions",
        [
            (
                DIFF_LINE,
                "diff = means(harmful_tokens) - means(harmless_tokens)\n    return diff / diff.norm(dim=-1, keepdim=True)",
            )
        ],
        "dirs-normalized",
        says="NaN",
    ),
    # --- 6.4 ablate_direction
    Mutant(
        "check_ablate_direction",
        [(ABLATE_LINE, "return resid - (resid @ direction)[..., None] * direction")],
        "ablate-unnormalized",
        hint="not normalizing",
    ),
    Mutant(
        "check_ablate_direction",
        [(ABLATE_LINE, "return resid + (resid @ unit)[..., None] * unit")],
        "ablate-adds",
        hint="adding the projection",
    ),
    Mutant(
        "check_ablate_direction",
        [(ABLATE_LINE, "return (resid @ unit)[..., None] * unit")],
        "ablate-returns-projection",
        hint="returning the projection",
    ),
    Mutant(
        "check_ablate_direction",
        [(ABLATE_LINE, "return resid - (resid @ unit).mean() * unit")],
        "ablate-mean-projection",
    ),
    # --- 6.5 ablation_hooks
    Mutant(
        "check_ablation_hooks",
        [(HOOKS_RETURN, "return [(names[0], hook_fn)]")],
        "hooks-one-layer",
        hint="only at one layer",
    ),
    Mutant(
        "check_ablation_hooks",
        [(KINDS, 'for kind in ("resid_pre",)]')],
        "hooks-no-resid-mid",
        hint="not resid_mid",
    ),
    Mutant(
        "check_ablation_hooks",
        [(FINAL_APPEND, "")],
        "hooks-no-final",
        hint="leaving out the final resid_post",
    ),
    Mutant(
        "check_ablation_hooks",
        [(KINDS, 'for kind in ("resid_mid", "resid_post")]')],
        "hooks-mid-and-post",
    ),
    Mutant(
        "check_ablation_hooks",
        [(HOOKS_RETURN, "return [(name, hook_fn) for name in names[1:]]")],
        "hooks-skip-embeddings",
    ),
    # --- 6.6 addition_hooks
    Mutant(
        "check_addition_hooks",
        [
            (
                "return [(name, add)]",
                'return [(get_act_name("resid_pre", l), add) for l in range(layer, n_layers)] + [(get_act_name("resid_post", n_layers - 1), add)]',
            )
        ],
        "add-every-later-layer",
        hint="every layer from",
    ),
    Mutant(
        "check_addition_hooks",
        [(ADD_LINE, "resid[:, -1] += coefficient * vector\n        return resid")],
        "add-last-position-only",
        hint="last position only",
    ),
    Mutant(
        "check_addition_hooks",
        [(ADD_NAME, 'name = get_act_name("resid_post", layer) if layer < n_layers')],
        "add-resid-post",
        hint="one layer too late",
    ),
    Mutant(
        "check_addition_hooks",
        [(ADD_LINE, "return resid + vector")],
        "add-no-coefficient",
        hint="ignoring the coefficient",
    ),
    Mutant(
        "check_addition_hooks",
        [(ADD_LINE, "return resid + coefficient * vector / vector.norm()")],
        "add-normalized",
        hint="normalizing the vector",
    ),
    Mutant(
        "check_addition_hooks",
        [(ADD_NAME, 'name = get_act_name("resid_pre", layer - 1) if layer < n_layers')],
        "add-one-layer-early",
    ),
]
