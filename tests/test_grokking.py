"""Chapter 08's data and model: the modular-addition dataset, the grokking recipe end to end
(three steps), and the shipped run, re-measured against its manifest."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mi_tutorial.checks._values import random_bridge
from mi_tutorial.course.recipes import grokking, run_recipe
from mi_tutorial.data.modular import all_pairs, train_test_split
from mi_tutorial.models import (
    CHECKPOINT_DIR,
    CheckpointError,
    load_toy_model,
    read_manifest,
    verify_checkpoints,
)

P = grokking.P


def test_all_pairs_is_every_sum_once():
    tokens, labels = all_pairs(7)
    assert (
        tokens.shape == (49, 3)
        and labels.shape == (49,)
        and tokens.dtype == labels.dtype == torch.int64
    )
    assert (tokens[:, 2] == 7).all()  # the `=` token
    assert torch.equal(labels, (tokens[:, 0] + tokens[:, 1]) % 7)
    assert tokens[3 * 7 + 5, :2].tolist() == [3, 5]
    assert len({tuple(row) for row in tokens[:, :2].tolist()}) == 49


def test_split_is_a_seeded_partition():
    train, test = train_test_split(11, 0.3, seed=0)
    assert len(train) == int(0.3 * 121) and len(train) + len(test) == 121
    assert sorted(torch.cat([train, test]).tolist()) == list(range(121))
    again, _ = train_test_split(11, 0.3, seed=0)
    other, _ = train_test_split(11, 0.3, seed=1)
    assert torch.equal(train, again) and not torch.equal(train, other)


@pytest.mark.parametrize(
    "p, fraction, says",
    [
        (1, 0.3, "p must be an int"),
        (7.0, 0.3, "p must be an int"),
        (7, 0.0, "between 0 and 1"),
        (7, 1.5, "between 0 and 1"),
        (7, 0.01, "empty train"),
    ],
)
def test_bad_arguments_say_what_is_expected(p, fraction, says):
    with pytest.raises(ValueError, match=says):
        train_test_split(p, fraction)


def test_last_logits_equals_the_models_last_position():
    config = dict(
        grokking.CONFIG, d_model=32, d_head=8, n_heads=4, d_mlp=48, d_vocab=8, d_vocab_out=7
    )
    model = random_bridge(config, seed=3, scale=0.4)
    tokens, _ = all_pairs(7)
    assert torch.allclose(grokking.last_logits(model, tokens), model(tokens)[:, -1], atol=1e-5)


def test_recipe_runs_three_steps_end_to_end(tmp_path):
    metrics = run_recipe("grokking", out_dir=tmp_path, progress=False, steps=3)
    entry = read_manifest(tmp_path)["grokking"]
    assert (
        entry["config"] == grokking.CONFIG
        and entry["training_command"] == "mi-tutorial train grokking"
    )
    assert entry["metrics"]["train_steps"] == 3 and metrics["n_snapshots"] == 2
    assert [ok for _, ok, _ in verify_checkpoints(tmp_path)] == [
        True
    ]  # the snapshots are not a stray model
    snapshots, history = grokking.load_snapshots(tmp_path)
    assert list(snapshots) == [0, 3] and history["step"].tolist() == [0, 3]
    assert snapshots[3]["embed.weight"].dtype == torch.float32
    path = tmp_path / grokking.SNAPSHOT_FILE
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(CheckpointError, match="corrupted or was changed"):
        grokking.load_snapshots(tmp_path)
    path.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        grokking.load_snapshots(tmp_path)


# --- the shipped run ---------------------------------------------------------------------


def test_shipped_grokking_verifies_and_is_small():
    results = {name: (ok, message) for name, ok, message in verify_checkpoints()}
    assert results["grokking"][0], results["grokking"][1]
    entry = read_manifest()["grokking"]
    assert entry["config"] == grokking.CONFIG
    sizes = [
        (CHECKPOINT_DIR / name).stat().st_size for name in (entry["file"], grokking.SNAPSHOT_FILE)
    ]
    assert sum(sizes) <= 20 * 2**20, sizes
    assert entry["metrics"]["train_cpu_seconds"] <= 20 * 60


def test_shipped_grokking_metrics_hold_when_measured_again():
    model = load_toy_model("grokking")
    metrics = read_manifest()["grokking"]["metrics"]
    tokens, labels = all_pairs(P)
    train, test = train_test_split(P, grokking.TRAIN_FRACTION, seed=grokking.CONFIG["seed"])
    with torch.no_grad():
        logits = model(tokens)[:, -1]
    for rows, split in ((train, "train"), (test, "test")):
        accuracy = (logits[rows].argmax(-1) == labels[rows]).float().mean().item()
        loss = F.cross_entropy(logits[rows], labels[rows]).item()
        assert accuracy == pytest.approx(metrics[f"final_{split}_acc"], abs=1e-6)
        assert loss == pytest.approx(metrics[f"final_{split}_loss"], rel=1e-3, abs=1e-6)
    assert metrics["final_test_acc"] >= 0.99 and metrics["final_train_acc"] == 1.0


def test_shipped_snapshots_show_grokking():
    snapshots, history = grokking.load_snapshots()
    metrics = read_manifest()["grokking"]["metrics"]
    steps = history["step"].tolist()
    memorised = next(s for s, a in zip(steps, history["train_acc"].tolist()) if a == 1.0)
    grokked = next(s for s, a in zip(steps, history["test_acc"].tolist()) if a >= 0.99)
    assert (memorised, grokked) == (metrics["memorised_step"], metrics["grokking_step"])
    assert history["test_acc"][steps.index(memorised)] < 0.15 and grokked >= 5 * memorised
    assert len(snapshots) == metrics["n_snapshots"] and max(snapshots) == metrics["train_steps"]
    # The last snapshot is the shipped model, rounded to float16.
    model = load_toy_model("grokking")
    final = snapshots[max(snapshots)]
    for name, value in model.state_dict().items():
        assert torch.allclose(final[name], value, atol=2e-3, rtol=2e-3), name


def test_a_short_grokking_run_never_replaces_the_shipped_one():
    before = (CHECKPOINT_DIR / grokking.SNAPSHOT_FILE).read_bytes()
    with pytest.raises(ValueError, match="--out"):
        run_recipe("grokking", steps=3, progress=False)
    assert (CHECKPOINT_DIR / grokking.SNAPSHOT_FILE).read_bytes() == before
