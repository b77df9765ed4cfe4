"""A green check means a right answer: every chapter-05 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/05_sparse_autoencoders.py` by `solution_cells`, so they follow the
solution as it changes; an edit that stops matching the solution fails loudly.
"""

from __future__ import annotations

import pytest
import solution_cells
from check_harness import ChapterChecks, Mutant

from mi_tutorial.checks import CheckFailed, ch05

STEM = "05_sparse_autoencoders"

# What each check is given, by name in the chapter's namespace; in exercise order (5.1, 5.2, …).
CHECK_ARGS = {
    "check_topk_activation": ["topk_activation"],
    "check_sparse_autoencoder": ["SparseAutoencoder"],
    "check_relu_sae_loss": ["relu_sae_loss"],
    "check_training_step": ["training_step"],
    "check_feature_recovery": ["feature_recovery"],
    "check_explained_variance": ["explained_variance"],
    "check_dead_and_dense": ["dead_and_dense"],
    "check_aux_k_loss": ["aux_k_loss"],
    "check_ce_loss_recovered": ["ce_loss_recovered"],
    "check_top_activations": ["top_activations"],
    "check_precision_recall": ["precision_recall"],
    "check_clamp_latent_hook": ["clamp_latent_hook"],
}

NORMALIZE = "self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True)"
L1 = "l1 = (f * sae.W_dec.norm(dim=-1)).sum(dim=-1).mean()"
MSE = "mse = (x_hat - x).pow(2).sum(dim=-1).mean()"
EV_RESIDUAL = "residual = (x - x_hat).pow(2).sum()"
EV_TOTAL = "total = (x - x.mean(dim=0)).pow(2).sum()"
EV_RETURN = "return (1 - residual / total).item()"
AUX_RETURN = "return (f_aux @ W_dec - residual).pow(2).sum(dim=-1).mean()"
AUX_SCATTER = "f_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values)  # no ReLU"
SPLICED = "with_sae = metrics.lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)]), tokens).item()"
CLAMP = "act[:, 1:] = act[:, 1:] + (value - f).unsqueeze(-1) * sae.W_dec[latent]"

MUTANTS = [
    # --- 5.1 topk_activation
    Mutant(
        "check_topk_activation",
        [("pre.topk(k, dim=-1)", "pre.topk(k, dim=-1, largest=False)")],
        "topk-smallest",
        hint="the k smallest",
    ),
    Mutant(
        "check_topk_activation",
        [("top.values.relu())", "top.values)")],
        "topk-no-relu",
        hint="forgetting the ReLU",
    ),
    Mutant(
        "check_topk_activation",
        [
            ("top = pre.topk(k, dim=-1)", "top = pre.abs().topk(k, dim=-1)"),
            ("top.values.relu())", "pre.gather(-1, top.indices).relu())"),
        ],
        "topk-by-absolute-value",
        hint="absolute value",
    ),
    Mutant(
        "check_topk_activation",
        [
            (
                "scatter(-1, top.indices, top.values.relu())",
                "scatter(0, top.indices, top.values.relu())",
            )
        ],
        "topk-scatter-wrong-axis",
    ),
    # --- 5.2 SparseAutoencoder
    Mutant(
        "check_sparse_autoencoder",
        [("pre = (x - self.b_dec) @ self.W_enc + self.b_enc", "pre = x @ self.W_enc + self.b_enc")],
        "sae-no-pre-encoder-bias",
        hint="pre-encoder bias",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [
            (
                "pre = (x - self.b_dec) @ self.W_enc + self.b_enc",
                "pre = (x + self.b_dec) @ self.W_enc + self.b_enc",
            )
        ],
        "sae-adds-b_dec",
        hint="adding b_dec",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [("return f @ self.W_dec + self.b_dec", "return f @ self.W_dec")],
        "sae-decode-no-b_dec",
        hint="leaving out b_dec",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [
            (
                "return pre.relu() if self.k is None else topk_activation(pre, self.k)",
                "return pre.relu()",
            )
        ],
        "sae-topk-ignored",
        hint="a ReLU where the TopK",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [(NORMALIZE, "self.W_dec /= self.W_dec.norm(dim=0, keepdim=True)")],
        "sae-normalize-columns",
        hint="columns",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [(NORMALIZE, "pass")],
        "sae-decoder-not-normalized",
        hint="decoder not normalized",
    ),
    Mutant(
        "check_sparse_autoencoder",
        [
            (
                NORMALIZE,
                "self.W_dec = nn.Parameter(self.W_dec / self.W_dec.norm(dim=-1, keepdim=True))",
            )
        ],
        "sae-normalize-new-parameter",
        "in place",
    ),
    # --- 5.3 relu_sae_loss
    Mutant(
        "check_relu_sae_loss",
        [(L1, "l1 = f.sum(dim=-1).mean()")],
        "loss-l1-without-decoder-norms",
        hint="without the decoder norms",
    ),
    Mutant(
        "check_relu_sae_loss",
        [(MSE, "mse = (x_hat - x).pow(2).mean()")],
        "loss-mse-mean-over-d_in",
        hint="averaging the squared error",
    ),
    Mutant(
        "check_relu_sae_loss",
        [(L1, "l1 = (f * sae.W_dec.norm(dim=-1)).sum()")],
        "loss-l1-summed-over-batch",
        hint="summing the penalty",
    ),
    Mutant(
        "check_relu_sae_loss",
        [("return mse + l1_coefficient * l1, mse, l1", "return mse + l1, mse, l1")],
        "loss-no-coefficient",
        hint="forgetting l1_coefficient",
    ),
    Mutant(
        "check_relu_sae_loss",
        [
            (
                "return mse + l1_coefficient * l1, mse, l1",
                "return (mse + l1_coefficient * l1).detach(), mse, l1",
            )
        ],
        "loss-detached",
        "still depends on the SAE's weights",
    ),
    # --- 5.4 training_step
    Mutant(
        "check_training_step",
        [("    optimizer.zero_grad()\n", "")],
        "step-no-zero-grad",
        "zero the gradients",
    ),
    Mutant(
        "check_training_step",
        [("    sae.normalize_decoder()\n    return loss.item()", "    return loss.item()")],
        "step-no-renormalization",
        "should all be 1",
    ),
    Mutant(
        "check_training_step",
        [
            (
                "    optimizer.step()\n    sae.normalize_decoder()\n",
                "    sae.normalize_decoder()\n    optimizer.step()\n",
            )
        ],
        "step-normalize-before-update",
        "should all be 1",
    ),
    Mutant(
        "check_training_step",
        [("    optimizer.step()\n", "")],
        "step-no-optimizer-step",
        "W_enc after the step",
    ),
    # --- 5.5 feature_recovery
    Mutant(
        "check_feature_recovery",
        [("cosines.max(dim=1)", "cosines.max(dim=0)")],
        "recovery-wrong-axis",
        hint="the wrong axis",
    ),
    Mutant(
        "check_feature_recovery",
        [("cosines = true @ dec.T  # [feature d_sae]", "cosines = true_directions @ W_dec.T")],
        "recovery-not-normalized",
        hint="without normalizing",
    ),
    Mutant(
        "check_feature_recovery",
        [("cosines.max(dim=1)", "cosines.abs().max(dim=1)")],
        "recovery-absolute-cosine",
        hint="absolute value",
    ),
    Mutant(
        "check_feature_recovery",
        [("cosines.max(dim=1).values.mean()", "cosines.mean()")],
        "recovery-mean-of-all-cosines",
        hint="the mean of all the cosines",
    ),
    # --- 5.6 explained_variance
    Mutant(
        "check_explained_variance",
        [(EV_TOTAL, "total = x.pow(2).sum()")],
        "ev-no-mean-subtracted",
        hint="not subtracting the mean",
    ),
    Mutant(
        "check_explained_variance",
        [(EV_RETURN, "return (residual / total).item()")],
        "ev-unexplained",
        hint="forgetting the 1 -",
    ),
    Mutant(
        "check_explained_variance",
        [
            (EV_RESIDUAL, EV_RESIDUAL[:-1] + "0)"),
            (EV_TOTAL, EV_TOTAL[:-1] + "0)"),
            (EV_RETURN, "return (1 - residual / total).mean().item()"),
        ],
        "ev-per-dimension",
        hint="per dimension",
    ),
    Mutant(
        "check_explained_variance",
        [
            (EV_RESIDUAL, EV_RESIDUAL[:-1] + "-1)"),
            (EV_TOTAL, EV_TOTAL[:-1] + "-1)"),
            (EV_RETURN, "return (1 - residual / total).mean().item()"),
        ],
        "ev-per-token-legacy",
        hint="per token",
    ),
    # --- 5.7 dead_and_dense
    Mutant(
        "check_dead_and_dense",
        [("density = (f > 0).float().mean(dim=0)", "density = f.mean(dim=0)")],
        "density-mean-activation",
        hint="mean activation",
    ),
    Mutant(
        "check_dead_and_dense",
        [
            (
                "return density == 0, density > dense_threshold",
                "return density > dense_threshold, density == 0",
            )
        ],
        "density-swapped",
        hint="(dense, dead) in the wrong order",
    ),
    Mutant(
        "check_dead_and_dense",
        [("return density == 0, density > dense_threshold", "return density == 0, density > 0.1")],
        "density-threshold-ignored",
        hint="ignoring dense_threshold",
    ),
    Mutant(
        "check_dead_and_dense",
        [("(f > 0).float().mean(dim=0)", "(f > 0).float().mean(dim=1)")],
        "density-over-latents",
        "wrong shape",
    ),
    # --- 5.8 aux_k_loss
    Mutant(
        "check_aux_k_loss",
        [('dead_pre = pre.masked_fill(~dead, float("-inf"))', "dead_pre = pre")],
        "aux-live-latents-picked",
        hint="picking among all latents",
    ),
    Mutant(
        "check_aux_k_loss",
        [("    if n_dead == 0:\n        return pre.new_zeros(())\n", "")],
        "aux-nonzero-when-none-dead",
        hint="not returning 0",
    ),
    Mutant(
        "check_aux_k_loss",
        [(AUX_RETURN, "return (f_aux @ W_dec - residual).pow(2).mean()")],
        "aux-mean-over-d_in",
        hint="averaging the squared error",
    ),
    Mutant(
        "check_aux_k_loss",
        [(AUX_RETURN, "return (f_aux @ W_dec + residual).pow(2).sum(dim=-1).mean()")],
        "aux-sign",
        hint="adding the residual",
    ),
    Mutant(
        "check_aux_k_loss",
        [
            (
                AUX_SCATTER,
                "f_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())",
            )
        ],
        "aux-relu",
        hint="a ReLU on the picked",
    ),
    Mutant(
        "check_aux_k_loss",
        [("top = dead_pre.topk(min(k_aux, n_dead), dim=-1)", "top = dead_pre.topk(k_aux, dim=-1)")],
        "aux-k-not-capped",
        "min(k_aux, n_dead)",
    ),
    # --- 5.9 ce_loss_recovered
    Mutant(
        "check_ce_loss_recovered",
        [("act[:, 1:] = sae(act[:, 1:])", "act = sae(act)")],
        "ce-splices-bos",
        hint="position 0",
    ),
    Mutant(
        "check_ce_loss_recovered",
        [
            (
                '"ce_loss_score": (ablated - with_sae) / (ablated - clean)',
                '"ce_loss_score": (with_sae - clean) / (ablated - clean)',
            )
        ],
        "ce-score-upside-down",
        hint="upside down",
    ),
    Mutant(
        "check_ce_loss_recovered",
        [("act[:, 1:] = 0.0", "act[:, 1:] = act[:, 1:].mean(dim=(0, 1))")],
        "ce-mean-ablation",
        hint="mean-ablation",
    ),
    Mutant(
        "check_ce_loss_recovered",
        [
            (
                SPLICED,
                "model.add_hook(hook_name, splice)\n        with_sae = metrics.lm_loss(model(tokens), tokens).item()",
            )
        ],
        "ce-hook-left-attached",
        "still had hooks attached",
    ),
    # --- 5.10 top_activations
    Mutant(
        "check_top_activations",
        [
            (
                "return values, flat // n_pos, flat % n_pos",
                "return values, flat % n_pos, flat // n_pos",
            )
        ],
        "top-rows-positions-swapped",
        hint="swapping rows and positions",
    ),
    Mutant(
        "check_top_activations",
        [("n_pos = acts.shape[1]", "n_pos = acts.shape[0]")],
        "top-divides-by-batch",
        hint="by the batch size",
    ),
    Mutant(
        "check_top_activations",
        [("acts.flatten().topk(k)", "acts.flatten().topk(k, largest=False)")],
        "top-smallest",
        hint="the k smallest",
    ),
    # --- 5.11 precision_recall
    Mutant(
        "check_precision_recall",
        [("return precision, recall", "return recall, precision")],
        "pr-swapped",
        hint="swapped",
    ),
    Mutant(
        "check_precision_recall",
        [("precision = hits / n_fires if n_fires else 0.0", "precision = hits / n_fires")],
        "pr-divides-by-zero",
        "ZeroDivisionError",
    ),
    Mutant(
        "check_precision_recall",
        [("hits = (fires & labels).sum().item()", "hits = (fires == labels).sum().item()")],
        "pr-matches-not-hits",
        hint="counting matches",
    ),
    # --- 5.12 clamp_latent_hook
    Mutant(
        "check_clamp_latent_hook",
        [(CLAMP, "act[:, 1:] = act[:, 1:] + value * sae.W_dec[latent]")],
        "clamp-adds-instead",
        hint="steering by addition",
    ),
    Mutant(
        "check_clamp_latent_hook",
        [
            (
                "f = sae.encode(act[:, 1:])[..., latent]  # [batch pos-1]",
                "f = sae.encode(act)[..., latent]",
            ),
            (CLAMP, "act = act + (value - f).unsqueeze(-1) * sae.W_dec[latent]"),
        ],
        "clamp-bos-too",
        hint="position 0",
    ),
    Mutant(
        "check_clamp_latent_hook",
        [
            (
                CLAMP,
                "f_all = sae.encode(act[:, 1:])\n    f_all[..., latent] = value\n    act[:, 1:] = sae.decode(f_all)",
            )
        ],
        "clamp-drops-error-term",
        hint="error term",
    ),
    Mutant(
        "check_clamp_latent_hook",
        [("(value - f).unsqueeze(-1) * sae.W_dec[latent]", "(value - f).unsqueeze(-1)")],
        "clamp-without-direction",
        hint="instead of along W_dec[latent]",
    ),
    # --- issue 14: one mutant per class of wrong answers that used to pass (no sampled quantity here)
    # 1. changing the inputs
    Mutant(
        "check_aux_k_loss",
        [
            (
                'dead_pre = pre.masked_fill(~dead, float("-inf"))',
                'dead_pre = pre.masked_fill_(~dead, float("-inf"))',
            )
        ],
        "aux-masks-pre-in-place",
        "changed its argument `pre` in place",
    ),
    Mutant(
        "check_relu_sae_loss",
        [
            (
                "    f = sae.encode(x)\n    x_hat",
                "    sae.normalize_decoder()\n    f = sae.encode(x)\n    x_hat",
            )
        ],
        "loss-normalizes-the-sae",
        "changed its argument `sae` (its W_dec) in place",
    ),
    # 2. right values, wrong gradients
    Mutant(
        "check_sparse_autoencoder",
        [
            (
                "pre = (x - self.b_dec) @ self.W_enc + self.b_enc",
                "pre = (x - self.b_dec) @ self.W_enc.detach() + self.b_enc",
            )
        ],
        "sae-encoder-detached",
        "no gradient reaches `W_enc`",
    ),
    Mutant(
        "check_aux_k_loss",
        [
            (
                AUX_SCATTER,
                "f_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values.detach())",
            )
        ],
        "aux-values-detached",
        "no gradient reaches `pre`",
    ),
    # 3. arguments that never change: "density-threshold-ignored" above; 4. loose types
    Mutant(
        "check_feature_recovery",
        [("cosines.max(dim=1).values.mean().item()", "cosines.max(dim=1).values.mean()")],
        "recovery-returns-a-tensor",
        "the chapter relies on that type",
    ),
    Mutant(
        "check_precision_recall",
        [("hits = (fires & labels).sum().item()", "hits = (fires & labels).sum()")],
        "pr-returns-tensors",
        "the chapter relies on that type",
    ),
    # 5. boundaries
    Mutant(
        "check_dead_and_dense",
        [
            (
                "return density == 0, density > dense_threshold",
                "return density == 0, density >= dense_threshold",
            )
        ],
        "density-at-least",
        hint="`>=` where the text says more than",
    ),
    # 7. only the first case right: a fixed latent
    Mutant(
        "check_clamp_latent_hook",
        [
            ("sae.encode(act[:, 1:])[..., latent]", "sae.encode(act[:, 1:])[..., 3]"),
            ("* sae.W_dec[latent]", "* sae.W_dec[3]"),
        ],
        "clamp-latent-3",
        "latent 7 clamped",
    ),
    # the mistake issue 14 names: zeroing <bos> too
    Mutant(
        "check_ce_loss_recovered",
        [("act[:, 1:] = 0.0", "act[:] = 0.0")],
        "ce-zeroes-bos",
        hint="zero-ablating position 0",
    ),
]


class TestChapter05Checks(ChapterChecks):
    module = ch05
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


@pytest.mark.parametrize("bad", ["a string", 3, None])
def test_a_check_given_something_else_than_a_function_says_so(bad):
    with pytest.raises(CheckFailed, match="pass your function"):
        ch05.check_explained_variance(bad)


# Class 8 of issue 14: a check passes exactly the types the signature promises (the learner's own
# SparseAutoencoder class where it says `sae: SparseAutoencoder`), so code relying on them passes.
STRICT_EDITS = {
    "check_relu_sae_loss": [
        (
            "    f = sae.encode(x)\n    x_hat",
            "    assert isinstance(sae, SparseAutoencoder)\n    f = sae.encode(x)\n    x_hat",
        )
    ],
    "check_training_step": [
        (
            "    loss, _, _ = relu_sae_loss(",
            "    assert isinstance(sae, SparseAutoencoder) and type(l1_coefficient) is float\n    loss, _, _ = relu_sae_loss(",
        )
    ],
    "check_dead_and_dense": [
        (
            "    density = (f > 0)",
            "    assert type(dense_threshold) is float\n    density = (f > 0)",
        )
    ],
    "check_clamp_latent_hook": [
        (
            "    f = sae.encode(act[:, 1:])",
            "    assert type(latent) is int and type(value) is float\n    f = sae.encode(act[:, 1:])",
        )
    ],
}


@pytest.mark.parametrize("check_name", sorted(STRICT_EDITS))
def test_code_relying_on_the_annotated_types_passes(check_name, capsys):
    namespace = solution_cells.solution_namespace(STEM, STRICT_EDITS[check_name])
    getattr(ch05, check_name)(*(namespace[arg] for arg in CHECK_ARGS[check_name]))
    assert "all checks passed" in capsys.readouterr().out
