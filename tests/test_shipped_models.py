"""The shipped toy models: intact, and as good as their manifest says (re-measured live)."""

import pytest
import torch

from mi_tutorial.course import cli
from mi_tutorial.course.recipes import run_recipe
from mi_tutorial.course.recipes.attn_only_2l import (
    CONFIG as ATTN_ONLY_2L_CONFIG,
    HALF_LEN as ATTN_ONLY_2L_HALF_LEN,
)
from mi_tutorial.course.recipes.base import EVAL_SEED
from mi_tutorial.course.recipes.tinyworld_lm import CONFIG as TINYWORLD_LM_CONFIG, tinyworld_metrics
from mi_tutorial.data import repeated_tokens
from mi_tutorial.metrics import induction_metrics
from mi_tutorial.models import load_checkpoint, load_toy_model, read_manifest, verify_checkpoints

HALF_LEN = ATTN_ONLY_2L_HALF_LEN
FRESH_SEED = 4242  # not the recipe's training seed nor its EVAL_SEED
assert FRESH_SEED not in (ATTN_ONLY_2L_CONFIG["seed"], EVAL_SEED)


def check_induction_circuit(metrics):
    """The targets of the attn-only-2l recipe, and the circuit that must reach them."""
    assert metrics["best_induction_score"] >= 0.8, metrics
    assert metrics["repeated_half_loss"] < 0.1 * metrics["first_half_loss"], metrics
    # The first half is random: the best possible guess at its k-th token is uniform over
    # the 64 - k ids not yet used, a loss of 3.97 on average. Lower means a measuring bug.
    assert metrics["first_half_loss"] > 3.9, metrics
    # Real induction: a layer-0 previous-token head composing with a layer-1 induction head.
    # Without the previous-token head, a high "induction score" is the positional shortcut
    # (a head attending a fixed 19 positions back), which fixed-length training learns.
    assert metrics["best_induction_head"].startswith("1."), metrics
    assert metrics["best_prev_token_head"].startswith("0."), metrics
    assert metrics["best_prev_token_score"] >= 0.25, metrics  # uniform attention gives ~0.08


def test_shipped_attn_only_2l_verifies():
    results = {name: (ok, message) for name, ok, message in verify_checkpoints()}
    assert results["attn-only-2l"][0], results["attn-only-2l"][1]


def test_shipped_attn_only_2l_records_how_to_rebuild_it():
    entry = read_manifest()["attn-only-2l"]
    assert entry["config"] == ATTN_ONLY_2L_CONFIG
    assert entry["training_command"] == "mi-tutorial train attn-only-2l"
    assert entry["seed"] == ATTN_ONLY_2L_CONFIG["seed"]


def test_shipped_attn_only_2l_metrics_hold_on_fresh_data():
    model = load_toy_model("attn-only-2l")
    tokens = repeated_tokens(200, HALF_LEN, ATTN_ONLY_2L_CONFIG["d_vocab"], seed=FRESH_SEED)
    measured = induction_metrics(model, tokens, HALF_LEN)
    check_induction_circuit(measured)

    recorded = read_manifest()["attn-only-2l"]["metrics"]
    assert measured["best_induction_head"] == recorded["best_induction_head"]
    assert measured["best_prev_token_head"] == recorded["best_prev_token_head"]
    # Other sequences move these by sampling noise only: ~0.01 for the scores at 200 sequences.
    for key, tolerance in [
        ("best_induction_score", 0.03),
        ("best_prev_token_score", 0.03),
        ("first_half_loss", 0.05),
        ("repeated_half_loss", 0.05),
    ]:
        assert abs(measured[key] - recorded[key]) < tolerance, (key, measured[key], recorded[key])


@pytest.mark.slow
def test_mi_tutorial_train_attn_only_2l_reaches_the_targets(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert cli.main(["train", "attn-only-2l", "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # the recipe's single thread is restored
    metrics = read_manifest(tmp_path)["attn-only-2l"]["metrics"]
    check_induction_circuit(metrics)
    printed = capsys.readouterr().out.split()
    assert (
        printed[printed.index("best_induction_score") + 1]
        == f"{metrics['best_induction_score']:.4g}"
    )
    assert [ok for _, ok, _ in verify_checkpoints(tmp_path)] == [True]
    assert load_checkpoint("attn-only-2l", tmp_path).to_str_tokens("fog bay") == [
        "<bos>",
        "fog",
        "bay",
    ]


# --- tinyworld-lm ---------------------------------------------------------------------


def check_tinyworld_targets(metrics):
    """What chapters 3, 5 and 6 need of tinyworld-lm (issue targets), on held-out prompts."""
    assert metrics["ioi_accuracy"] >= 0.95 and metrics["ioi_logit_diff"] >= 2, metrics
    assert metrics["refusal_harmful"] >= 0.95 and metrics["compliance_harmless"] >= 0.95, metrics
    # Induction: the copy of a random word run is far easier than the run itself.
    assert metrics["induction_copy_loss"] < 0.5 * metrics["induction_first_run_loss"], metrics
    assert metrics["fact_accuracy"] >= 0.9, metrics


def test_shipped_tinyworld_lm_verifies_and_speaks_tinyworld():
    results = {name: (ok, message) for name, ok, message in verify_checkpoints()}
    assert results["tinyworld-lm"][0], results["tinyworld-lm"][1]
    entry = read_manifest()["tinyworld-lm"]
    assert entry["config"] == TINYWORLD_LM_CONFIG and entry["tokenizer"] == "tinyworld"
    assert entry["training_command"] == "mi-tutorial train tinyworld-lm"
    model = load_toy_model("tinyworld-lm")
    assert model.to_str_tokens("when Mary and John went") == [
        "<bos>",
        "when",
        "Mary",
        "and",
        "John",
        "went",
    ]
    assert not model.training


def test_shipped_tinyworld_lm_metrics_hold_on_fresh_data():
    model = load_toy_model("tinyworld-lm")
    measured = tinyworld_metrics(model, n=200, seed=FRESH_SEED)
    check_tinyworld_targets(measured)
    recorded = read_manifest()["tinyworld-lm"]["metrics"]
    check_tinyworld_targets(recorded)
    # Fresh prompts move these by sampling noise only.
    for key, tolerance in [
        ("heldout_loss", 0.1),
        ("ioi_logit_diff", 1.0),
        ("induction_copy_loss", 0.3),
    ]:
        assert abs(measured[key] - recorded[key]) < tolerance, (key, measured[key], recorded[key])


def test_mi_tutorial_train_tinyworld_lm_runs_a_few_steps(tmp_path, capsys):
    """The full run is a benchmark (about 10 minutes); here three steps, end to end."""
    assert cli.main(["train", "tinyworld-lm", "--steps", "3", "--out", str(tmp_path)]) == 0
    assert "ioi_accuracy" in capsys.readouterr().out
    entry = read_manifest(tmp_path)["tinyworld-lm"]
    assert entry["metrics"]["train_steps"] == 3 and entry["tokenizer"] == "tinyworld"
    assert [ok for _, ok, _ in verify_checkpoints(tmp_path)] == [True]


def test_a_short_run_never_replaces_the_shipped_model():
    with pytest.raises(ValueError, match="--out"):
        run_recipe("tinyworld-lm", steps=3)
