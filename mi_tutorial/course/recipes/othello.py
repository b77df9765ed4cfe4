"""The recipe of `othello-6x6`, the board-game transformer of chapter 09.

A 4-layer transformer reads 6x6 Othello games as move sequences (BOS, then the squares
played) and is trained to predict the next move. The games are uniformly random legal
games, so the best next-move prediction is the uniform distribution over the legal moves:
the recipe trains on that distribution directly (cross-entropy against uniform-over-legal,
computed by the game engine), which is the expected next-token loss over all random
continuations with less noise than one sampled move per position. The model is never shown
a board: its input is the squares played, nothing else. The loss is computed only at
positions where the game is not over.

The manifest records the share of the model's top-1 predictions that are legal on held-out
games, and the CPU time the run took (on one thread).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor

from mi_tutorial.course.recipes.base import EVAL_SEED, RecipeRun
from mi_tutorial.data.othello import (
    SIZE,
    game_batch,
    game_tokens,
    random_games,
    random_games_with_legal,
)
from mi_tutorial.models import boot

N_SQUARES = SIZE * SIZE
N_CTX = N_SQUARES - 4  # the most moves a game can have: position t reads move t (0 = BOS)
CONFIG = dict(
    n_layers=4,
    d_model=64,
    d_head=16,
    n_heads=4,
    d_mlp=256,
    n_ctx=N_CTX,
    d_vocab=N_SQUARES + 1,  # the 36 squares and BOS (id 36)
    d_vocab_out=N_SQUARES,  # the next move is a square
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)
STEPS = 10_000
BATCH = 64
LR = 2e-3
WEIGHT_DECAY = 0.01
WARMUP = 200
N_TRAIN_GAMES = 100_000
TRAIN_SEED = 0
EVAL_GAMES = 2000
LOG_EVERY = 500
# Where the probes read the residual stream: before block 0 (the embeddings), after each block.
READ_POINTS = ["blocks.0.hook_resid_pre"] + [
    f"blocks.{layer}.hook_resid_post" for layer in range(CONFIG["n_layers"])
]
PROBE_SEED = 20_000  # the games the recorded probes are fitted and scored on (not training's)


def legal_loss(logits: Tensor, legal: Tensor) -> Tensor:
    """Cross-entropy of the logits [batch pos square] against the uniform distribution over the
    legal moves [batch pos square] (bool), averaged over the positions with a legal move."""
    valid = legal.any(-1)
    logp = logits[valid].log_softmax(-1)
    target = legal[valid].float()
    return -((target * logp).sum(-1) / target.sum(-1)).mean()


def legal_top1(model: torch.nn.Module, tokens: Tensor, legal: Tensor, batch: int = 500) -> float:
    """The share of the model's top-1 predictions that are legal moves, over the positions of
    `tokens` [n, N_CTX + 1] (BOS + moves) whose game is not over; `legal` [n, N_CTX, square]."""
    hits, total = 0, 0
    with torch.no_grad():
        for start in range(0, len(tokens), batch):
            logits = model(tokens[start : start + batch, :-1])
            mask = legal[start : start + batch]
            valid = mask.any(-1)
            top = logits.argmax(-1)
            good = mask.gather(-1, top[..., None])[..., 0]
            hits += int(good[valid].sum())
            total += int(valid.sum())
    return hits / total


def heldout_games(n: int = EVAL_GAMES, seed: int = EVAL_SEED) -> tuple[Tensor, Tensor]:
    """Held-out games (never in training) as tokens [n, N_CTX + 1] and legal masks."""
    games, legal = random_games_with_legal(n, seed=seed)
    return game_tokens(games), legal


def recipe(
    progress: bool = True,
    steps: int = STEPS,
    callback: Callable[[int, torch.nn.Module], None] | None = None,
) -> RecipeRun:
    """Train the 6x6 Othello model on random legal games (about 20 CPU-minutes, one thread).
    `callback(step, model)`, if given, is called every LOG_EVERY steps (to keep snapshots)."""
    seed = CONFIG["seed"]
    cpu, wall = time.process_time(), time.perf_counter()
    n_games = min(N_TRAIN_GAMES, steps * BATCH)  # a short trial run draws only what it uses
    games, legal = random_games_with_legal(n_games, seed=TRAIN_SEED)
    tokens = game_tokens(games)
    data_cpu = time.process_time() - cpu
    model = boot(CONFIG)
    eval_tokens, eval_legal = heldout_games()
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)

    def lr_at(step: int) -> float:
        if step < WARMUP:
            return LR * (step + 1) / WARMUP
        progress_ = (step - WARMUP) / max(1, steps - WARMUP)
        return LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_)))

    per_epoch = n_games // BATCH
    orders: dict[int, Tensor] = {}  # each epoch visits the games in its own seeded order
    model.train()
    for step in range(steps):
        epoch, index = divmod(step, per_epoch)
        if epoch not in orders:
            orders = {
                epoch: torch.randperm(
                    n_games, generator=torch.Generator().manual_seed(seed + epoch)
                )
            }
        rows = orders[epoch][index * BATCH : (index + 1) * BATCH]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        loss = legal_loss(model(tokens[rows, :-1]), legal[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress and (step % LOG_EVERY == 0 or step == steps - 1):
            model.eval()
            rate = legal_top1(model, eval_tokens[:300], eval_legal[:300])
            model.train()
            print(
                f"othello step {step}: loss {loss.item():.4f}, held-out legal top-1 {rate:.4f} "
                f"({time.process_time() - cpu:.0f} CPU-s)",
                flush=True,
            )
        if callback is not None and (step % LOG_EVERY == 0 or step == steps - 1):
            callback(step, model)
    model.eval()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    metrics = dict(
        **probe_metrics(model),
        heldout_legal_top1=legal_top1(model, eval_tokens, eval_legal),
        train_legal_top1=legal_top1(model, tokens[:EVAL_GAMES], legal[:EVAL_GAMES]),
        final_train_loss=loss.item(),
        train_steps=steps,
        train_games=n_games,
        train_cpu_seconds=round(cpu, 1),
        data_cpu_seconds=round(data_cpu, 1),
        train_seconds=round(wall, 1),
    )
    return RecipeRun(model=model, config=dict(CONFIG), seed=seed, metrics=metrics)


def residuals(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """The residual stream at every read point: [point, batch, pos, d_model] for the model's
    input `tokens` [batch, pos] (READ_POINTS: the embeddings, then after each block)."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda name: name in READ_POINTS)
    return torch.stack([cache[name] for name in READ_POINTS])


def fit_probe(
    parameters: list[Tensor],
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    acts: Tensor,
    labels: Tensor,
    steps: int = 60,
    lr: float = 0.1,
) -> float:
    """Fit a probe's `parameters` (leaf tensors or a module's parameters, changed in place) by
    full-batch Adam on `loss_fn(acts, labels)`; returns the final loss (chapter 09)."""
    parameters = list(parameters)
    for p in parameters:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(parameters, lr=lr)
    for _ in range(steps):
        loss = loss_fn(acts, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for p in parameters:
        p.requires_grad_(False)
    return loss.item()


def _classes(states: Tensor) -> Tensor:
    """Board values 1 / -1 / 0 as classes 1 / 2 / 0 (int64), one per square."""
    states = states.flatten(-2).long()
    return torch.where(states == 1, 1, torch.where(states == -1, 2, 0))


def _linear_loss(W: Tensor, b: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
    def loss(acts: Tensor, labels: Tensor) -> Tensor:
        logits = torch.einsum("nd,dsc->nsc", acts, W) + b
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten())

    return loss


def probe_metrics(model: torch.nn.Module, n_games: int = 600) -> dict:
    """Held-out accuracy of linear board probes at every read point, in both bases: the board
    as black / white / empty and as mine / theirs / empty (relative to the player to move).
    Fitted on half of `n_games` random games (seed PROBE_SEED), scored on the other half."""
    batch = game_batch(random_games(n_games, seed=PROBE_SEED))
    acts = residuals(model, batch.inputs)
    half, valid = n_games // 2, batch.valid
    metrics = {}
    for basis, states in (("color", batch.boards), ("relative", batch.mine_theirs())):
        labels = _classes(states)
        accuracies = []
        for point in range(len(READ_POINTS)):
            train_x, test_x = acts[point, :half][valid[:half]], acts[point, half:][valid[half:]]
            train_y, test_y = labels[:half][valid[:half]], labels[half:][valid[half:]]
            W = torch.zeros(acts.shape[-1], N_SQUARES, 3)
            b = torch.zeros(N_SQUARES, 3)
            fit_probe([W, b], _linear_loss(W, b), train_x, train_y)
            predicted = (torch.einsum("nd,dsc->nsc", test_x, W) + b).argmax(-1)
            accuracies.append((predicted == test_y).float().mean().item())
            metrics[f"probe_{basis}_acc_point{point}"] = accuracies[-1]
        metrics[f"probe_{basis}_best_acc"] = max(accuracies)
    return metrics
