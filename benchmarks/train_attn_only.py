"""How fast and how reliably the attn-only-2l recipe forms induction heads.

Trains the recipe's model and data for several seeds, one CPU thread as the recipe does,
and prints the held-out metrics every few steps. The numbers quoted next to
STEPS in mi_tutorial/course/recipes/attn_only_2l.py come from

    python benchmarks/train_attn_only.py --seeds 0-10 --steps 600

and `--min-half-len 20` (every run 20 tokens long) shows the positional shortcut: the
loss drops and a head attends 19 positions back, but no previous-token head forms
(best previous-token score < 0.1), so it is not induction.
"""

import argparse
import time

import torch

from mi_tutorial.course.recipes import attn_only_2l as recipe
from mi_tutorial.data import repeated_tokens
from mi_tutorial.metrics import induction_metrics
from mi_tutorial.models import boot
from mi_tutorial.train import next_token_loss


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-4"), help="e.g. 0-10")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--every", type=int, default=100, help="evaluate every N steps")
    parser.add_argument("--lr", type=float, default=recipe.LR)
    parser.add_argument("--min-half-len", type=int, default=recipe.MIN_HALF_LEN)
    args = parser.parse_args()

    torch.set_num_threads(1)
    half_len = recipe.HALF_LEN
    eval_tokens = repeated_tokens(300, half_len, recipe.CONFIG["d_vocab"], seed=999)
    print("step: repeated-half loss / best induction score @ head / best prev-token score @ head")
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = boot({**recipe.CONFIG, "seed": seed}).train()
        make_batch = recipe.batches(seed, args.min_half_len)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
        train_seconds, report = 0.0, []
        for step in range(1, args.steps + 1):
            start = time.perf_counter()
            loss = next_token_loss(model, make_batch(step))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            train_seconds += time.perf_counter() - start
            if step % args.every == 0:
                m = induction_metrics(model.eval(), eval_tokens, half_len)
                model.train()
                report.append(
                    f"{step}: {m['repeated_half_loss']:.2f} / {m['best_induction_score']:.2f}"
                    f" @{m['best_induction_head']} / {m['best_prev_token_score']:.2f} @{m['best_prev_token_head']}"
                )
        print(
            f"seed {seed} ({train_seconds:.1f} s, {1000 * train_seconds / args.steps:.0f} ms/step)"
        )
        print("   " + "   ".join(report), flush=True)


if __name__ == "__main__":
    main()
