"""The full tinyworld-lm recipe, timed: what `mi-tutorial train tinyworld-lm` does, into a
temporary folder (the shipped checkpoint is left alone).

    python benchmarks/train_tinyworld.py            # the recipe's 2000 steps
    python benchmarks/train_tinyworld.py --steps 600

Prints seconds per step, tokens per second, the metrics `tinyworld_metrics` measures on
held-out data, and whether the weights are bit-identical to the shipped ones (they should
be on this machine, after a full run: the recipe is seeded and single-threaded).
"""

import argparse
import tempfile
import time
from pathlib import Path

from mi_tutorial.course.recipes import run_recipe
from mi_tutorial.course.recipes.tinyworld_lm import (
    BATCH as TINYWORLD_LM_BATCH,
    CONFIG as TINYWORLD_LM_CONFIG,
    STEPS as TINYWORLD_LM_STEPS,
)
from mi_tutorial.models import CHECKPOINT_DIR, read_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=TINYWORLD_LM_STEPS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        metrics = run_recipe("tinyworld-lm", out_dir=out, steps=args.steps)
        total = time.perf_counter() - start
        entry = read_manifest(Path(out))["tinyworld-lm"]
    tokens = args.steps * TINYWORLD_LM_BATCH * TINYWORLD_LM_CONFIG["n_ctx"]
    print(
        f"{args.steps} steps in {metrics['train_seconds']:.0f} s of training "
        f"({metrics['train_seconds'] / args.steps * 1000:.0f} ms/step, "
        f"{tokens / metrics['train_seconds']:.0f} tokens/s); {total:.0f} s with evaluation"
    )
    for key, value in metrics.items():
        print(f"  {key:<28} {value:.4g}")
    shipped = read_manifest(CHECKPOINT_DIR).get("tinyworld-lm", {}).get("sha256")
    if args.steps == TINYWORLD_LM_STEPS and shipped:
        same = "identical to" if entry["sha256"] == shipped else "DIFFERENT from"
        print(f"weights {same} the shipped checkpoint (sha256 {entry['sha256'][:12]})")


if __name__ == "__main__":
    main()
