"""A green check means a right answer: every chapter-01 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/01_transformer_from_scratch.py` by `solution_cells`, so they follow
the solution as it changes; an edit that stops matching the solution fails loudly. The
tests themselves are `check_harness.ChapterChecks`, the same for every chapter.
"""

from __future__ import annotations

import pytest
import solution_cells
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import ch01

STEM = "01_transformer_from_scratch"

# What each check is given, by name in the chapter's namespace; in exercise order (1.1, 1.2, …).
CHECK_ARGS = {
    "check_layernorm": ["LayerNorm"],
    "check_embeddings": ["Embed", "PosEmbed"],
    "check_apply_causal_mask": ["apply_causal_mask"],
    "check_attention": ["Attention"],
    "check_mlp": ["MLP"],
    "check_transformer_block": ["TransformerBlock"],
    "check_unembed": ["Unembed"],
    "check_demo_transformer": ["DemoTransformer"],
    "check_lm_cross_entropy": ["lm_cross_entropy"],
    "check_greedy_generate": ["greedy_generate"],
    "check_head_outputs": ["head_outputs"],
    "check_zero_ablate_head": ["zero_ablate_head"],
    "check_head_ablation_losses": ["head_ablation_losses"],
}
MUTANTS = [
    # --- 1.1 LayerNorm
    Mutant(
        "check_layernorm",
        [("(var + self.cfg.eps).sqrt()", "(var.sqrt() + self.cfg.eps)")],
        "ln-eps-outside-sqrt",
        hint="eps outside the square root",
    ),
    Mutant(
        "check_layernorm",
        [("keepdim=True, unbiased=False)", "keepdim=True)")],
        "ln-unbiased-var",
        hint="unbiased variance",
    ),
    Mutant(
        "check_layernorm",
        [("return (residual - mean) /", "return residual /")],
        "ln-no-centering",
        hint="without subtracting the mean",
    ),
    Mutant(
        "check_layernorm", [(" * self.w + self.b\n", "\n")], "ln-no-w-b", hint="leaving out w and b"
    ),
    Mutant(
        "check_layernorm",
        [("residual.mean(dim=-1,", "residual.mean(dim=1,")],
        "ln-mean-over-pos",
        hint="position axis",
    ),
    # --- 1.2 Embed and PosEmbed
    Mutant(
        "check_embeddings",
        [
            (
                'einops.repeat(self.W_pos[:seq_len], "pos d_model -> batch pos d_model", batch=batch)',
                "self.W_pos[tokens]",
            )
        ],
        "pos-indexed-by-tokens",
        hint="W_pos at the token ids",
    ),
    Mutant(
        "check_embeddings",
        [
            (
                'einops.repeat(self.W_pos[:seq_len], "pos d_model -> batch pos d_model", batch=batch)',
                "self.W_pos[:seq_len]",
            )
        ],
        "pos-no-batch-repeat",
        "one copy of W_pos[:pos] per sequence",
    ),
    Mutant(
        "check_embeddings",
        [("self.W_pos[:seq_len]", "self.W_pos[1 : seq_len + 1]")],
        "pos-off-by-one",
        hint="starting the positions at 1",
    ),
    Mutant(
        "check_embeddings",
        [("return self.W_E[tokens]", "return self.W_E[tokens] * self.W_E.shape[1] ** 0.5")],
        "embed-scaled-by-sqrt-d_model",
        hint="scaling the embeddings by sqrt(d_model)",
    ),
    Mutant(
        "check_embeddings",
        [("return self.W_E[tokens]", "return self.W_E.T[tokens]")],
        "embed-transposed",
        "token t's embedding is row t",
    ),
    # --- 1.3 apply_causal_mask
    Mutant(
        "check_apply_causal_mask",
        [("diagonal=1)", "diagonal=0)")],
        "mask-diagonal",
        hint="masking the diagonal",
    ),
    # class 1 (inputs): masking in place returns the right value and changes the caller's scores
    Mutant(
        "check_apply_causal_mask",
        [("attn_scores.masked_fill(future, ", "attn_scores.masked_fill_(future, ")],
        "mask-in-place",
        "changed its argument `attn_scores` in place",
    ),
    Mutant(
        "check_apply_causal_mask",
        [("future = torch.triu(", "future = torch.tril(")],
        "mask-tril",
        hint="torch.tril instead of torch.triu",
    ),
    Mutant(
        "check_apply_causal_mask",
        [("masked_fill(future, ", "masked_fill(future.T, ")],
        "mask-the-past",
        hint="masking the past",
    ),
    Mutant(
        "check_apply_causal_mask",
        [('masked_fill(future, float("-inf"))', "masked_fill(future, 0.0)")],
        "mask-fill-zero",
        hint="filling masked scores with 0",
    ),
    # --- 1.4 Attention
    Mutant(
        "check_attention",
        [("pattern = apply_causal_mask(attn_scores).softmax(", "pattern = attn_scores.softmax(")],
        "attn-no-mask",
        hint="causal mask",
    ),
    Mutant(
        "check_attention",
        [(") / self.cfg.d_head**0.5", ")")],
        "attn-no-scaling",
        hint="not dividing the scores by sqrt(d_head)",
    ),
    Mutant(
        "check_attention",
        [(") / self.cfg.d_head**0.5", ") / self.cfg.d_head")],
        "attn-scale-by-d_head",
        hint="by d_head instead of sqrt(d_head)",
    ),
    Mutant(
        "check_attention",
        [
            (
                "apply_causal_mask(attn_scores).softmax(dim=-1)",
                "apply_causal_mask(attn_scores).softmax(dim=-2)",
            )
        ],
        "attn-softmax-over-queries",
        hint="query axis",
    ),
    Mutant(
        "check_attention",
        [("return out + self.b_O", "return out")],
        "attn-no-b_O",
        hint="leaving out b_O",
    ),
    Mutant(
        "check_attention",
        [('-> batch pos head d_head") + self.b_V', '-> batch pos head d_head")')],
        "attn-no-b_V",
        hint="leaving out b_V",
    ),
    Mutant(
        "check_attention",
        [(") / self.cfg.d_head**0.5", ") / self.cfg.d_model**0.5")],
        "attn-scale-by-sqrt-d_model",
        hint="sqrt(d_model) instead of sqrt(d_head)",
    ),
    Mutant(
        "check_attention",
        [
            (
                'head d_head d_model -> batch pos d_model")\n        return out + self.b_O',
                'head d_head d_model -> batch pos head d_model")\n        return (out + self.b_O).sum(dim=2)',
            )
        ],
        "attn-b_O-per-head",
        hint="adding b_O once per head",
    ),
    # class 7 (only the first case right): a d_head hard-coded from the first case's shape
    Mutant(
        "check_attention",
        [(") / self.cfg.d_head**0.5", ") / 8**0.5")],
        "attn-hard-coded-d_head",
        hint="a hard-coded d_head",
    ),
    Mutant(
        "check_attention",
        [('-> batch pos head d_head") + self.b_Q', '-> batch pos head d_head")')],
        "attn-no-b_Q",
        hint="leaving out b_Q",
    ),
    # --- 1.5 MLP
    Mutant(
        "check_mlp",
        [('nn.functional.gelu(pre, approximate="tanh")', "nn.functional.relu(pre)")],
        "mlp-relu",
        hint="ReLU instead of GELU",
    ),
    Mutant(
        "check_mlp",
        [('-> batch pos d_mlp") + self.b_in', '-> batch pos d_mlp")')],
        "mlp-no-b_in",
        hint="leaving out b_in",
    ),
    Mutant(
        "check_mlp",
        [('-> batch pos d_model") + self.b_out', '-> batch pos d_model")')],
        "mlp-no-b_out",
        hint="leaving out b_out",
    ),
    Mutant(
        "check_mlp",
        [('nn.functional.gelu(pre, approximate="tanh")', "nn.functional.gelu(pre)")],
        "mlp-exact-gelu",
        hint="the exact GELU",
    ),
    # --- 1.6 TransformerBlock
    Mutant(
        "check_transformer_block",
        [("return resid_mid + self.mlp(", "return self.mlp(")],
        "block-no-residual",
        hint="residual connections",
    ),
    Mutant(
        "check_transformer_block",
        [("return resid_mid + self.mlp(self.ln2(resid_mid))", "return resid_mid")],
        "block-no-mlp",
        hint="forgetting to add the MLP",
    ),
    Mutant(
        "check_transformer_block",
        [("self.mlp(self.ln2(resid_mid))", "self.mlp(self.ln2(resid_pre))")],
        "block-mlp-reads-resid_pre",
        hint="ln2(resid_pre)",
    ),
    Mutant(
        "check_transformer_block",
        [
            (
                "resid_mid = resid_pre + self.attn(self.ln1(resid_pre))",
                "resid_mid = self.ln1(resid_pre + self.attn(resid_pre))",
            ),
            (
                "return resid_mid + self.mlp(self.ln2(resid_mid))",
                "return self.ln2(resid_mid + self.mlp(resid_mid))",
            ),
        ],
        "block-post-ln",
    ),
    # --- 1.7 Unembed
    Mutant(
        "check_unembed",
        [('-> batch pos d_vocab") + self.b_U', '-> batch pos d_vocab")')],
        "unembed-no-b_U",
        hint="leaving out b_U",
    ),
    Mutant(
        "check_unembed",
        [
            (
                'einops.einsum(x, self.W_U, "batch pos d_model, d_model d_vocab -> batch pos d_vocab")',
                "x @ self.W_U.T",
            )
        ],
        "unembed-W_U-transposed",
        ": return x @ self.W_U.T",  # the failure quotes the learner's line
    ),
    Mutant(
        "check_unembed",
        [
            (
                "return einops.einsum(x, self.W_U,",
                "return torch.log_softmax(einops.einsum(x, self.W_U,",
            ),
            ("+ self.b_U", "+ self.b_U, dim=-1)"),
        ],
        "unembed-returns-log-probs",
        hint="a log_softmax at the end",
    ),
    # --- 1.8 DemoTransformer
    Mutant(
        "check_demo_transformer",
        [
            (
                "residual = self.embed(tokens) + self.pos_embed(tokens)",
                "residual = self.embed(tokens)",
            )
        ],
        "demo-no-pos_embed",
        hint="positional embedding",
    ),
    Mutant(
        "check_demo_transformer",
        [("self.unembed(self.ln_final(residual))", "self.unembed(residual)")],
        "demo-no-ln_final",
        hint="skipping ln_final",
    ),
    Mutant(
        "check_demo_transformer",
        [
            ("residual = block(residual)", "out = block(residual)"),
            ("self.ln_final(residual)", "self.ln_final(out)"),
        ],
        "demo-residual-not-threaded",
        hint="feeding every block the embeddings",
    ),
    Mutant(
        "check_demo_transformer",
        [("for block in self.blocks:", "for block in reversed(self.blocks):")],
        "demo-blocks-reversed",
    ),
    # --- 1.9 lm_cross_entropy
    Mutant(
        "check_lm_cross_entropy",
        [
            ("logits[:, :-1].log_softmax(", "logits.log_softmax("),
            ("next_tokens = tokens[:, 1:]", "next_tokens = tokens"),
        ],
        "ce-no-shift",
        hint="no shift",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [
            ("logits[:, :-1].log_softmax(", "logits[:, 1:].log_softmax("),
            ("next_tokens = tokens[:, 1:]", "next_tokens = tokens[:, :-1]"),
        ],
        "ce-shift-wrong-way",
        hint="shifting the wrong way",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [("next_tokens = tokens[:, 1:]", "next_tokens = tokens[:, :-1]")],
        "ce-targets-off-by-one",
        hint="targets off by one",
    ),
    # class 2 (gradients): the right loss, with the normalizer detached
    Mutant(
        "check_lm_cross_entropy",
        [
            (
                "log_probs = logits[:, :-1].log_softmax(dim=-1)",
                "log_probs = logits[:, :-1] - logits[:, :-1].logsumexp(dim=-1, keepdim=True).detach()",
            )
        ],
        "ce-normalizer-detached",
        "the gradient of the loss w.r.t. `logits`",
    ),
    # class 4 (exact dtype): a float64 loss
    Mutant(
        "check_lm_cross_entropy",
        [("return -correct.mean()", "return -correct.double().mean()")],
        "ce-float64",
        "the chapter needs exactly torch.float32",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [("return -correct.mean()", "return -correct.sum()")],
        "ce-sum",
        hint="summing instead of averaging",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [("return -correct.mean()", "return -correct.mean().item()")],
        "ce-item",
        "do not call .item()",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [("return -correct.mean()", "return -correct.mean().detach()")],
        "ce-detached",
        "detached",
    ),
    Mutant(
        "check_lm_cross_entropy",
        [("return -correct.mean()", "return correct.mean()")],
        "ce-no-minus",
        hint="forgetting the minus sign",
    ),
    # --- 1.10 greedy_generate
    Mutant(
        "check_greedy_generate",
        [("logits[:, -1].argmax(", "logits[:, 0].argmax(")],
        "gen-argmax-at-position-0",
        "LAST position",
    ),
    Mutant(
        "check_greedy_generate",
        [("logits[:, -1].argmax(dim=-1, keepdim=True)", "logits.argmax(dim=1)[:, -1:]")],
        "gen-argmax-over-pos-axis",
    ),
    Mutant(
        "check_greedy_generate",
        [
            (
                "logits[:, -1].argmax(dim=-1, keepdim=True)",
                "logits[:, -1].argmax(dim=0, keepdim=True)",
            )
        ],
        "gen-argmax-over-batch-axis",
    ),
    Mutant(
        "check_greedy_generate",
        [("    return tokens\n", "    return tokens[:, -n_new:]\n")],
        "gen-returns-only-new-tokens",
        "only the new tokens, without the prompt",
    ),
    # class 5 (boundaries): n_new=0 must return the prompt itself
    Mutant(
        "check_greedy_generate",
        [("for _ in range(n_new):", "for _ in range(max(n_new, 1)):")],
        "gen-at-least-one-token",
        "one token too many",
    ),
    Mutant(
        "check_greedy_generate",
        [("for _ in range(n_new):", "for _ in range(n_new - 1):")],
        "gen-one-token-short",
        "one token short",
    ),
    # --- 1.11 head_outputs
    Mutant(
        "check_head_outputs",
        [
            (
                '"batch pos head d_head, head d_head d_model -> batch pos head d_model")',
                '"batch pos head d_head, head d_head d_model -> batch pos head d_model") + model.b_O[layer]',
            )
        ],
        "heads-b_O-per-head",
        hint="adding b_O to every head",
    ),
    Mutant(
        "check_head_outputs",
        [("model.W_O[layer]", "model.W_O[0]")],
        "heads-W_O-of-layer-0",
        hint="layer 0's W_O",
    ),
    Mutant(
        "check_head_outputs",
        [
            (
                "head d_head d_model -> batch pos head d_model",
                "head d_head d_model -> batch pos d_model",
            )
        ],
        "heads-summed",
        "summed over the heads",
    ),
    Mutant(
        "check_head_outputs",
        [('cache["z", layer]', 'cache["z", 0]')],
        "heads-z-of-layer-0",
        hint="layer 0's z",
    ),
    # --- 1.12 zero_ablate_head
    Mutant(
        "check_zero_ablate_head",
        [("z[:, :, head, :] = 0.0", "z[:, head] = 0.0")],
        "ablate-position-axis",
        hint="zeroing position `head`",
    ),
    Mutant(
        "check_zero_ablate_head",
        [("z[:, :, head, :] = 0.0", "z[:] = 0.0")],
        "ablate-all-heads",
        hint="zeroing every head of the layer",
    ),
    Mutant(
        "check_zero_ablate_head",
        [("z[:, :, head, :] = 0.0\n    return z", "z = z.clone()\n    z[:, :, head, :] = 0.0")],
        "ablate-copy-returns-None",
        hint="not changing z at all",
    ),
    Mutant(
        "check_zero_ablate_head",
        [("z[:, :, head, :] = 0.0", "z[..., head] = 0.0")],
        "ablate-d_head-axis",
        hint="entry `head` of d_head",
    ),
    # --- 1.13 head_ablation_losses
    Mutant(
        "check_head_ablation_losses",
        [
            (
                "increase[layer, head] = loss_fn(logits, tokens) - clean_loss",
                "increase[layer, head] = loss_fn(logits, tokens)",
            )
        ],
        "losses-ablated-not-increase",
        hint="ablated loss instead of its increase",
    ),
    Mutant(
        "check_head_ablation_losses",
        [
            (
                "logits = model.run_with_hooks(tokens, fwd_hooks=[hook])",
                "model.add_hook(*hook)\n            logits = model(tokens)",
            )
        ],
        "losses-hooks-pile-up",
        "still had hooks attached",
    ),
    Mutant(
        "check_head_ablation_losses",
        [
            (
                "logits = model.run_with_hooks(tokens, fwd_hooks=[hook])",
                "model.add_hook(*hook)\n            logits = model(tokens)",
            ),
            ("    return increase\n", "    model.reset_hooks()\n    return increase\n"),
        ],
        "losses-hooks-reset-only-at-the-end",
        hint="letting the ablations pile up",
    ),
    # class 3 (arguments that never change): loss_fn hard-coded
    Mutant(
        "check_head_ablation_losses",
        [
            (
                "clean_loss = loss_fn(model(tokens), tokens)",
                "loss_fn = lm_cross_entropy\n    clean_loss = loss_fn(model(tokens), tokens)",
            )
        ],
        "losses-ignores-loss_fn",
        hint="ignoring loss_fn",
    ),
    Mutant(
        "check_head_ablation_losses",
        [('get_act_name("z", layer)', 'get_act_name("z", 0)')],
        "losses-always-layer-0",
        hint="ablating layer 0 for every layer",
    ),
    Mutant(
        "check_head_ablation_losses",
        [("= loss_fn(logits, tokens) - clean_loss", "= clean_loss - loss_fn(logits, tokens)")],
        "losses-sign-flipped",
        hint="the sign flipped",
    ),
]


class TestChapter01Checks(ChapterChecks):
    module = ch01
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


def test_edit_that_matches_twice_is_an_error():
    with pytest.raises(solution_cells.MutantMismatch, match="occurs 2 times"):
        solution_cells.solution_namespace(STEM, [("self.b_O", "self.b_O")])
