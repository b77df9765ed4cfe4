"""A green check means a right answer: every chapter-03 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/03_activation_patching.py` by `solution_cells`, so they follow the
solution as it changes; an edit that stops matching the solution fails loudly. The optional
GPT-2 section is tested offline, on a tiny GPT-2 saved to a local folder.
"""

from __future__ import annotations

import optional_sections
import pytest
import torch
from check_harness import ChapterChecks, Mutant

from mi_tutorial import models
from mi_tutorial.checks import ch03

STEM = "03_activation_patching"

# What each check is given, by name in the chapter's namespace; in exercise order (3.1, 3.2, …).
CHECK_ARGS = {
    "check_logit_diff": ["logit_diff"],
    "check_normalized_metric": ["normalized_metric"],
    "check_patch_layer_pos": ["patch_layer_pos"],
    "check_patch_heads_all_pos": ["patch_heads_all_pos"],
    "check_patch_heads_by_pos": ["patch_heads_by_pos"],
    "check_denoise_and_noise": ["denoise_and_noise"],
    "check_attention_between": ["attention_between"],
    "check_path_patch_to_heads": ["path_patch_to_heads"],
    "check_path_patch_to_mlps": ["path_patch_to_mlps"],
    "check_attribution_patch_heads": ["attribution_patch_heads"],
    "check_run_with_circuit": ["run_with_circuit"],
    "check_bootstrap_ci": ["bootstrap_ci"],
}

LAYER_POS_PATCH = "act[:, pos] = clean[:, pos]  # act is this run's own tensor: editing it is safe\n                return act"
HEAD_PATCH = "act[:, :, head] = clean[:, :, head]\n                return act"
MLP_LAYERS = "for layer in range(sender_layer, model.cfg.n_layers):"
RECEIVER_INPUT = "corrupted_cache[\"resid_pre\", layer] + delta"

MUTANTS = [
    # --- 3.1 logit_diff
    Mutant("check_logit_diff", [("last = logits[:, -1]", "last = logits[:, 0]")], "ld-first-position", hint="the first position"),
    Mutant("check_logit_diff", [("return last[rows, answers] - last[rows, wrong]", "return last[rows, wrong] - last[rows, answers]")],
           "ld-sign-flipped", hint="sign flipped"),
    Mutant("check_logit_diff", [("last = logits[:, -1]", "last = logits[:, -1].softmax(dim=-1)")], "ld-probabilities",
           hint="probabilities"),
    Mutant("check_logit_diff", [("return last[rows, answers] - last[rows, wrong]", "return last[:, answers] - last[:, wrong]")],
           "ld-batch-by-batch", "a [batch, batch] table"),
    Mutant("check_logit_diff", [("return last[rows, answers] - last[rows, wrong]", "return (last[rows, answers] - last[rows, wrong]).mean()")],
           "ld-mean", "a single number (the mean over prompts?)"),
    # class 4 (exact dtype): a float64 result
    Mutant("check_logit_diff", [("return last[rows, answers] - last[rows, wrong]", "return (last[rows, answers] - last[rows, wrong]).double()")],
           "ld-float64", "the chapter needs exactly torch.float32"),
    # --- 3.2 normalized_metric
    # class 2 (gradients): right values, detached from the logits (Part 4 differentiates the metric)
    Mutant("check_normalized_metric",
           [("return (logit_diff(logits, answers, wrong).mean() - corrupted_ld)", "return (logit_diff(logits.detach(), answers, wrong).mean() - corrupted_ld)")],
           "metric-detached", "carries no gradient"),
    Mutant("check_normalized_metric",
           [("return (logit_diff(logits, answers, wrong).mean() - corrupted_ld) / (clean_ld - corrupted_ld)",
             "return logit_diff(logits, answers, wrong).mean()")], "metric-not-normalized", hint="not normalized"),
    Mutant("check_normalized_metric",
           [("return (logit_diff(logits, answers, wrong).mean() - corrupted_ld) / (clean_ld - corrupted_ld)",
             "return (clean_ld - logit_diff(logits, answers, wrong).mean()) / (clean_ld - corrupted_ld)")],
           "metric-the-other-way-round", hint="the other way round"),
    Mutant("check_normalized_metric",
           [("return (logit_diff(logits, answers, wrong).mean() - corrupted_ld) / (clean_ld - corrupted_ld)",
             "return logit_diff(logits, answers, wrong).mean() / clean_ld")], "metric-divided-by-clean", hint="dividing by clean_ld"),
    Mutant("check_normalized_metric",
           [("return (logit_diff(logits, answers, wrong).mean() - corrupted_ld)", "return (logit_diff(logits, answers, wrong) - corrupted_ld)")],
           "metric-per-prompt", "a single number"),
    Mutant("check_normalized_metric", [("/ (clean_ld - corrupted_ld)\n", "/ (clean_ld - corrupted_ld)).item()\n"),
                                        ("return (logit_diff(logits, answers, wrong).mean()", "return ((logit_diff(logits, answers, wrong).mean()")],
           "metric-item", "do not call .item()"),
    # --- 3.3 patch_layer_pos
    Mutant("check_patch_layer_pos",
           [(LAYER_POS_PATCH, "patched = clean.clone()\n                patched[:, pos] = act[:, pos]\n                return patched")],
           "layer-pos-corrupted-into-clean", hint="the corrupted activation into the clean one"),
    Mutant("check_patch_layer_pos", [(LAYER_POS_PATCH, "clean[:, pos] = act[:, pos]\n                return clean")],
           "layer-pos-forgot-to-clone", "changed its argument `clean_cache`"),
    Mutant("check_patch_layer_pos", [("act[:, pos] = clean[:, pos]  #", "act[:] = clean  #")], "layer-pos-every-position",
           hint="every position at once"),
    Mutant("check_patch_layer_pos", [("act[:, pos] = clean[:, pos]  #", "act[:, : pos + 1] = clean[:, : pos + 1]  #")],
           "layer-pos-up-to-pos", hint="up to and including pos"),
    Mutant("check_patch_layer_pos",
           [("logits = model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, patch_position)])",
             "model.add_hook(hook_name, patch_position)\n                logits = model(corrupted_tokens)")],
           "layer-pos-hooks-left-on", "still had hooks attached"),
    Mutant("check_patch_layer_pos", [("hook_name = get_act_name(act_name, layer)\n        clean = clean_cache[hook_name]  # [batch pos d_model]",
                                      "hook_name = get_act_name(act_name, 0)\n        clean = clean_cache[hook_name]  # [batch pos d_model]")],
           "layer-pos-always-layer-0", hint="patching layer 0 at every layer"),
    # --- 3.4 patch_heads_all_pos
    Mutant("check_patch_heads_all_pos", [('if act_name == "pattern":  # [batch head q_pos k_pos]', "if False:")],
           "heads-pattern-indexed-like-z", hint="indexing the pattern like z"),
    Mutant("check_patch_heads_all_pos", [(HEAD_PATCH, "act[:, head] = clean[:, head]\n                return act")],
           "heads-z-indexed-like-pattern", hint="like a pattern"),
    Mutant("check_patch_heads_all_pos", [(HEAD_PATCH, "act[:] = clean\n                return act")],
           "heads-every-head", hint="every head of the layer"),
    Mutant("check_patch_heads_all_pos",
           [(HEAD_PATCH, "patched = clean.clone()\n                    patched[:, :, head] = act[:, :, head]\n                    return patched\n                return act")],
           "heads-corrupted-into-clean", hint="the corrupted activation into the clean one"),
    # --- 3.5 patch_heads_by_pos
    Mutant("check_patch_heads_by_pos", [("z[:, pos, head] = clean_z[:, pos, head]", "z[:, :, head] = clean_z[:, :, head]")],
           "by-pos-every-position", hint="the head at every position"),
    Mutant("check_patch_heads_by_pos", [("z[:, pos, head] = clean_z[:, pos, head]", "z[:, pos] = clean_z[:, pos]")],
           "by-pos-every-head", hint="every head at that position"),
    Mutant("check_patch_heads_by_pos",
           [("results = torch.zeros(n_layers, n_pos, n_heads)", "results = torch.zeros(n_layers, n_heads, n_pos)"),
            ("results[layer, pos, head] = metric(logits)", "results[layer, head, pos] = metric(logits)")],
           "by-pos-layer-head-pos", "the order is [layer, pos, head]"),
    Mutant("check_patch_heads_by_pos", [("z[:, pos, head] = clean_z[:, pos, head]", "z[:, pos, head] = clean_z[:, pos - 1, head]")],
           "by-pos-off-by-one"),
    # --- 3.6 denoise_and_noise
    Mutant("check_denoise_and_noise", [("return torch.stack([denoising, noising])", "return torch.stack([noising, denoising])")],
           "both-swapped", hint="the two swapped"),
    Mutant("check_denoise_and_noise",
           [("noising = patch_heads_all_pos(model, clean_tokens, corrupted_z_cache", "noising = patch_heads_all_pos(model, corrupted_tokens, corrupted_z_cache")],
           "both-noising-on-corrupted-tokens", hint="the corrupted tokens with the corrupted cache"),
    Mutant("check_denoise_and_noise",
           [("noising = patch_heads_all_pos(model, clean_tokens, corrupted_z_cache", "noising = patch_heads_all_pos(model, clean_tokens, clean_z_cache")],
           "both-noising-with-clean-cache", hint="the clean tokens with the clean cache"),
    Mutant("check_denoise_and_noise", [("return torch.stack([denoising, noising])", "return torch.stack([denoising, noising], dim=-1)")],
           "both-stacked-last", "puts the two first"),
    # --- 3.7 attention_between
    Mutant("check_attention_between",
           [("positions[query], positions[key]].mean(dim=0)",
             "positions[query][0].repeat(len(rows)), positions[key][0].repeat(len(rows))].mean(dim=0)")],
           "attention-first-prompt-positions", hint="the first prompt's positions"),
    Mutant("check_attention_between", [("positions[query], positions[key]].mean(dim=0)", "positions[key], positions[query]].mean(dim=0)")],
           "attention-swapped", hint="swapped"),
    Mutant("check_attention_between", [("positions[query], positions[key]].mean(dim=0)", "positions[query], positions[key]].sum(dim=0)")],
           "attention-summed", hint="summing over prompts"),
    Mutant("check_attention_between", [("positions[query], positions[key]].mean(dim=0)", "positions[query], positions[key]].mean(dim=1)")],
           "attention-mean-over-layers", "wrong shape"),
    # --- 3.8 path_patch_to_heads
    Mutant("check_path_patch_to_heads", [(f"model.blocks[layer].ln1({RECEIVER_INPUT})", f"({RECEIVER_INPUT})")],
           "path-no-ln1", hint="skipping ln1"),
    Mutant("check_path_patch_to_heads",
           [("delta = z_diff @ model.W_O[sender_layer, sender_head]  # [batch pos d_model]: what the sender writes differently",
             "delta = clean_cache[\"z\", sender_layer][:, :, sender_head] @ model.W_O[sender_layer, sender_head]")],
           "path-whole-clean-output", hint="whole clean output"),
    Mutant("check_path_patch_to_heads", [("act[:, :, head] = receiver_input[:, :, head]", "act[:] = receiver_input")],
           "path-every-receiver-head", hint="every head of the receiver's layer"),
    Mutant("check_path_patch_to_heads", [("for layer in range(sender_layer + 1, model.cfg.n_layers):", "for layer in range(sender_layer, model.cfg.n_layers):")],
           "path-receivers-in-sender-layer", hint="the sender's own layer"),
    # --- 3.9 path_patch_to_mlps
    Mutant("check_path_patch_to_mlps", [(MLP_LAYERS, "for layer in range(sender_layer + 1, model.cfg.n_layers):")],
           "mlps-skip-sender-layer", hint="starting after the sender's layer"),
    Mutant("check_path_patch_to_mlps", [('block.ln2(corrupted_cache["resid_mid", layer] + delta)', 'block.ln2(corrupted_cache["resid_pre", layer] + delta)')],
           "mlps-resid-pre", hint="resid_pre instead of resid_mid"),
    Mutant("check_path_patch_to_mlps", [('block.mlp(block.ln2(corrupted_cache["resid_mid", layer] + delta))', 'block.mlp(corrupted_cache["resid_mid", layer] + delta)')],
           "mlps-no-ln2", hint="skipping ln2"),
    Mutant("check_path_patch_to_mlps",
           [("delta = z_diff @ model.W_O[sender_layer, sender_head]  # [batch pos d_model]\n",
             "delta = clean_cache[\"z\", sender_layer][:, :, sender_head] @ model.W_O[sender_layer, sender_head]\n")],
           "mlps-whole-clean-output", hint="whole clean output"),
    # --- 3.10 attribution_patch_heads
    Mutant("check_attribution_patch_heads", [('clean_cache["z", layer] - z.detach(), gradient', 'z.detach() - clean_cache["z", layer], gradient')],
           "attribution-sign-flipped", hint="the sign flipped"),
    Mutant("check_attribution_patch_heads", [('clean_cache["z", layer] - z.detach(), gradient', 'clean_cache["z", layer], gradient')],
           "attribution-clean-only", hint="clean z · gradient"),
    Mutant("check_attribution_patch_heads", [('clean_cache["z", layer] - z.detach(), gradient', 'z.detach(), gradient')],
           "attribution-corrupted-only", hint="corrupted z · gradient"),
    Mutant("check_attribution_patch_heads", [('clean_cache["z", layer] - z.detach(), gradient', '(clean_cache["z", layer] - z.detach()) / z.shape[0], gradient')],
           "attribution-averaged", hint="averaging over prompts"),
    Mutant("check_attribution_patch_heads", [('"batch pos head d_head, batch pos head d_head -> head"', '"batch pos head d_head, batch pos head d_head -> pos head"')],
           "attribution-per-position", "wrong shape"),
    # --- 3.11 run_with_circuit
    Mutant("check_run_with_circuit", [("if (layer, head) not in keep]", "if (layer, head) in keep]")],
           "circuit-inverted", hint="ablating the circuit's heads instead"),
    Mutant("check_run_with_circuit", [("z[:, :, ablated] = means[layer][:, ablated]", "z[:, :, ablated] = 0.0")],
           "circuit-zero-ablation", hint="zero-ablation"),
    Mutant("check_run_with_circuit", [("z[:, :, ablated] = means[layer][:, ablated]", "z[:, :, ablated] = means[layer][:, ablated].mean(dim=0)")],
           "circuit-one-mean-for-all-positions", hint="one mean for all positions"),
    # (circuit-lists-not-tuples is gone: the check passes the list of tuples the signature promises,
    # so `set(circuit)` and `(layer, head) in circuit` are right, as issue 14 asks)
    # --- 3.12 bootstrap_ci
    Mutant("check_bootstrap_ci",
           [("index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)",
             "index = torch.stack([torch.randperm(len(values), generator=generator) for _ in range(n_resamples)])")],
           "bootstrap-without-replacement", hint="without replacement"),
    Mutant("check_bootstrap_ci", [("alpha = (1 - confidence) / 2", "alpha = 1 - confidence")], "bootstrap-one-sided-alpha",
           hint="the quantiles at"),
    Mutant("check_bootstrap_ci", [("generator = torch.Generator().manual_seed(seed)", "generator = torch.Generator()")],
           "bootstrap-not-seeded", hint="not seeded with `seed`"),
    # class 6 (statistics): the resamples drawn from the global RNG, not tied to `seed`
    Mutant("check_bootstrap_ci",
           [("index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)",
             "index = torch.randint(0, len(values), (n_resamples, len(values)))")],
           "bootstrap-global-rng", hint="the global RNG"),
    # class 3 (an argument that never changes): n_resamples ignored
    Mutant("check_bootstrap_ci",
           [("index = torch.randint(0, len(values), (n_resamples, len(values)), generator=generator)",
             "index = torch.randint(0, len(values), (1000, len(values)), generator=generator)")],
           "bootstrap-ignores-n_resamples", hint="1000 resamples whatever n_resamples says"),
    Mutant("check_bootstrap_ci",
           [("return torch.stack([torch.quantile(resampled_means, alpha), torch.quantile(resampled_means, 1 - alpha)])",
             "middle = values.mean()\n    spread = 1.96 * values.std() / len(values) ** 0.5\n    return torch.stack([middle - spread, middle + spread])")],
           "bootstrap-normal-approximation", hint="the normal approximation"),
]


class TestChapter03Checks(ChapterChecks):
    module = ch03
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


# --- the optional GPT-2 section, offline --------------------------------------------------------

GPT2_LOAD_CELL = 'models.load_pretrained("gpt2")'
GPT2_RUN_CELL = "if gpt2 is not None:"


@pytest.fixture(scope="module")
def tiny_gpt2_folder(tmp_path_factory):
    """A 2-layer GPT-2 with a word-level tokenizer that knows the section's words: what
    `load_pretrained("gpt2")` returns, shrunk."""
    words = ("When After and went to the store, park, arrived at house, gave handed a drink ball book "
             "Mary John Tom Anna James Paul Sarah David Mark Kate Adam Ben").split()
    return optional_sections.save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"), words, n_positions=32)


def _run_gpt2_section(monkeypatch, load, run_gpt2: bool) -> dict:
    return optional_sections.run_section(monkeypatch, STEM, load, flag="RUN_GPT2", run=run_gpt2,
                                         load_cell=GPT2_LOAD_CELL, run_cell=GPT2_RUN_CELL)


def test_gpt2_section_is_skipped_by_default_without_loading_anything(offline, monkeypatch, capsys):
    optional_sections.check_skipped_by_default(_run_gpt2_section, monkeypatch, capsys, result="gpt2", flag="RUN_GPT2")


def test_gpt2_section_reports_a_failed_load_and_skips(offline, monkeypatch, capsys):
    optional_sections.check_failed_load_is_reported(_run_gpt2_section, monkeypatch, capsys, result="gpt2", says="GPT-2 could not be loaded")


def test_gpt2_section_patches_a_gpt2_model(offline, monkeypatch, capsys, tiny_gpt2_folder):
    real_load = models.load_pretrained
    namespace = _run_gpt2_section(monkeypatch, lambda name: real_load(str(tiny_gpt2_folder)), run_gpt2=True)
    out = capsys.readouterr().out
    assert "GPT-2 logit difference: clean" in out and "GPT-2 heads with the largest effect: L" in out, out
    heads = namespace["gpt2_heads"]
    assert heads.shape == (2, 2) and torch.isfinite(heads).all()
