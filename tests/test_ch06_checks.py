"""A green check means a right answer: every chapter-06 check accepts the chapter's own
solution, rejects the learner's starting point, and rejects known-wrong implementations.

The wrong implementations (mutants) are the solution with one typical mistake edited in,
built from `solutions/06_steering_and_refusal.py` by `solution_cells`, so they follow the
solution as it changes; an edit that stops matching the solution fails loudly (the tests
are `check_harness.ChapterChecks`). Then: the
reference answers against each other (weight orthogonalization is the hook ablation), their
errors on bad input, and the optional chat-model section, offline.
"""

from __future__ import annotations

import math

import optional_sections
import pytest
import solution_cells
import torch
from ch06_mutants import (
    ABLATE_LINE,
    ADD_NAME,
    BEST,
    BYPASS,
    COPY_LINE,
    KEPT,
    KL_LINE,
    KL_SCORE,
    MUTANTS_6_1_TO_6_6,
    PROJECT_LINE,
    TO_REFERENCE,
)
from check_harness import ChapterChecks, Mutant

from mi_tutorial import models
from mi_tutorial.checks import ch06
from mi_tutorial.checks._keys import steering as reference
from mi_tutorial.data import tinyworld

STEM = "06_steering_and_refusal"

# What each check is given, by name in the chapter's namespace; in exercise order (6.1, 6.2, …).
CHECK_ARGS = {
    "check_refusal_score": ["refusal_score"],
    "check_kl_last_position": ["kl_last_position"],
    "check_candidate_directions": ["candidate_directions"],
    "check_ablate_direction": ["ablate_direction"],
    "check_ablation_hooks": ["ablation_hooks"],
    "check_addition_hooks": ["addition_hooks"],
    "check_score_candidates": ["score_candidates"],
    "check_select_direction": ["select_direction"],
    "check_project_out": ["project_out"],
    "check_orthogonalize_model": ["orthogonalize_model"],
    "check_ablate_to_reference": ["ablate_to_reference"],
}

MUTANTS = [
    *MUTANTS_6_1_TO_6_6,
    # --- 6.7 score_candidates
    Mutant(
        "check_score_candidates",
        [
            (
                KL_SCORE,
                "kl = kl_last_position(model.run_with_hooks(harmless_tokens, fwd_hooks=ablate), clean_harmless)",
            )
        ],
        "scores-kl-swapped",
        hint="KL(ablated || clean)",
    ),
    Mutant(
        "check_score_candidates",
        [
            ("clean_harmless = model(harmless_tokens)", "clean_harmless = model(harmful_tokens)"),
            (
                KL_SCORE,
                "kl = kl_last_position(clean_harmless, model.run_with_hooks(harmful_tokens, fwd_hooks=ablate))",
            ),
        ],
        "scores-kl-on-harmful",
        hint="KL on the harmful prompts",
    ),
    Mutant(
        "check_score_candidates",
        [(BYPASS, BYPASS.replace("harmful_tokens", "harmless_tokens"))],
        "scores-bypass-on-harmless",
        hint="bypass score on the harmless",
    ),
    Mutant(
        "check_score_candidates",
        [
            (
                "addition_hooks(model, direction, layer, 1.0)",
                "addition_hooks(model, direction / direction.norm(), layer, 1.0)",
            )
        ],
        "scores-unit-addition",
        hint="adding the normalized direction",
    ),
    Mutant(
        "check_score_candidates",
        [
            (
                "torch.stack([bypass, refusal_score(added).mean(), kl])",
                "torch.stack([refusal_score(added).mean(), bypass, kl])",
            )
        ],
        "scores-columns-swapped",
        hint="columns in another order",
    ),
    # --- 6.8 select_direction
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (induce > 0) & (kl < max_kl)")],
        "select-no-layer-limit",
        hint="ignoring layer_limit",
    ),
    Mutant(
        "check_select_direction",
        [(KEPT, KEPT.replace("layers < layer_limit", "layers <= layer_limit"))],
        "select-inclusive-limit",
        hint="up to and including",
    ),
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (layers < layer_limit) & (kl < max_kl)")],
        "select-no-induce",
        hint="ignoring the induce",
    ),
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (layers < layer_limit) & (induce > 0)")],
        "select-no-kl",
        hint="ignoring max_kl",
    ),
    Mutant(
        "check_select_direction",
        [(BEST, BEST.replace("math.inf)).flatten().argmin()", "-math.inf)).flatten().argmax()"))],
        "select-argmax",
        hint="highest bypass",
    ),
    Mutant(
        "check_select_direction",
        [("return best // scores.shape[1], best % scores.shape[1]", "return best")],
        "select-flat-index",
        says="pair or None",
    ),
    # --- 6.9 project_out
    Mutant(
        "check_project_out",
        [(PROJECT_LINE, "return weight - (weight @ direction)[..., None] * direction")],
        "project-unnormalized",
        hint="not normalizing",
    ),
    Mutant(
        "check_project_out",
        [(PROJECT_LINE, "return weight + (weight @ unit)[..., None] * unit")],
        "project-adds",
        hint="adding the projection",
    ),
    Mutant(
        "check_project_out",
        [(PROJECT_LINE, "return weight - torch.outer(unit, unit) @ weight")],
        "project-first-axis",
        says="raised RuntimeError",
    ),
    Mutant(
        "check_project_out",
        [(PROJECT_LINE, "return weight - (weight @ unit).sum() * unit")],
        "project-summed-projection",
    ),
    # --- 6.10 orthogonalize_model
    Mutant(
        "check_orthogonalize_model",
        [
            ('f"blocks.{layer}.mlp.W_out"', 'f"blocks.{layer}.mlp.W_in"'),
            (
                COPY_LINE,
                'params[name].copy_(project_out(params[name].T, direction).T if name.endswith("W_in") else project_out(params[name], direction))',
            ),
        ],
        "ortho-W_in-not-W_out",
        says="did you orthogonalize W_in instead of W_out",
    ),
    Mutant(
        "check_orthogonalize_model",
        [('f"blocks.{layer}.attn.b_O", ', ""), (', f"blocks.{layer}.mlp.b_out"]', "]")],
        "ortho-no-biases",
        says="b_O was not edited",
    ),
    Mutant(
        "check_orthogonalize_model",
        [('names = ["embed.W_E", "pos_embed.W_pos"]', "names = []")],
        "ortho-no-embeddings",
        says="embed.W_E was not edited",
    ),
    Mutant(
        "check_orthogonalize_model",
        [
            (
                "for layer in range(model.cfg.n_layers):\n        names +=",
                "for layer in range(1):\n        names +=",
            )
        ],
        "ortho-layer-0-only",
        says="blocks.1.attn.W_O was not edited",
    ),
    Mutant(
        "check_orthogonalize_model",
        [(COPY_LINE, "params[name] = project_out(params[name], direction)")],
        "ortho-assigns-new-tensor",
        says="did not change",
    ),
    Mutant(
        "check_orthogonalize_model",
        [
            (
                COPY_LINE,
                "params[name].copy_(params[name] - (params[name] @ direction)[..., None] * direction)",
            )
        ],
        "ortho-unnormalized",
        hint="not normalizing",
    ),
    # --- 6.11 ablate_to_reference
    Mutant(
        "check_ablate_to_reference",
        [(TO_REFERENCE, "return resid - (resid @ unit)[..., None] * unit")],
        "reference-ignored",
        hint="ignoring the reference",
    ),
    Mutant(
        "check_ablate_to_reference",
        [(TO_REFERENCE, "return resid - ((resid - reference) @ direction)[..., None] * direction")],
        "reference-unnormalized",
        hint="not normalizing",
    ),
    Mutant(
        "check_ablate_to_reference",
        [(TO_REFERENCE, "return resid + ((resid - reference) @ unit)[..., None] * unit")],
        "reference-sign",
        hint="(reference - resid)",
    ),
    Mutant(
        "check_ablate_to_reference",
        [(TO_REFERENCE, "return resid - (resid @ unit)[..., None] * unit + reference")],
        "reference-whole-vector",
        hint="adding the whole reference",
    ),
    # --- issue 14: one mutant per class of wrong answers that used to pass (nothing here trains through
    # an exercise, and nothing is sampled: classes 2 and 6 do not arise in this chapter)
    # 1. changing the inputs
    Mutant(
        "check_select_direction",
        [(BEST, "bypass[~kept] = math.inf\n    best = bypass.flatten().argmin().item()")],
        "select-masks-scores-in-place",
        "changed its argument `scores` in place",
    ),
    Mutant(
        "check_ablate_direction",
        [(ABLATE_LINE, "resid -= (resid @ unit)[..., None] * unit\n    return resid")],
        "ablate-in-place",
        "changed its argument `resid` in place",
    ),
    # 3. arguments that never change
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (layers < layer_limit) & (induce > 0) & (kl < 0.1)")],
        "select-max-kl-hard-coded",
        hint="a fixed max_kl of 0.1",
    ),
    # 4. loose types
    Mutant(
        "check_select_direction",
        [(BEST, BEST.replace(".argmin().item()", ".argmin()"))],
        "select-returns-tensors",
        "the chapter relies on that type",
    ),
    Mutant(
        "check_kl_last_position",
        [(KL_LINE, "return (clean.exp() * (clean - edited)).sum(dim=-1).mean().double()")],
        "kl-float64",
        "the chapter needs exactly torch.float32",
    ),
    # 5. boundaries
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (layers < layer_limit) & (induce >= 0) & (kl < max_kl)")],
        "select-induce-at-least-0",
        hint="`>= 0` where the text says",
    ),
    Mutant(
        "check_select_direction",
        [(KEPT, "kept = (layers < layer_limit) & (induce > 0) & (kl <= max_kl)")],
        "select-kl-at-most",
        hint="`<= max_kl` where the text says",
    ),
    # 7. only the shipped model's setting right
    Mutant(
        "check_ablation_hooks",
        [
            (
                "    n_layers = model.cfg.n_layers\n    names = [get_act_name(kind",
                "    n_layers = 4\n    names = [get_act_name(kind",
            )
        ],
        "hooks-four-layers-hard-coded",
        "is not a hook point of this model",
    ),
]


class TestChapter06Checks(ChapterChecks):
    module = ch06
    stem = STEM
    check_args = CHECK_ARGS
    mutants = MUTANTS


# --- the reference answers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def toy():
    return models.load_toy_model("tinyworld-lm")


@pytest.fixture(scope="module")
def toy_direction(toy):
    harmful = tinyworld.requests(32, harmful=True, seed=0, split="train").tokens
    harmless = tinyworld.requests(32, harmful=False, seed=0, split="train").tokens
    return reference.candidate_directions(toy, harmful, harmless, 1)[3, -1]


def test_reference_orthogonalized_weights_are_the_hook_ablation(toy, toy_direction):
    """The chapter's claim, on the shipped model: the edited weights give the ablated logits."""
    tokens = tinyworld.sample_corpus(8, 64, seed=3, split="test").tokens
    edited = models.load_toy_model("tinyworld-lm")
    reference.orthogonalize_model(edited, toy_direction)
    with torch.no_grad():
        hooked = toy.run_with_hooks(tokens, fwd_hooks=reference.ablation_hooks(toy, toy_direction))
        clean, orthogonal = toy(tokens), edited(tokens)
    assert (orthogonal - hooked).abs().max() < 1e-3
    assert (orthogonal - clean).abs().max() > 0.1  # the edit did something
    unit = toy_direction / toy_direction.norm()
    params = edited.tl_parameters()
    for name in reference.writing_parameter_names(toy.cfg.n_layers):
        assert (params[name] @ unit).abs().max() < 1e-5, name


def test_reference_ablation_and_addition_on_their_own():
    generator = torch.Generator().manual_seed(0)
    resid, direction = (
        torch.randn(2, 5, 16, generator=generator),
        torch.randn(16, generator=generator),
    )
    ablated = reference.ablate_direction(resid, 7 * direction)
    assert (ablated @ direction).abs().max() < 1e-4  # nothing left along it, whatever its length
    assert torch.allclose(
        reference.ablate_direction(ablated, direction), ablated, atol=1e-6
    )  # idempotent
    assert torch.allclose(
        reference.ablate_to_reference(resid, direction, resid[0])[0], resid[0], atol=1e-6
    )
    three_layers = models.boot(ch06.DEEP_CONFIG)
    ((name, hook),) = reference.addition_hooks(
        three_layers, direction, 3, 0.5
    )  # layer 3 of 3: the final residual stream
    assert name == "blocks.2.hook_resid_post" and torch.allclose(
        hook(resid, None) - resid, (0.5 * direction).expand_as(resid)
    )


def test_reference_select_direction_by_hand():
    scores = torch.tensor(
        [
            [[-5.0, 1.0, 0.0], [-9.0, -1.0, 0.0]],  # layer 0: the second does not induce
            [[-4.0, 2.0, 0.5], [-3.0, 2.0, 0.05]],  # layer 1: the first has a large KL
            [[-20.0, 2.0, 0.0], [0.0, 2.0, 0.0]],  # layer 2: above the limit
        ]
    )
    assert reference.select_direction(scores, 2) == (0, 0)
    assert reference.select_direction(scores, 2, max_kl=0.1) == (0, 0)
    assert reference.select_direction(scores, 3) == (2, 0)
    assert reference.select_direction(scores[1:2], 2, max_kl=0.01) is None
    nan_scores = scores.clone()
    nan_scores[0, 0] = math.nan
    assert reference.select_direction(nan_scores, 2) == (1, 0)


def test_reference_rejects_bad_input_clearly(toy):
    with pytest.raises(ValueError, match=r"\[batch, pos, d_vocab\]"):
        reference.refusal_score(torch.zeros(3, 10), 1, 2)
    with pytest.raises(ValueError, match="shapes differ"):
        reference.kl_last_position(torch.zeros(2, 3, 5), torch.zeros(2, 4, 5))
    tokens = tinyworld.requests(2, harmful=True).tokens
    with pytest.raises(ValueError, match="n_positions must be in 1"):
        reference.mean_activations(toy, tokens, 13)
    with pytest.raises(ValueError, match="layer must be in 0"):
        reference.addition_hooks(toy, torch.zeros(toy.cfg.d_model), 5, 1.0)


# --- the optional chat-model section, offline -----------------------------------------------------

CHAT_LOAD_CELL = "chat = models.load_pretrained(CHAT_MODEL)"
CHAT_RUN_CELL = "if chat is not None:"


@pytest.fixture(scope="module")
def tiny_chat_folder(tmp_path_factory):
    """A 4-layer GPT-2 with a word-level tokenizer knowing the section's words: a stand-in
    for the chat model (no chat template, so the section uses its plain `User: … Assistant:`
    format)."""
    words = ["User:", "Assistant:", "I", "cannot", "Sure", "how", "to", "a", "the", "."] + [
        f"w{i}" for i in range(53)
    ]
    return optional_sections.save_tiny_gpt2(tmp_path_factory.mktemp("tiny-chat"), words, n_layer=4)


def _run_chat_section(monkeypatch, load, run: bool) -> dict:
    return optional_sections.run_section(
        monkeypatch,
        STEM,
        load,
        flag="RUN_CHAT_MODEL",
        run=run,
        load_cell=CHAT_LOAD_CELL,
        run_cell=CHAT_RUN_CELL,
    )


def test_chat_section_is_skipped_by_default_without_loading_anything(offline, monkeypatch, capsys):
    optional_sections.check_skipped_by_default(
        _run_chat_section, monkeypatch, capsys, result="chat", flag="RUN_CHAT_MODEL"
    )


def test_chat_section_reports_a_failed_load_and_skips(offline, monkeypatch, capsys):
    optional_sections.check_failed_load_is_reported(
        _run_chat_section, monkeypatch, capsys, result="chat", says="could not be loaded"
    )


def test_chat_section_runs_the_recipe_on_a_transformers_model(
    offline, monkeypatch, capsys, tiny_chat_folder
):
    real_load = models.load_pretrained
    namespace = _run_chat_section(
        monkeypatch, lambda name: real_load(str(tiny_chat_folder)), run=True
    )
    out = capsys.readouterr().out
    chat = namespace["chat"]
    assert namespace["chat_candidates"].shape == (chat.cfg.n_layers + 1, 1, chat.cfg.d_model)
    assert (
        set(namespace["refusals"]) == set(namespace["chat_layers"])
        and namespace["chat_layer"] in namespace["refusals"]
    )
    assert out.count("held-out harmful replies refuse") == len(namespace["chat_layers"])
    assert "ablated:" in out and "added:" in out


# Class 8 of issue 14: a check passes exactly the types the signature promises, so code that relies
# on them (an int layer, a float coefficient or threshold) is not wrongly rejected.
STRICT_EDITS = {
    "check_select_direction": [
        (
            KEPT,
            "assert isinstance(layer_limit, (int, float)) and isinstance(max_kl, float)\n    "
            + KEPT,
        )
    ],
    "check_addition_hooks": [
        (ADD_NAME, "assert type(layer) is int and type(coefficient) is float\n    " + ADD_NAME)
    ],
}


@pytest.mark.parametrize("check_name", sorted(STRICT_EDITS))
def test_code_relying_on_the_annotated_types_passes(check_name, capsys):
    namespace = solution_cells.solution_namespace(STEM, STRICT_EDITS[check_name])
    getattr(ch06, check_name)(*(namespace[arg] for arg in CHECK_ARGS[check_name]))
    assert "all checks passed" in capsys.readouterr().out
