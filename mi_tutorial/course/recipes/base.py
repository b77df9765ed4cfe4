"""What every recipe returns, and the held-out data their metrics are measured on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

EVAL_SEED = 10_000  # held-out sequences for the recorded metrics, never used in training
EVAL_BATCH = 300


@dataclass
class RecipeRun:
    """A trained model with everything the manifest records about it."""

    model: torch.nn.Module
    config: dict
    seed: int
    metrics: dict
    tokenizer: str | None = None  # the shipped tokenizer loading attaches
    # Saves files beside the weights (e.g. snapshots) into a folder; returns metrics to record.
    save_extra: Callable[[Path], dict] | None = None
