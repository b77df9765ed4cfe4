"""The cases of chapter 09's checks: real Othello positions from the game engine, random
probe weights and activations, and small models with random weights (2 layers, d_model 16
or 3 layers, d_model 12, so a check takes well under a second). Imported only by `ch09`."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from mi_tutorial.checks._values import random_bridge
from mi_tutorial.data import othello


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


MODEL_CONFIGS = {
    "2 layers, d_model 16": dict(
        n_layers=2,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_mlp=32,
        d_vocab=37,
        d_vocab_out=36,
        n_ctx=32,
        act_fn="gelu",
        normalization_type="LN",
        seed=0,
    ),
    "3 layers, d_model 12": dict(
        n_layers=3,
        d_model=12,
        n_heads=3,
        d_head=4,
        d_mlp=24,
        d_vocab=37,
        d_vocab_out=36,
        n_ctx=32,
        act_fn="gelu",
        normalization_type="LN",
        seed=1,
    ),
}


@functools.cache
def model(name: str):
    """A small native model of the chapter's vocabulary, random weights (cached)."""
    return random_bridge(MODEL_CONFIGS[name], seed=len(name), scale=0.5)


@functools.cache
def games(n: int, seed: int) -> othello.GameBatch:
    """`n` random games replayed by the engine (cached: the checks never change them)."""
    return othello.game_batch(othello.random_games(n, seed=seed))


def logits_and_legal(n: int, seed: int, peaked: float) -> tuple[Tensor, Tensor]:
    """Random logits [n, 32, 36] over real games' legal masks; `peaked` adds that much to the
    legal squares' logits, so the top-1 is legal more often than by chance."""
    batch = games(n, seed)
    logits = torch.randn(n, 32, 36, generator=gen(seed)) + peaked * batch.legal.float()
    return logits, batch.legal


def probe_case(d_model: int, n: int, n_square: int, n_class: int, seed: int):
    """Random probe weights W [d, square, class], b [square, class], acts and labels."""
    g = gen(seed)
    W = torch.randn(d_model, n_square, n_class, generator=g) * 0.5
    b = torch.randn(n_square, n_class, generator=g) * 0.3
    acts = torch.randn(n, d_model, generator=g)
    labels = torch.randint(0, n_class, (n, n_square), generator=g)
    return W, b, acts, labels
