"""Testing a chapter's optional online section (a real model from the hub) offline.

Each such section has a load cell, off by default (`RUN_GPT2 = False`), that calls
`models.load_pretrained`, and a cell that runs only when a model was loaded. The tests run
those cells after the chapter's solution three ways: as shipped (nothing is loaded), with a
load that fails (the section says so and skips), and with `load_pretrained` pointed at a
tiny GPT-2 saved here with `save_pretrained` (the real loading code path, no network).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import solution_cells
import torch

from mi_tutorial import models


def save_tiny_gpt2(
    folder: Path, words: list[str], *, n_layer: int = 2, n_positions: int = 128
) -> Path:
    """Save a random GPT-2 (d_model 16, 2 heads) and a word-level tokenizer over `words`
    (whitespace-split; `<bos>` first, which is also end-of-text, unknown and padding)."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models as tokenizer_models, pre_tokenizers

    vocab = {word: index for index, word in enumerate(dict.fromkeys(["<bos>", *words]))}
    word_level = Tokenizer(tokenizer_models.WordLevel(vocab, unk_token="<bos>"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=word_level,
        bos_token="<bos>",
        eos_token="<bos>",
        unk_token="<bos>",
        pad_token="<bos>",
    )
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=n_layer,
        n_embd=16,
        n_head=2,
        n_positions=n_positions,
        vocab_size=len(vocab),
        bos_token_id=0,
        eos_token_id=0,
    )
    transformers.GPT2LMHeadModel(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_section(
    monkeypatch,
    stem: str,
    load,
    *,
    flag: str,
    run: bool,
    load_cell: str,
    run_cell: str,
    before: tuple[str, ...] = (),
) -> dict:
    """Run the section's cells after the solution, with `models.load_pretrained` replaced by
    `load` and `flag` (e.g. "RUN_GPT2") set to `run`; `before` names cells to run first
    (each by a fragment of its code). Returns the namespace."""
    monkeypatch.setattr(models, "load_pretrained", load)
    namespace = solution_cells.solution_namespace(stem)
    for fragment in before:
        exec(solution_cells.code_cell(stem, fragment), namespace)
    cell = solution_cells.code_cell(stem, load_cell)
    # Off by default: the tests and offline learners never wait on the network.
    assert cell.count(f"{flag} = False") == 1
    exec(cell.replace(f"{flag} = False", f"{flag} = {run}"), namespace)
    exec(solution_cells.code_cell(stem, run_cell), namespace)
    return namespace


def must_not_load(name):
    raise AssertionError(f"the section tried to load {name!r} although it is off by default")


def no_network(name):
    raise RuntimeError(f"load_pretrained: could not load {name!r}: no network")


def check_skipped_by_default(run, monkeypatch, capsys, *, result: str, flag: str) -> None:
    """As shipped, the section loads nothing, leaves `result` None and says how to turn it on.
    `run(monkeypatch, load, run_flag)` runs the section (see `run_section`)."""
    namespace = run(monkeypatch, must_not_load, False)
    assert namespace[result] is None
    assert f"Skipped: set {flag} = True" in capsys.readouterr().out


def check_failed_load_is_reported(run, monkeypatch, capsys, *, result: str, says: str) -> None:
    """Turned on without the network, the section reports why and skips the rest."""
    namespace = run(monkeypatch, no_network, True)
    out = capsys.readouterr().out
    assert namespace[result] is None
    assert says in out and "no network" in out
