"""Time mi_tutorial.checks._keys.patching against transformer_lens.patching on the same model and inputs.

    .venv/bin/python benchmarks/patching.py [--prompts 32] [--threads 2] [--repeats 3]

Both run every sweep on `tinyworld-lm` with the same IOI prompts (ABC corruption), the same
clean cache and the same normalized logit-difference metric. For each sweep it prints the
best-of-`repeats` wall time of transformer_lens, of the reference, and of the reference with
`skip_unchanged=False` (which also computes the patches that copy a clean activation equal to
the corrupted one: with the ABC corruption, every position before the second mention of the
subject); the ratios (transformer_lens / reference) and the largest absolute difference
between the results; then the totals. The goal: the reference at least 2x faster with a max
abs difference of at most 1e-5. The machine's load average is printed too, since a busy CPU
slows everything.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time
from unittest import mock

import torch
import transformer_lens.patching as tl_patching

from mi_tutorial import models
from mi_tutorial.checks._keys import patching as reference
from mi_tutorial.data import tinyworld


def sweeps(model, corrupted_tokens, clean_cache, corrupted_cache, metric):
    """(name, reference sweep taking skip_unchanged=, transformer_lens call) for every sweep both implement."""
    args = (model, corrupted_tokens, clean_cache, metric)
    ref = functools.partial
    for act, tl_fn in (
        ("resid_pre", tl_patching.get_act_patch_resid_pre),
        ("attn_out", tl_patching.get_act_patch_attn_out),
        ("mlp_out", tl_patching.get_act_patch_mlp_out),
    ):
        yield (
            f"{act} [layer, pos]",
            ref(reference.patch_layer_pos, *args, act, corrupted_cache=corrupted_cache),
            ref(tl_fn, *args),
        )
    tl_all_pos = {
        "z": tl_patching.get_act_patch_attn_head_out_all_pos,
        "q": tl_patching.get_act_patch_attn_head_q_all_pos,
        "k": tl_patching.get_act_patch_attn_head_k_all_pos,
        "v": tl_patching.get_act_patch_attn_head_v_all_pos,
        "pattern": tl_patching.get_act_patch_attn_head_pattern_all_pos,
    }
    for act, tl_fn in tl_all_pos.items():
        yield (
            f"head {act} all pos [layer, head]",
            ref(reference.patch_heads_all_pos, *args, act, corrupted_cache=corrupted_cache),
            ref(tl_fn, *args),
        )
    yield (
        "head z by pos [layer, pos, head]",
        ref(reference.patch_heads_by_pos, *args, "z", corrupted_cache=corrupted_cache),
        ref(tl_patching.get_act_patch_attn_head_out_by_pos, *args),
    )
    yield (
        "head v by pos [layer, pos, head]",
        ref(reference.patch_heads_by_pos, *args, "v", corrupted_cache=corrupted_cache),
        ref(tl_patching.get_act_patch_attn_head_v_by_pos, *args),
    )


def best_time(fn, repeats: int) -> tuple[float, torch.Tensor]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = models.load_toy_model("tinyworld-lm")
    prompts = tinyworld.ioi_prompts(args.prompts, seed=0)
    clean_cache = reference.run_cache(model, prompts.clean_tokens)
    corrupted_cache = reference.run_cache(model, prompts.corrupted_tokens)
    with torch.no_grad():
        clean_ld = (
            reference.logit_diff(model(prompts.clean_tokens), prompts.answers, prompts.wrong)
            .mean()
            .item()
        )
        corrupted_ld = (
            reference.logit_diff(model(prompts.corrupted_tokens), prompts.answers, prompts.wrong)
            .mean()
            .item()
        )
    metric = functools.partial(
        reference.normalized_metric,
        answers=prompts.answers,
        wrong=prompts.wrong,
        clean_ld=clean_ld,
        corrupted_ld=corrupted_ld,
    )

    print(
        f"tinyworld-lm, {args.prompts} IOI prompts x {prompts.clean_tokens.shape[1]} tokens, "
        f"{args.threads} torch threads, best of {args.repeats}; load average {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(
        f"{'sweep':34s} {'transformer_lens':>16s} {'reference':>10s} {'ratio':>6s} {'no skip':>8s} {'ratio':>6s} {'max abs diff':>13s}"
    )
    total_tl = total_ref = total_all = 0.0
    worst = 0.0
    # transformer_lens draws a progress bar per sweep; keep the table readable.
    quiet = mock.patch.object(tl_patching, "tqdm", lambda iterable, **kwargs: iterable)
    with quiet, contextlib.redirect_stderr(open(os.devnull, "w")):
        for name, ours, theirs in sweeps(
            model, prompts.corrupted_tokens, clean_cache, corrupted_cache, metric
        ):
            t_tl, expected = best_time(theirs, args.repeats)
            t_ref, got = best_time(ours, args.repeats)
            t_all, got_all = best_time(functools.partial(ours, skip_unchanged=False), args.repeats)
            diff = max((got - expected).abs().max().item(), (got_all - expected).abs().max().item())
            worst = max(worst, diff)
            total_tl, total_ref, total_all = total_tl + t_tl, total_ref + t_ref, total_all + t_all
            print(
                f"{name:34s} {t_tl:15.2f}s {t_ref:9.2f}s {t_tl / t_ref:5.1f}x {t_all:7.2f}s {t_tl / t_all:5.1f}x {diff:13.2e}",
                flush=True,
            )
    print(
        f"{'total':34s} {total_tl:15.2f}s {total_ref:9.2f}s {total_tl / total_ref:5.1f}x {total_all:7.2f}s "
        f"{total_tl / total_all:5.1f}x {worst:13.2e}"
    )


if __name__ == "__main__":
    main()
