"""A green check means a right answer: every chapter-02 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/02_induction_heads.py` by `solution_cells`, so they follow the solution
as it changes; an edit that stops matching the solution fails loudly (the tests are
`check_harness.ChapterChecks`). The last tests check the reference answers themselves
against TransformerLens and `mi_tutorial.train`.
"""

from __future__ import annotations

import math

import optional_sections
import pytest
import torch
from check_harness import ChapterChecks, Mutant
from transformer_lens.head_detector import detect_head

from mi_tutorial import metrics, models
from mi_tutorial.checks import ch02
from mi_tutorial.checks._keys import induction as reference
from mi_tutorial.data import repeated_tokens

STEM = "02_induction_heads"

# What each check is given, by name in the chapter's namespace; in exercise order (2.1, 2.2, …).
CHECK_ARGS = {
    "check_split_losses": ["split_losses"],
    "check_prev_token_score": ["prev_token_score"],
    "check_duplicate_token_score": ["duplicate_token_score"],
    "check_induction_score": ["induction_score"],
    "check_logit_attribution": ["logit_attribution"],
    "check_mean_ablate_head": ["mean_ablate_head"],
    "check_repeated_half_ablation": ["repeated_half_ablation"],
    "check_full_ov_circuit": ["full_ov_circuit"],
    "check_copying_score": ["copying_score"],
    "check_positional_pattern": ["positional_pattern"],
    "check_composition_score": ["composition_score"],
    "check_composition_scores": ["composition_scores"],
    "check_composition_baseline": ["composition_baseline"],
}

ABLATION_CALL = "logits = model.run_with_hooks(tokens, fwd_hooks=[hook])"
ADD_HOOK = "model.add_hook(*hook)\n            logits = model(tokens)"
COMPOSITION_LINE = "out[h0, h1] = composition_score(model.OV[0, h0], W_B)"
B_LINE = 'W_B = {"Q": model.QK[1, h1], "K": model.QK[1, h1].T, "V": model.OV[1, h1]}[kind]'
FACTORS = "torch.randn(d_model, d_head, generator=generator), torch.randn(d_head, d_model, generator=generator)"

MUTANTS = [
    # --- 2.1 split_losses
    Mutant("check_split_losses", [("start=repeat_start + 1)", "start=repeat_start)")], "split-scores-first-repeated-token", hint="scoring the repeated run's first token"),
    Mutant(
        "check_split_losses",
        [("metrics.lm_loss(logits[:, :repeat_start], tokens[:, :repeat_start])", "metrics.lm_loss(logits[:, : repeat_start + 1], tokens[:, : repeat_start + 1])")],
        "split-first-half-one-too-long",
        hint="in the first half",
    ),
    Mutant("check_split_losses", [("return torch.stack([first, repeated])", "return torch.stack([repeated, first])")], "split-halves-swapped", hint="wrong order"),
    # class 7 (only one case right): the run length hard-coded
    Mutant("check_split_losses", [("repeat_start = 1 + half_len", "repeat_start = 1 + 5")], "split-hard-coded-half_len", hint="a hard-coded half_len of 5"),
    Mutant("check_split_losses", [("repeat_start = 1 + half_len", "repeat_start = half_len")], "split-forgot-bos", hint="forgetting <bos>"),
    Mutant("check_split_losses", [("return torch.stack([first, repeated])", "return first, repeated")], "split-returns-tuple", "return torch.stack([first, repeated])"),
    # --- 2.2 prev_token_score
    Mutant("check_prev_token_score", [("pattern.diagonal(offset=-1, dim1=-2, dim2=-1)", "pattern.diagonal(offset=0, dim1=-2, dim2=-1)")], "prev-main-diagonal", hint="main diagonal"),
    Mutant("check_prev_token_score", [("pattern.diagonal(offset=-1, dim1=-2, dim2=-1)", "pattern.diagonal(offset=-2, dim1=-2, dim2=-1)")], "prev-two-back", hint="two below"),
    Mutant("check_prev_token_score", [("dim2=-1).mean(dim=(0, 2))  # diagonal", "dim2=-1).sum(dim=-1).mean(dim=0)  # diagonal")], "prev-summed", hint="summing over the queries"),
    Mutant("check_prev_token_score", [("dim2=-1).mean(dim=(0, 2))  # diagonal", "dim2=-1).mean(dim=(0, 1))  # diagonal")], "prev-mean-over-heads", "one score per head"),
    # --- 2.3 duplicate_token_score
    Mutant("check_duplicate_token_score", [("diagonal=-1)  # k_pos < q_pos", "diagonal=0)  # k_pos < q_pos")], "dup-own-duplicate", hint="its own duplicate"),
    Mutant(
        "check_duplicate_token_score",
        [("return (on_copies * has_copy[:, None]).sum(dim=(0, 2)) / has_copy.sum()", "return on_copies.mean(dim=(0, 2))")],
        "dup-average-every-query",
        hint="averaging over every query",
    ),
    # class 1 (inputs): masking the caller's pattern in place
    Mutant("check_duplicate_token_score", [("on_copies = (pattern * copies[:, None]).sum(dim=-1)", "on_copies = pattern.mul_(copies[:, None]).sum(dim=-1)")], "dup-in-place", "changed its argument `pattern` in place"),
    Mutant("check_duplicate_token_score", [("same = tokens[:, :, None] == tokens[:, None, :]", "same = tokens[:, :, None] != tokens[:, None, :]")], "dup-different-tokens", hint="*other* tokens"),
    Mutant("check_duplicate_token_score", [("/ has_copy.sum()", "/ has_copy.shape[1]")], "dup-divide-by-positions", hint="dividing by the number of positions"),
    # --- 2.4 induction_score
    Mutant("check_induction_score", [("offset=-(half_len - 1)", "offset=-half_len")], "ind-earlier-copy-itself", hint="earlier copy of the token itself"),
    Mutant("check_induction_score", [("offset=-(half_len - 1)", "offset=-(half_len + 1)")], "ind-token-before-copy", hint="token before the earlier copy"),
    Mutant("check_induction_score", [("return stripe[..., -half_len:].mean(", "return stripe.mean(")], "ind-first-half-included", hint="whole stripe"),
    Mutant("check_induction_score", [("stripe[..., -half_len:]", "stripe[..., :half_len]")], "ind-first-entries", hint="first half_len entries"),
    # --- 2.5 logit_attribution
    Mutant("check_logit_attribution", [("model.W_U[:, tokens[:, 1:]]", "model.W_U[:, tokens[:, :-1]]")], "dla-current-token", hint="current token"),
    Mutant("check_logit_attribution", [("torch.stack(components)[:, :, :-1]", "torch.stack(components)[:, :, 1:]")], "dla-shift-wrong-way", hint="shifting the wrong way"),
    Mutant("check_logit_attribution", [("components.extend(per_head)", "components.extend(per_head + model.b_O[layer])")], "dla-b_O-per-head", hint="adding b_O to every head"),
    Mutant("check_logit_attribution", [("cache[\"z\", layer], model.W_O[layer]", "cache[\"z\", layer], model.W_O[0]")], "dla-W_O-of-layer-0", hint="layer 0's W_O"),
    Mutant("check_logit_attribution", [('components = [cache["embed"], cache["pos_embed"]]', 'components = [cache["pos_embed"], cache["embed"]]')], "dla-embeddings-swapped", hint="pos_embed before embed"),
    # --- 2.6 mean_ablate_head
    Mutant("check_mean_ablate_head", [("z[:, :, head].mean(dim=0, keepdim=True)  # [1 pos", "z[:, :, head].mean(dim=1, keepdim=True)  # [1 pos")], "mean-over-positions", hint="mean over positions"),
    Mutant("check_mean_ablate_head", [("z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)", "z[:, :, head] = 0.0")], "mean-zeroes", hint="zero-ablation"),
    Mutant("check_mean_ablate_head", [("z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)", "z[:] = z.mean(dim=0, keepdim=True)")], "mean-every-head", hint="every head of the layer"),
    Mutant(
        "check_mean_ablate_head",
        [("z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)  # [1 pos d_head] broadcasts over the batch\n    return z",
          "z = z.clone()\n    z[:, :, head] = z[:, :, head].mean(dim=0, keepdim=True)")],
        "mean-copy-returns-None",
        hint="not changing z at all",
    ),
    # --- 2.7 repeated_half_ablation
    Mutant(
        "check_repeated_half_ablation",
        [("= split_losses(logits, tokens, half_len)[1] - clean", "= split_losses(logits, tokens, half_len)[1]")],
        "abl-ablated-not-increase",
        hint="ablated loss instead of its increase",
    ),
    Mutant(
        "check_repeated_half_ablation",
        [("clean = split_losses(model(tokens), tokens, half_len)[1]", "clean = metrics.lm_loss(model(tokens), tokens)"),
         ("= split_losses(logits, tokens, half_len)[1] - clean", "= metrics.lm_loss(logits, tokens) - clean")],
        "abl-whole-sequence",
        hint="whole sequence",
    ),
    # class 3 (an argument that never changes): `ablate` ignored
    Mutant("check_repeated_half_ablation", [("functools.partial(ablate, head=head)", "functools.partial(mean_ablate_head, head=head)")], "halfabl-ignores-ablate", hint="ignoring `ablate`"),
    Mutant("check_repeated_half_ablation", [("= split_losses(logits, tokens, half_len)[1] - clean", "= clean - split_losses(logits, tokens, half_len)[1]")], "abl-sign-flipped", hint="sign flipped"),
    Mutant("check_repeated_half_ablation", [(ABLATION_CALL, ADD_HOOK)], "abl-hooks-left-attached", "still had hooks attached"),
    Mutant(
        "check_repeated_half_ablation",
        [(ABLATION_CALL, ADD_HOOK), ("    return increase\n", "    model.reset_hooks()\n    return increase\n")],
        "abl-hooks-reset-only-at-the-end",
        hint="pile up",
    ),
    # --- 2.8 full_ov_circuit
    Mutant("check_full_ov_circuit", [("return model.W_E @ model.OV[layer, head] @ model.W_U", "return (model.W_E @ model.OV[layer, head] @ model.W_U).T")], "ov-transposed", hint="its transpose"),
    Mutant("check_full_ov_circuit", [("model.W_E @ model.OV[layer, head] @", "model.W_E @ model.OV[layer, head].T @")], "ov-W_OV-transposed", hint="W_OV transposed"),
    Mutant("check_full_ov_circuit", [("model.OV[layer, head] @ model.W_U", "model.OV[layer, head] @ model.W_E.T")], "ov-tied-unembedding", hint="W_E^T as the unembedding"),
    Mutant("check_full_ov_circuit", [("model.W_E @ model.OV[layer, head] @", "model.W_E @ model.OV[0, head] @")], "ov-layer-0", hint="layer 0's W_OV"),
    # --- 2.9 copying_score
    Mutant("check_copying_score", [("full_ov.argmax(dim=-1)", "full_ov.argmax(dim=0)")], "copy-argmax-columns", hint="over each column"),
    Mutant("check_copying_score", [("full_ov.shape[0])).float().mean().item()", "full_ov.shape[0])).sum().item()")], "copy-count", hint="number of copying tokens"),
    Mutant("check_copying_score", [("return (top_output == torch.arange(full_ov.shape[0]))", "return (full_ov.diagonal() > 0)")], "copy-positive-diagonal", hint="positive diagonal"),
    Mutant("check_copying_score", [("return (top_output == torch.arange(full_ov.shape[0])).float().mean().item()", "return top_output")], "copy-returns-argmax", "single number"),
    # --- 2.10 positional_pattern
    Mutant("check_positional_pattern", [(".AB / model.cfg.d_head**0.5  # [n_ctx n_ctx]", ".AB  # [n_ctx n_ctx]")], "pos-no-scaling", hint="sqrt(d_head)"),
    Mutant("check_positional_pattern", [('return scores.masked_fill(future, float("-inf")).softmax(dim=-1)', "return scores.softmax(dim=-1)")], "pos-no-mask", hint="causal mask"),
    Mutant("check_positional_pattern", [('float("-inf")).softmax(dim=-1)', 'float("-inf")).softmax(dim=-2)')], "pos-softmax-over-queries", hint="over the queries"),
    Mutant(
        "check_positional_pattern",
        [("future = torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), diagonal=1)", "future = torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), diagonal=0)")],
        "pos-mask-diagonal",
        "NaN",
    ),
    # --- 2.11 composition_score
    Mutant("check_composition_score", [("return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()", "return (W_A @ W_B).norm().item()")], "comp-no-normalization", hint="leaving out the normalization"),
    Mutant("check_composition_score", [("(W_A.norm() * W_B.norm())", "W_A.norm()")], "comp-one-norm", hint="dividing by ||W_A|| only"),
    Mutant("check_composition_score", [("((W_A @ W_B).norm()", "((W_B @ W_A).norm()")], "comp-order-reversed", hint="other order"),
    # class 4 (exact type): a 0-d tensor where the signature promises a float
    Mutant("check_composition_score", [("return ((W_A @ W_B).norm() / (W_A.norm() * W_B.norm())).item()", "return (W_A @ W_B).norm() / (W_A.norm() * W_B.norm())")], "comp-tensor-not-float", "should be exactly a float"),
    Mutant("check_composition_score", [("(W_A.norm() * W_B.norm())", "(W_A.norm() + W_B.norm())")], "comp-sum-of-norms", hint="sum of the norms"),
    # --- 2.12 composition_scores
    Mutant("check_composition_scores", [('"K": model.QK[1, h1].T', '"K": model.QK[1, h1]')], "comps-K-not-transposed", hint="Q-composition"),
    Mutant("check_composition_scores", [(COMPOSITION_LINE, "out[h1, h0] = composition_score(model.OV[0, h0], W_B)")], "comps-transposed", hint="rows and columns swapped"),
    Mutant("check_composition_scores", [(COMPOSITION_LINE, "out[h0, h1] = composition_score(W_B, model.OV[0, h0])")], "comps-product-reversed", hint="other order"),
    Mutant(
        "check_composition_scores",
        [(COMPOSITION_LINE, "out[h0, h1] = composition_score(model.OV[1, h0], W_B)"),
         (B_LINE, 'W_B = {"Q": model.QK[0, h1], "K": model.QK[0, h1].T, "V": model.OV[0, h1]}[kind]')],
        "comps-layers-swapped",
        hint="layers swapped",
    ),
    Mutant(
        "check_composition_scores",
        [("""    if kind not in ("Q", "K", "V"):\n        raise ValueError(f"kind must be 'Q', 'K' or 'V', got {kind!r}")\n""", "")],
        "comps-no-kind-validation",
        "not ValueError",
    ),
    # --- 2.13 composition_baseline
    Mutant("check_composition_baseline", [(FACTORS, FACTORS.replace("randn", "rand"))], "base-uniform", hint="torch.rand"),
    Mutant("check_composition_baseline", [("return total / n_samples", "return total")], "base-sum", hint="summing the scores"),
    # class 6 (statistics): the expected value without sampling, and an estimate from one pair
    Mutant("check_composition_baseline", [("return total / n_samples", "return d_model**-0.5")], "base-constant", "does not depend on the generator"),
    Mutant("check_composition_baseline", [("for _ in range(n_samples):", "for _ in range(1):"), ("return total / n_samples", "return total")], "base-one-pair", hint="one random pair"),
    Mutant(
        "check_composition_baseline",
        [(FACTORS, "torch.randn(d_head, d_model, generator=generator), torch.randn(d_model, d_head, generator=generator)")],
        "base-factors-swapped",
        hint="factors in the other order",
    ),
    Mutant("check_composition_baseline", [(FACTORS, "torch.randn(d_model, d_head), torch.randn(d_head, d_model)")], "base-ignores-generator", "does not depend on the generator"),
]


class TestChapter02Checks(ChapterChecks):
    module = ch02
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


# --- the reference answers themselves ----------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return models.load_toy_model("attn-only-2l")


def test_reference_scores_agree_with_head_detector(toy):
    """detect_head divides by all of a head's attention (every query); the course's scores by
    the queries that have a target. On runs without repeats inside them, the counts are known."""
    half_len, batch = 9, 6
    tokens = repeated_tokens(batch, half_len, toy.cfg.d_vocab, seed=5)
    n_pos = tokens.shape[1]
    texts = [toy.to_string(sequence[1:]) for sequence in tokens]
    assert torch.equal(toy.to_tokens(texts), tokens)
    with torch.no_grad():
        _, cache = toy.run_with_cache(tokens)
    duplicate = torch.stack([reference.duplicate_token_scores(cache["pattern", layer], tokens) for layer in range(2)])
    ours = {
        "previous_token_head": (metrics.prev_token_scores(toy, tokens), (n_pos - 1) / n_pos),
        "duplicate_token_head": (duplicate, half_len / n_pos),
        "induction_head": (metrics.induction_scores(toy, tokens, half_len), half_len / n_pos),
    }
    for name, (scores, fraction) in ours.items():
        torch.testing.assert_close(detect_head(toy, texts, name), scores * fraction, atol=1e-5, rtol=1e-4, msg=name)


def test_reference_split_losses_match_the_recipe_metrics(toy):
    tokens = repeated_tokens(20, 12, toy.cfg.d_vocab, seed=6)
    measured = metrics.induction_metrics(toy, tokens, 12)
    with torch.no_grad():
        first, repeated = reference.split_losses(toy(tokens), tokens, 12).tolist()
    assert first == pytest.approx(measured["first_half_loss"], rel=1e-6)
    assert repeated == pytest.approx(measured["repeated_half_loss"], rel=1e-6)


def test_reference_logit_attribution_sums_to_the_logits(toy):
    tokens = repeated_tokens(3, 8, toy.cfg.d_vocab, seed=7)
    with torch.no_grad():
        logits, cache = toy.run_with_cache(tokens)
        attribution = reference.logit_attribution(cache, toy, tokens)
        biases = (toy.b_O.sum(dim=0) @ toy.W_U + toy.b_U)[tokens[:, 1:]]
    correct = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    torch.testing.assert_close(attribution.sum(dim=-1) + biases, correct, atol=1e-4, rtol=1e-4)


def test_reference_composition_baseline_is_near_one_over_sqrt_d_model():
    """For independent random matrices, ||AB||_F / (||A||_F ||B||_F) concentrates near 1/sqrt(d_model)."""
    for d_model, d_head in [(64, 16), (32, 8)]:
        value = reference.composition_baseline(d_model, d_head, 200, torch.Generator().manual_seed(0))
        assert value == pytest.approx(1 / math.sqrt(d_model), rel=0.1)


def test_reference_rejects_bad_input_clearly():
    tokens = repeated_tokens(2, 5, 11, seed=0)
    with pytest.raises(ValueError, match="half_len=6"):
        reference.split_losses(torch.zeros(2, 11, 11), tokens, 6)
    distinct = torch.arange(6)[None]
    with pytest.raises(ValueError, match="no token appears twice"):
        reference.duplicate_token_scores(torch.ones(1, 2, 6, 6) / 6, distinct)
    with pytest.raises(ValueError, match="kind must be"):
        reference.layer_composition_scores(None, "q")


# --- the optional GPT-2 section, offline --------------------------------------------------------

GPT2_LOAD_CELL = 'models.load_pretrained("gpt2")'
GPT2_RUN_CELL = "if gpt2 is not None:"


@pytest.fixture(scope="module")
def tiny_gpt2_folder(tmp_path_factory):
    """A 2-layer GPT-2 with a 70-word vocabulary and 128 positions: what `load_pretrained("gpt2")`
    returns, shrunk (the section uses runs of 50 distinct tokens)."""
    return optional_sections.save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), [f"w{i}" for i in range(69)])


def _run_gpt2_section(monkeypatch, load, run_gpt2: bool) -> dict:
    return optional_sections.run_section(monkeypatch, STEM, load, flag="RUN_GPT2", run=run_gpt2,
                                         load_cell=GPT2_LOAD_CELL, run_cell=GPT2_RUN_CELL, before=("def score_heads",))


def test_gpt2_section_is_skipped_by_default_without_loading_anything(offline, monkeypatch, capsys):
    optional_sections.check_skipped_by_default(_run_gpt2_section, monkeypatch, capsys, result="gpt2", flag="RUN_GPT2")


def test_gpt2_section_reports_a_failed_load_and_skips(offline, monkeypatch, capsys):
    optional_sections.check_failed_load_is_reported(_run_gpt2_section, monkeypatch, capsys, result="gpt2", says="GPT-2 could not be loaded")


def test_gpt2_section_runs_the_detectors_on_a_gpt2_model(offline, monkeypatch, capsys, tiny_gpt2_folder):
    real_load = models.load_pretrained
    namespace = _run_gpt2_section(monkeypatch, lambda name: real_load(str(tiny_gpt2_folder)), run_gpt2=True)
    out = capsys.readouterr().out
    assert "GPT-2 previous-token heads" in out and "GPT-2 induction heads" in out, out
    gpt2_scores = namespace["gpt2_scores"]
    assert set(gpt2_scores) == {"previous-token", "duplicate-token", "induction"}
    assert all(table.shape == (2, 2) and torch.isfinite(table).all() for table in gpt2_scores.values())
