"""Chapter 11's SAE sweep: the recipe end to end (3 steps a setting), its files' hashes, and
the shipped table, re-measured against its own weights and checked for what the chapter
reads from it."""

from __future__ import annotations

import json

import pytest

from mi_tutorial import models
from mi_tutorial.course.recipes import sae_sweep as recipe
from mi_tutorial.models import CheckpointError


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    document = recipe.run_sweep(folder, quick=True, progress=False)
    return folder, document


def test_quick_sweep_writes_every_row_and_the_shipped_weights(quick):
    folder, document = quick
    assert [
        {
            k: r[k]
            for k in ("architecture", "d_sae", "steps", "k", "l1_coefficient", "l0_coefficient")
            if k in r
        }
        for r in document["rows"]
    ] == recipe.rows(quick=True)
    assert all(r["steps"] == 3 and r["tokens"] == 3 * recipe.BATCH for r in document["rows"])
    saes = recipe.load_saes(folder)
    assert sorted(saes) == sorted(recipe.shipped_rows(quick=True))
    assert saes["arch-matryoshka"].cfg.matryoshka_prefixes == recipe.MATRYOSHKA_PREFIXES


def test_a_changed_table_or_weights_file_is_refused(quick, tmp_path):
    folder, _ = quick
    table = json.loads((folder / recipe.TABLE_FILE).read_text())
    table["rows"][0]["nmse"] = 0.0
    (tmp_path / recipe.TABLE_FILE).write_text(json.dumps(table))
    with pytest.raises(CheckpointError, match="was changed"):
        recipe.load_sweep(tmp_path)
    (tmp_path / recipe.TABLE_FILE).write_text((folder / recipe.TABLE_FILE).read_text())
    (tmp_path / recipe.WEIGHTS_FILE).parent.mkdir(parents=True)
    (tmp_path / recipe.WEIGHTS_FILE).write_bytes(b"not the weights")
    with pytest.raises(CheckpointError, match="does not match the sha256"):
        recipe.load_saes(tmp_path)


def test_the_shipped_table_holds_every_row_within_its_budget():
    table = recipe.load_sweep()
    for row in recipe.rows():
        recipe.find_row(table, **row)  # exactly one row per setting
    assert table["cpu_seconds"] <= 30 * 60, "the issue's budget: 20-30 CPU-minutes on one core"
    assert table["settings"]["train_seqs"] == recipe.TRAIN_SEQS


def test_the_shipped_weights_measure_as_the_table_says():
    table = recipe.load_sweep()
    saes = recipe.load_saes()
    model = models.load_toy_model(recipe.MODEL)
    _, test_corpus = recipe.corpora()
    test_acts = recipe.residuals(model, test_corpus.tokens)
    for name in ("width-256", "arch-jumprelu"):
        row = recipe.find_row(table, **table["shipped"][name])
        again = recipe.measure(saes[name], test_acts)
        # float16 weights: the normalized MSE moves by well under 1%
        assert again["nmse"] == pytest.approx(row["nmse"], rel=0.01), (name, again, row)
