"""The course's SAE trainer (mi_tutorial.sae.train_sae) against SAELens's, side by side.

Both train the same SAE shapes with the same hyperparameters (steps, batch, learning rate,
Adam betas, L1 / L0 / aux-k coefficients, dead-latent window) on the same synthetic data
whose features are known: `N_FEATURES` unit directions in d_in = 128 dimensions, each
firing independently with a power-law probability (mean L0 `MEAN_L0`) and a magnitude in
[0.5, 1.5], plus a constant offset (real activations have a mean). Each run is its own
process at one thread, the two trainers alternate (A B, B A, ...), and for each setting the
script prints the medians over the repeats of:

- samples/s, wall and per CPU-second (on a shared machine the wall clock also counts the
  time other programs held the core; CPU time counts only ours), and the ratio course/SAELens;
- feature recovery: mean over the true features of the largest cosine with a decoder row;
- dead fraction: latents that never fire on 16,384 held-out samples (each SAE evaluated as
  its library runs it for inference: SAELens's saved inference model, the course's SAE in
  eval mode);
- L0 and explained variance on the held-out samples;
- each trainer's fraction of the CPU's matmul rate: the matmul FLOPs its algorithm does per
  sample (SAELens: six dense [batch, d_in] × [d_in, d_sae]-sized products, forward and
  backward, plus Matryoshka's inner decoders; the course: `train_flops_per_token`, which
  counts its sparse decoder) × samples per CPU-second ÷ the FLOPs per CPU-second of one
  large float32 matmul timed here.

SAELens needs TransformerLens < 4, so it lives in its own virtual environment, outside the
repository; create it once (the local torch wheel first, so pip does not fetch another):

    python3 -m venv /work/saelens-venv
    /work/saelens-venv/bin/pip install torch==2.13.0
    /work/saelens-venv/bin/pip install sae-lens

then, from the repository root:

    .venv/bin/python benchmarks/sae.py [--saelens-python /work/saelens-venv/bin/python]
        [--settings relu topk ...] [--repeats 3] [--steps 200] [--batch 4096] [--d-sae 1024]

Without SAELens (`--course-only`) it times the course's trainer alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

D_IN, N_FEATURES, MEAN_L0, N_TRAIN, N_TEST = 128, 512, 12.0, 131072, 16384
# name -> architecture, k, Matryoshka prefixes (as fractions of d_sae), trainer coefficients
SETTINGS = {
    "relu": dict(architecture="standard", l1_coefficient=0.3, l1_warmup_steps=30),
    "topk": dict(architecture="topk", k=16, aux_k_coefficient=1 / 32),
    "batchtopk": dict(architecture="batchtopk", k=16, aux_k_coefficient=1 / 32),
    "jumprelu": dict(architecture="jumprelu", l0_coefficient=0.01),
    "matryoshka": dict(
        architecture="batchtopk", k=16, aux_k_coefficient=1 / 32, prefixes=(1 / 8, 1 / 2, 1)
    ),
}
DEAD_WINDOW = 25  # steps without firing before a latent counts as dead (both trainers)


# --- shared by both workers (torch only) ------------------------------------------------


def make_data(seed: int = 0) -> dict[str, torch.Tensor]:
    """Training and held-out samples of the known features, the features and the offset."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.randn(N_FEATURES, D_IN, generator=g)
    directions /= directions.norm(dim=-1, keepdim=True)
    rank = torch.arange(1, N_FEATURES + 1, dtype=torch.float32)
    probs = rank**-0.5
    probs = (probs * MEAN_L0 / probs.sum()).clamp(max=0.5)
    offset = 0.3 * torch.randn(D_IN, generator=g)

    def sample(n: int) -> torch.Tensor:
        chunks = []
        for start in range(0, n, 8192):
            m = min(8192, n - start)
            fires = torch.rand(m, N_FEATURES, generator=g) < probs
            magnitude = 0.5 + torch.rand(m, N_FEATURES, generator=g)
            chunks.append((fires * magnitude) @ directions + offset)
        return torch.cat(chunks)

    return {"train": sample(N_TRAIN), "test": sample(N_TEST), "directions": directions}


@torch.no_grad()
def evaluate(encode, decode, W_dec: torch.Tensor, test: torch.Tensor, directions) -> dict:
    acts = encode(test)
    recon = decode(acts)
    dec = W_dec / W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return {
        "recovery": (directions @ dec.T).max(dim=1).values.mean().item(),
        "dead": ((acts > 0).sum(0) == 0).float().mean().item(),
        "l0": (acts > 0).sum(-1).float().mean().item(),
        "explained_variance": 1
        - ((recon - test) ** 2).sum().item() / ((test - test.mean(0)) ** 2).sum().item(),
    }


def batches(train: torch.Tensor, batch: int, seed: int):
    """Batches without replacement, a fresh permutation each epoch (as train_sae draws)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(train), generator=g)
        for start in range(0, len(train) - batch + 1, batch):
            yield train[order[start : start + batch]]


def prefixes(spec: dict, d_sae: int) -> tuple[int, ...] | None:
    return tuple(int(f * d_sae) for f in spec["prefixes"]) if "prefixes" in spec else None


# --- the workers --------------------------------------------------------------------------


def course_worker(job: dict, data: dict) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's library
    from mi_tutorial import sae as sae_lib

    spec = SETTINGS[job["setting"]]
    cfg = sae_lib.SAEConfig(
        d_in=D_IN,
        d_sae=job["d_sae"],
        architecture=spec["architecture"],
        k=spec.get("k"),
        matryoshka_prefixes=prefixes(spec, job["d_sae"]),
    )
    sae = sae_lib.SAE(cfg, seed=job["seed"])
    options = {
        key: spec[key]
        for key in ("l1_coefficient", "l1_warmup_steps", "l0_coefficient", "aux_k_coefficient")
        if key in spec
    }
    start, cpu_start = time.perf_counter(), time.process_time()
    sae_lib.train_sae(
        sae,
        data["train"],
        steps=job["steps"],
        batch_size=job["batch"],
        lr=job["lr"],
        dead_window=DEAD_WINDOW,
        seed=job["seed"],
        **options,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    sae.eval()
    out = evaluate(sae.encode, sae.decode, sae.W_dec.detach(), data["test"], data["directions"])
    flops = sae_lib.train_flops_per_token(cfg)
    return {**out, "wall": wall, "cpu": cpu, "flops_per_sample": flops}


def saelens_worker(job: dict, data: dict) -> dict:
    os.environ.setdefault("TQDM_DISABLE", "1")
    from sae_lens import SAE as InferenceSAE
    from sae_lens.config import LoggingConfig, SAETrainerConfig
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.jumprelu_sae import JumpReLUTrainingSAE, JumpReLUTrainingSAEConfig
    from sae_lens.saes.matryoshka_batchtopk_sae import (
        MatryoshkaBatchTopKTrainingSAE,
        MatryoshkaBatchTopKTrainingSAEConfig,
    )
    from sae_lens.saes.standard_sae import StandardTrainingSAE, StandardTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    spec, d_sae = SETTINGS[job["setting"]], job["d_sae"]
    common = dict(d_in=D_IN, d_sae=d_sae, apply_b_dec_to_input=True)
    widths = prefixes(spec, d_sae)
    if widths:
        cfg = MatryoshkaBatchTopKTrainingSAEConfig(
            **common,
            k=spec["k"],
            aux_loss_coefficient=spec["aux_k_coefficient"],
            matryoshka_widths=list(widths),
        )
        sae = MatryoshkaBatchTopKTrainingSAE(cfg)
    elif spec["architecture"] == "standard":
        cfg = StandardTrainingSAEConfig(
            **common,
            l1_coefficient=spec["l1_coefficient"],
            l1_warm_up_steps=spec["l1_warmup_steps"],
        )
        sae = StandardTrainingSAE(cfg)
    elif spec["architecture"] == "jumprelu":
        cfg = JumpReLUTrainingSAEConfig(**common, l0_coefficient=spec["l0_coefficient"])
        sae = JumpReLUTrainingSAE(cfg)
    else:
        config_class, sae_class = {
            "topk": (TopKTrainingSAEConfig, TopKTrainingSAE),
            "batchtopk": (BatchTopKTrainingSAEConfig, BatchTopKTrainingSAE),
        }[spec["architecture"]]
        cfg = config_class(**common, k=spec["k"], aux_loss_coefficient=spec["aux_k_coefficient"])
        sae = sae_class(cfg)
    trainer_cfg = SAETrainerConfig(
        total_training_samples=job["steps"] * job["batch"],
        train_batch_size_samples=job["batch"],
        lr=job["lr"],
        lr_end=job["lr"],  # constant, as the course's
        adam_beta1=0.9,
        adam_beta2=0.999,
        dead_feature_window=DEAD_WINDOW,
        feature_sampling_window=10**9,
        logger=LoggingConfig(log_to_wandb=False),
    )
    trainer = SAETrainer(
        cfg=trainer_cfg,
        sae=sae,
        data_provider=batches(data["train"], job["batch"], job["seed"]),
        save_checkpoint_fn=lambda *args, **kwargs: None,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    with tempfile.TemporaryDirectory() as folder:
        sae.save_inference_model(folder)
        inference = InferenceSAE.load_from_disk(folder)
    out = evaluate(
        inference.encode,
        inference.decode,
        inference.W_dec.detach(),
        data["test"],
        data["directions"],
    )
    flops = 12 * D_IN * d_sae + sum(6 * D_IN * m for m in (widths or ())[:-1])
    return {**out, "wall": wall, "cpu": cpu, "flops_per_sample": flops}


def worker(trainer: str, job_json: str) -> None:
    torch.set_num_threads(1)
    job = json.loads(job_json)
    data = torch.load(job["data"])
    out = (course_worker if trainer == "course" else saelens_worker)(job, data)
    print("RESULT " + json.dumps(out))


# --- the driver ---------------------------------------------------------------------------


def matmul_flops_per_cpu_second(size: int = 2048, repeats: int = 8) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    cpu_start = time.process_time()
    for _ in range(repeats):
        a @ b
    return repeats * 2 * size**3 / (time.process_time() - cpu_start)


def run(python: str, trainer: str, job: dict) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    if trainer == "saelens":  # its venv must not see the course's editable install's path
        env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [python, __file__, "--worker", trainer, json.dumps(job)],
        capture_output=True,
        text=True,
        env=env,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(
            f"the {trainer} run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("TRAINER", "JOB"), help=argparse.SUPPRESS)
    parser.add_argument("--saelens-python", default="/work/saelens-venv/bin/python")
    parser.add_argument("--course-only", action="store_true")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--d-sae", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--json", default=None, help="also write every run's figures here")
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    torch.set_num_threads(1)
    trainers = ["course"] if args.course_only else ["course", "saelens"]
    pythons = {"course": sys.executable, "saelens": args.saelens_python}
    peak = matmul_flops_per_cpu_second()
    print(
        f"one thread; {N_FEATURES} known features in d_in {D_IN}, mean L0 {MEAN_L0}; "
        f"{N_TRAIN:,} training samples; d_sae {args.d_sae}, batch {args.batch}, "
        f"{args.steps} steps, lr {args.lr}; {args.repeats} alternating repeats, medians; "
        f"large-matmul rate {peak / 1e9:.1f} GFLOP per CPU-second"
    )
    runs: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        data_path = str(Path(folder) / "data.pt")
        torch.save(make_data(), data_path)
        for setting in args.settings:
            job = dict(
                setting=setting, data=data_path, steps=args.steps, batch=args.batch,
                d_sae=args.d_sae, lr=args.lr, seed=0,
            )  # fmt: skip
            for repeat in range(args.repeats):
                order = trainers if repeat % 2 == 0 else trainers[::-1]
                for trainer in order:
                    out = run(pythons[trainer], trainer, job)
                    runs.setdefault(setting, {}).setdefault(trainer, []).append(out)
            report(setting, runs[setting], args, peak)
            if args.json:
                Path(args.json).write_text(json.dumps(runs, indent=1))


def report(setting: str, by_trainer: dict, args, peak: float) -> None:
    samples = args.steps * args.batch
    line = {}
    for trainer, outs in by_trainer.items():

        def median(key):
            return statistics.median(out[key] for out in outs)

        line[trainer] = dict(
            wall_rate=samples / median("wall"),
            cpu_rate=samples / median("cpu"),
            **{key: median(key) for key in ("recovery", "dead", "l0", "explained_variance")},
            fraction=outs[0]["flops_per_sample"] * samples / median("cpu") / peak,
            walls=[round(out["wall"], 1) for out in outs],
        )
    for trainer, m in line.items():
        print(
            f"{setting:10s} {trainer:7s}: {m['wall_rate']:8,.0f} samples/s wall "
            f"({m['cpu_rate']:8,.0f} per CPU-s; runs {m['walls']} s), recovery "
            f"{m['recovery']:.3f}, dead {m['dead']:.1%}, L0 {m['l0']:.1f}, "
            f"explained variance {m['explained_variance']:.3f}, "
            f"{m['fraction']:.0%} of the matmul rate"
        )
    if len(line) == 2:
        c, s = line["course"], line["saelens"]
        print(
            f"{setting:10s} ratio  : {c['wall_rate'] / s['wall_rate']:.2f}x wall, "
            f"{c['cpu_rate'] / s['cpu_rate']:.2f}x per CPU-second; recovery "
            f"{c['recovery']:.3f} vs {s['recovery']:.3f}, dead {c['dead']:.1%} vs {s['dead']:.1%}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
