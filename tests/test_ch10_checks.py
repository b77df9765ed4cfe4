"""A green check means a right answer: every chapter-10 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations
(mutants: the solution with one typical mistake edited in, built from
`solutions/10_circuit_tracing.py` by `solution_cells`)."""

from __future__ import annotations

import pytest
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import CheckFailed, ch10

STEM = "10_circuit_tracing"

CHECK_ARGS = {
    "check_transcoder": ["Transcoder"],
    "check_normalized_mse": ["normalized_mse"],
    "check_splice_transcoders": ["splice_transcoders"],
    "check_frozen_layernorm": ["frozen_layernorm"],
    "check_replacement_forward": ["replacement_forward"],
    "check_direct_effects": ["direct_effects"],
    "check_node_influence": ["node_influence"],
    "check_prune_nodes": ["prune_nodes"],
    "check_label_feature": ["label_feature"],
    "check_ablation_effect": ["ablation_effect"],
}

LN = "return (x - x.mean(dim=-1, keepdim=True)) / scale * w + b"
SPLICE_LOOP = "for layer in range(model.cfg.n_layers):\n        hooks.append"
NMSE_RETURN = "return (error / spread).item()"
ERRORS = "error_effects = (grads[-1] * leaves.errors).sum(-1).detach()"
N_KEEP = "n_keep = int((cumulative < share * values.sum()).sum()) + 1"
ABLATED = '(f"blocks.{layer}.hook_mlp_out", remove), *fwd_hooks]'
ABLATION_RETURN = "return (ablated[0, -1] @ target - clean[0, -1] @ target).item()"

MUTANTS = [
    # --- 10.1 Transcoder
    Mutant(
        "check_transcoder",
        [("top.values.relu())", "top.values)")],
        "tc-no-relu",
        hint="forgetting the ReLU",
    ),
    Mutant(
        "check_transcoder",
        [("pre = x @ self.W_enc + self.b_enc", "pre = (x - self.b_dec) @ self.W_enc + self.b_enc")],
        "tc-subtracts-b_dec",
        hint="subtracting b_dec",
    ),
    Mutant(
        "check_transcoder",
        [("return f @ self.W_dec + self.b_dec", "return f @ self.W_dec")],
        "tc-no-b_dec",
        hint="leaving out b_dec",
    ),
    Mutant(
        "check_transcoder",
        [
            (
                "top = pre.topk(self.k, dim=-1)\n        return torch.zeros_like(pre).scatter(-1, "
                "top.indices, top.values.relu())",
                "return pre.relu()",
            )
        ],
        "tc-relu-not-topk",
        hint="a ReLU over every feature",
    ),
    # --- 10.2 normalized_mse
    Mutant(
        "check_normalized_mse",
        [("spread = (target - target.mean(dim=0)).pow(2).sum()", "spread = target.pow(2).sum()")],
        "nmse-not-centred",
        hint="not subtracting the mean",
    ),
    Mutant(
        "check_normalized_mse",
        [(NMSE_RETURN, "return (1 - error / spread).item()")],
        "nmse-explained-variance",
        hint="explained variance",
    ),
    Mutant(
        "check_normalized_mse",
        [(NMSE_RETURN, "return error / spread")],
        "nmse-returns-tensor",
        "exactly a float",
    ),
    Mutant(
        "check_normalized_mse",
        [
            (
                "error = (target - prediction).pow(2).sum()",
                "error = (target - prediction).pow(2).sum(-1)",
            ),
            (
                NMSE_RETURN,
                "return (error / (target - target.mean(dim=0)).pow(2).sum(-1)).mean().item()",
            ),
        ],
        "nmse-per-row",
        hint="per row",
    ),
    # --- 10.3 splice_transcoders
    Mutant(
        "check_splice_transcoders",
        [(SPLICE_LOOP, "for layer in [model.cfg.n_layers - 1]:\n        hooks.append")],
        "splice-last-only",
        hint="the last MLP only",
    ),
    Mutant(
        "check_splice_transcoders",
        [(SPLICE_LOOP, "for layer in [0]:\n        hooks.append")],
        "splice-first-only",
        hint="the first MLP only",
    ),
    Mutant(
        "check_splice_transcoders",
        [
            (
                "    with torch.no_grad():\n        return model.run_with_hooks(tokens, "
                "fwd_hooks=hooks)",
                "    for name, fn in hooks:\n        model.add_hook(name, fn)\n    with "
                "torch.no_grad():\n        return model(tokens)",
            )
        ],
        "splice-hooks-left",
        "still had hooks attached",
    ),
    # --- 10.4 frozen_layernorm
    Mutant(
        "check_frozen_layernorm",
        [(LN, "return x / scale * w + b")],
        "ln-not-centred",
        hint="not centring",
    ),
    Mutant(
        "check_frozen_layernorm",
        [
            (
                LN,
                "c = x - x.mean(dim=-1, keepdim=True)\n    return c / (c.pow(2).mean(-1, "
                "keepdim=True) + 1e-5).sqrt() * w + b",
            )
        ],
        "ln-live-scale",
        hint="computing the scale from x",
    ),
    Mutant(
        "check_frozen_layernorm",
        [(LN, "return (x - x.mean(dim=-1, keepdim=True)) * scale * w + b")],
        "ln-times-scale",
        hint="multiplying by the scale",
    ),
    Mutant(
        "check_frozen_layernorm",
        [(LN, "x -= x.mean(dim=-1, keepdim=True)\n    return x / scale * w + b")],
        "ln-in-place",
        "in place",
    ),
    # --- 10.5 replacement_forward
    Mutant(
        "check_replacement_forward",
        [("x = x + transcoder.decode(f) + frozen.errors[L]", "x = x + transcoder.decode(f)")],
        "replacement-no-errors",
        hint="leaving out the error terms",
    ),
    Mutant(
        "check_replacement_forward",
        [
            (
                "normed = frozen_layernorm(\n            x, frozen.ln1_scale[L], "
                'P[f"blocks.{L}.ln1.w"], P[f"blocks.{L}.ln1.b"]\n        )',
                "normed = model.blocks[L].ln1(x[None])[0]",
            )
        ],
        "replacement-live-ln1",
        "a perturbed embedding",
    ),
    Mutant(
        "check_replacement_forward",
        [
            (
                "f = transcoder.encode(mlp_input) if features is None else features[L]",
                "f = transcoder.encode(mlp_input)",
            )
        ],
        "replacement-features-ignored",
        "features given",
    ),
    Mutant(
        "check_replacement_forward",
        [('torch.einsum("hqk,khe->qhe"', 'torch.einsum("hkq,khe->qhe"')],
        "replacement-pattern-transposed",
        "the prompt itself",
    ),
    # --- 10.6 direct_effects
    Mutant(
        "check_direct_effects",
        [
            (
                "embed_effects = (grads[0] * embed).sum(-1).detach()",
                "embed_effects = grads[0].sum(-1).detach()",
            )
        ],
        "effects-embed-gradient-only",
        hint="the gradient alone",
    ),
    Mutant(
        "check_direct_effects",
        [
            (
                "feature_effects = [(g * f).detach() for g, f in zip(grads[1:-1], features)]",
                "feature_effects = [g.detach() for g in grads[1:-1]]",
            )
        ],
        "effects-feature-gradient-only",
        hint="the gradient alone",
    ),
    Mutant(
        "check_direct_effects",
        [(ERRORS, "error_effects = (grads[-1] * leaves.errors)[..., 0].detach()")],
        "effects-errors-not-summed",
        hint="not summing over d_model",
    ),
    Mutant(
        "check_direct_effects",
        [
            (
                "logits, pres = replacement_forward(model, transcoders, leaves, embed, features)",
                "logits, pres = replacement_forward(model, transcoders, leaves, embed)",
            )
        ],
        "effects-through-topk",
        "embeddings' direct effects",
    ),
    # --- 10.7 node_influence
    Mutant(
        "check_node_influence",
        [("A = adjacency.abs()", "A = adjacency")],
        "influence-signed",
        hint="not taking |A|",
    ),
    Mutant(
        "check_node_influence",
        [("return (torch.linalg.solve(eye - A, eye) - eye)[-1]", "return A[-1]")],
        "influence-direct-only",
        hint="only the direct edges",
    ),
    Mutant(
        "check_node_influence",
        [
            (
                "A = A / A.sum(dim=-1, keepdim=True).clamp_min(1e-12)",
                "A = A / A.sum(dim=0, keepdim=True).clamp_min(1e-12)",
            )
        ],
        "influence-columns",
        hint="columns",
    ),
    # --- 10.8 prune_nodes
    Mutant(
        "check_prune_nodes",
        [(N_KEEP, N_KEEP.replace("<", "<="))],
        "prune-strict-threshold",
        hint="one node too many",
    ),
    Mutant(
        "check_prune_nodes",
        [("keep[order[:n_keep]] = True", "keep = influence > share * influence.sum()")],
        "prune-own-influence",
        hint="own influence exceeds",
    ),
    Mutant(
        "check_prune_nodes",
        [(N_KEEP, N_KEEP.replace("share *", "0.8 *"))],
        "prune-share-ignored",
        "share 0.75",
    ),
    # --- 10.9 label_feature
    Mutant(
        "check_label_feature",
        [("top = acts.topk(k).indices", "top = acts.topk(k, largest=False).indices")],
        "label-smallest",
        hint="the k smallest",
    ),
    Mutant(
        "check_label_feature",
        [("return label, count / k", "return label, float(count)")],
        "label-count",
        hint="the count",
    ),
    Mutant(
        "check_label_feature",
        [("return label, count / k", "return label, count / len(acts)")],
        "label-share-of-all",
        hint="among all tokens",
    ),
    Mutant(
        "check_label_feature",
        [("top = acts.topk(k).indices", "top = acts.topk(20).indices")],
        "label-k-ignored",
        "k 5",
    ),
    # --- 10.10 ablation_effect
    Mutant(
        "check_ablation_effect",
        [(ABLATION_RETURN, "return (clean[0, -1] @ target - ablated[0, -1] @ target).item()")],
        "ablation-sign",
        hint="sign flipped",
    ),
    Mutant(
        "check_ablation_effect",
        [(ABLATED, ABLATED.replace(", *fwd_hooks]", "]"))],
        "ablation-hooks-ignored",
        hint="ignoring fwd_hooks",
    ),
    Mutant(
        "check_ablation_effect",
        [
            (
                "out[:, pos] = out[:, pos] - activation * transcoder.W_dec[feature]",
                "out = out - activation * transcoder.W_dec[feature]",
            )
        ],
        "ablation-every-position",
        "the change of target",
    ),
    Mutant(
        "check_ablation_effect",
        [(ABLATION_RETURN, "return ablated[0, -1] @ target - clean[0, -1] @ target")],
        "ablation-returns-tensor",
        "exactly a float",
    ),
]


class TestChapter10Checks(ChapterChecks):
    module = ch10
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_a_check_given_something_else_than_a_function_says_so(bad):
    with pytest.raises(CheckFailed, match="pass your function"):
        ch10.check_prune_nodes(bad)
