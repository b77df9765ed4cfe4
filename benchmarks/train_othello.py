"""Time the othello-6x6 recipe of chapter 09 on one CPU thread, and its settings' cost.

    python benchmarks/train_othello.py            # CPU-s per training step of a few models
    python benchmarks/train_othello.py --steps N  # the recipe itself, N steps, into a temp dir

The first form measures what chose the recipe's model: CPU seconds per AdamW step (batch
BATCH, 32 positions, the legal-move loss) for the shipped 4-layer d_model 64 model and a few
wider or deeper ones, and the CPU seconds to draw the training games. With `--steps` it runs
`run_recipe("othello-6x6", steps=N)` into a temporary folder and prints the metrics it
records (a full run is `mi-tutorial train othello-6x6`, about 18 CPU-minutes).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from mi_tutorial.course.recipes import othello as recipe, run_recipe
from mi_tutorial.data import othello
from mi_tutorial.models import boot

VARIANTS = {
    "shipped: 4 layers, d_model 64": {},
    "4 layers, d_model 128": dict(d_model=128, d_head=32, d_mlp=512),
    "6 layers, d_model 96": dict(n_layers=6, d_model=96, d_head=32, n_heads=3, d_mlp=384),
    "8 layers, d_model 64": dict(n_layers=8),
}


def step_seconds(config: dict, steps: int = 5) -> float:
    """CPU seconds per training step of a model of `config` (after one warm-up step)."""
    model = boot(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.LR)
    games, legal = othello.random_games_with_legal(recipe.BATCH, seed=0)
    tokens = othello.game_tokens(games)
    for step in range(steps + 1):
        if step == 1:
            start = time.process_time()
        loss = recipe.legal_loss(model(tokens[:, :-1]), legal)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.process_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="run the recipe for this many steps")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.steps:
        with tempfile.TemporaryDirectory() as folder:
            print(run_recipe("othello-6x6", out_dir=folder, steps=args.steps))
        return
    cpu = time.process_time()
    othello.random_games_with_legal(2000, seed=0)
    per_game = (time.process_time() - cpu) / 2000
    print(
        f"drawing games: {per_game * 1e3:.2f} CPU-ms a game "
        f"({per_game * recipe.N_TRAIN_GAMES:.0f} CPU-s for the recipe's {recipe.N_TRAIN_GAMES})"
    )
    for name, change in VARIANTS.items():
        seconds = step_seconds(dict(recipe.CONFIG, **change))
        print(
            f"{name:>32}: {seconds:.3f} CPU-s a step, {seconds * recipe.STEPS:.0f} CPU-s "
            f"for {recipe.STEPS} steps"
        )


if __name__ == "__main__":
    main()
