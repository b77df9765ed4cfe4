"""The recipes that make the shipped models: `mi-tutorial train NAME` runs one.

Each module holds one model's settings, its training data and the metrics its manifest
entry records; `run_recipe` trains it on one thread and saves it with its manifest entry.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from mi_tutorial.data import repeated, tinyworld
from mi_tutorial.data.tokenizer import BOS, TOKENIZER_DIR, UNK, build_word_tokenizer, save_tokenizer
from mi_tutorial.models import CHECKPOINT_DIR, save_checkpoint
from mi_tutorial.train import single_threaded

# Shipped model name -> the module holding its `recipe` function (imported when run).
RECIPE_MODULES = {
    "attn-only-2l": "attn_only_2l",
    "grokking": "grokking",
    "othello-6x6": "othello",
    "tinyworld-lm": "tinyworld_lm",
}


RECIPES = tuple(RECIPE_MODULES)


def recipe_module(name: str):
    """The module of the shipped model `name`'s recipe (its settings, data and metrics)."""
    if name not in RECIPE_MODULES:
        raise ValueError(f"No recipe named {name!r}. Known recipes: {', '.join(sorted(RECIPES))}.")
    return importlib.import_module(f"{__name__}.{RECIPE_MODULES[name]}")


def run_recipe(
    name: str, out_dir: Path | str | None = None, progress: bool = True, steps: int | None = None
) -> dict:
    """Retrain the shipped model `name` from its recorded seed and save it; returns its metrics.

    Saves into `out_dir` (default: the package's checkpoints folder, replacing the shipped
    file). `steps` shortens (or lengthens) the run, for a quick try; the shipped model is
    only ever replaced by a full run. `mi-tutorial train NAME` calls this.
    """
    recipe = recipe_module(name).recipe
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if steps is not None and out_dir is None:
        raise ValueError(
            f"A run of {steps} steps would replace the shipped {name} with a model trained "
            "differently from its recipe. Pass an output folder (--out DIR) with --steps."
        )
    with single_threaded():
        run = recipe(progress=progress) if steps is None else recipe(progress=progress, steps=steps)
    directory = CHECKPOINT_DIR if out_dir is None else Path(out_dir)
    if run.save_extra is not None:  # files beside the weights, their hashes in the metrics
        run.metrics.update(run.save_extra(directory))
    save_checkpoint(
        run.model,
        name,
        config_kwargs=run.config,
        seed=run.seed,
        command=f"mi-tutorial train {name}",
        metrics=run.metrics,
        directory=directory,
        tokenizer=run.tokenizer,
    )
    if out_dir is None and run.tokenizer is not None:
        write_shipped_tokenizer(run.tokenizer)
    return run.metrics


def shipped_vocab(name: str) -> list[str]:
    """The vocabulary of the shipped tokenizer `name`, made from the code that defines it."""
    if name == "attn-only-2l":
        return [BOS, *repeated.WORDS]
    if name == "tinyworld":
        return tinyworld.vocabulary()
    raise ValueError(f"No shipped tokenizer named {name!r}; known: attn-only-2l, tinyworld.")


def write_shipped_tokenizer(name: str, directory: Path | str = TOKENIZER_DIR) -> Path:
    """Build the shipped tokenizer `name` from its vocabulary and save it; `run_recipe` calls it
    when it replaces a shipped model, so model and tokenizer change together."""
    vocab = shipped_vocab(name)
    return save_tokenizer(
        build_word_tokenizer(vocab, unk=UNK if UNK in vocab else None), name, directory
    )
