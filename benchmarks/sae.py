"""How fast does the reference SAE trainer (mi_tutorial/sae.py) train on a CPU?

Caches tinyworld-lm's residual stream at the middle layer (chapter 05's setting), then trains
a ReLU and a TopK SAE on it and prints, for each: tokens/s, final L0 and explained variance
on held-out activations, and the fraction of the CPU's matmul throughput the trainer reaches:

    achieved FLOP/s = FLOPs per token (12 · d_in · d_sae: two matmuls forward, four backward)
                      × tokens/s
    fraction        = achieved FLOP/s ÷ FLOP/s of one large float32 matmul timed in this run

The fraction says how much of the time goes to the matmuls that must be done, rather than to
Python, elementwise passes and the optimizer.

    .venv/bin/python benchmarks/sae.py [--threads N] [--steps S] [--batch B] [--d-sae D]
        [--checkpoint-dir DIR]   # a folder with manifest.json + tinyworld-lm (default: shipped)
"""

from __future__ import annotations

import argparse
import time

import torch

from mi_tutorial import models, sae as sae_lib
from mi_tutorial.data import tinyworld

HOOK = "blocks.2.hook_resid_pre"


def matmul_flops(size: int = 2048, repeats: int = 10) -> tuple[float, float]:
    """FLOP per wall second (the best of `repeats`) and per CPU second (over all repeats)
    of a size×size float32 matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm-up
    best = float("inf")
    cpu_start = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    cpu = time.process_time() - cpu_start
    return 2 * size**3 / best, repeats * 2 * size**3 / cpu


def cache_activations(model, n_seqs: int, seed: int, split: str) -> torch.Tensor:
    tokens = tinyworld.sample_corpus(n_seqs, 64, seed=seed, split=split).tokens
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=[HOOK], stop_at_layer=3)
    return cache[HOOK][:, 1:].reshape(-1, model.cfg.d_model)  # position 0 (<bos>) left out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--d-sae", type=int, default=1024)
    parser.add_argument("--n-seqs", type=int, default=1024)
    parser.add_argument("--checkpoint-dir", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = (
        models.load_checkpoint("tinyworld-lm", args.checkpoint_dir)
        if args.checkpoint_dir
        else models.load_toy_model("tinyworld-lm")
    )
    train_acts = cache_activations(model, args.n_seqs, seed=0, split="train")
    test_acts = cache_activations(model, 256, seed=1, split="test")
    peak, peak_cpu = matmul_flops()
    print(
        f"threads {args.threads}; {len(train_acts)} training activations; large-matmul peak "
        f"{peak / 1e9:.1f} GFLOP/s ({peak_cpu / 1e9:.1f} GFLOP per CPU-second)"
    )

    runs = {
        "ReLU (L1 2)": (
            sae_lib.SAEConfig(d_in=128, d_sae=args.d_sae, hook_name=HOOK),
            dict(l1_coefficient=2.0, l1_warmup_steps=args.steps // 10),
        ),
        "TopK (k 16)": (
            sae_lib.SAEConfig(
                d_in=128, d_sae=args.d_sae, architecture="topk", k=16, hook_name=HOOK
            ),
            dict(aux_k_coefficient=1 / 32),
        ),
    }
    for name, (cfg, kwargs) in runs.items():
        sae = sae_lib.SAE(cfg, seed=0)
        result = sae_lib.train_sae(
            sae, train_acts, steps=args.steps, batch_size=args.batch, lr=4e-3, **kwargs
        )
        metrics = sae_lib.sae_metrics(sae, test_acts)
        flops = sae_lib.train_flops_per_token(cfg) * result.tokens
        achieved, achieved_cpu = flops / result.seconds, flops / result.cpu_seconds
        # Per CPU-second as well: on a shared machine the wall clock also counts the time
        # other programs held the cores; CPU time counts only ours.
        print(
            f"{name:12s} d_sae {cfg.d_sae}: {result.tokens_per_second:,.0f} tokens/s "
            f"({result.tokens:,} tokens in {result.seconds:.1f} s wall, {result.cpu_seconds:.1f} s CPU: "
            f"{result.tokens / result.cpu_seconds:,.0f} tokens per CPU-second); "
            f"L0 {metrics['l0']:.1f}, explained variance {metrics['explained_variance']:.3f}, "
            f"dead {metrics['dead_fraction']:.1%}; {sae_lib.train_flops_per_token(cfg) / 1e6:.2f} MFLOP/token; "
            f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.0%} of the matmul peak "
            f"(per CPU-second: {achieved_cpu / 1e9:.1f} = {achieved_cpu / peak_cpu:.0%})"
        )


if __name__ == "__main__":
    main()
