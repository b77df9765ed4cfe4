"""The recipe of chapter 11's SAE sweep: SAEs of every width, k and architecture trained on
`tinyworld-lm`'s layer-2 residual stream, measured on held-out text, shipped as a table.

Run it with `python -m mi_tutorial.course.recipes.sae_sweep` (about 22 CPU-minutes on one
core; `--out DIR` writes elsewhere, `--quick` runs every setting for 3 steps). It writes two
files beside the shipped models:

- `checkpoints/sae-sweep.json`: one row per trained SAE (its settings, held-out normalized
  MSE, L0, dead fraction, training FLOPs, CPU seconds, and its training curve), the run's
  total CPU time, the settings, and the sha256 of the weights file below;
- `checkpoints/snapshots/sae-sweep.safetensors`: the weights, in float16, of the few SAEs
  the chapter reads latents from (feature splitting and absorption: `shipped_rows`).

It is not a `mi-tutorial train` recipe: those ship one transformer, which the manifest
boots and verifies; this ships measurements. `load_sweep` checks both files' hashes.

Everything is deterministic at one thread: the same settings give the same table, and the
chapter reruns two of its rows live (`LIVE`) and asserts that they agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from mi_tutorial import sae as sae_lib
from mi_tutorial.data import tinyworld
from mi_tutorial.models import CHECKPOINT_DIR, CheckpointError, load_toy_model
from mi_tutorial.train import single_threaded

MODEL = "tinyworld-lm"
HOOK = "blocks.2.hook_resid_pre"  # chapter 05's site: after two of the four layers
N_CTX = 64
TRAIN_SEQS, TRAIN_SEED = 2048, 0  # 2,048 x 63 = 129,024 activation vectors
TEST_SEQS, TEST_SEED = 256, 1  # 16,128 held-out vectors, from the test split
BATCH, LR, STEPS = 4096, 4e-3, 300  # 300 steps = 1.2M vectors, about 9.5 passes
AUX_K = 1 / 32  # Gao et al.'s aux-k coefficient, against dead latents
LOG_EVERY = 25
K = 16  # the width sweep's k
WIDTHS = (256, 512, 1024, 2048, 4096, 8192)
K_WIDTH = 1024  # the k sweep's width
KS = (4, 8, 16, 32, 64)
LIVE = ((256, 50), (512, 50))  # (width, steps) the chapter retrains live, at k = K
LIVE_TOLERANCE = 0.02  # relative: a live rerun's normalized MSE within 2% of the table's
ARCH_WIDTH = 512  # the architecture sweep's width (chapter 05's)
MATRYOSHKA_PREFIXES = (64, 256, 512)
# JumpReLU's thresholds start here: Adam moves θ by about lr per step, so from the library's
# 0.01 they could rise by at most 300 x 4e-3 = 1.2 in the run (and the L0 penalty, capped,
# barely mattered: 1,024 latents, L0 46 at coefficient 0.5, 42 at 2); from 0.5, L0 17 at 1.
JUMPRELU_INIT_THRESHOLD = 0.5
# The architecture sweep: three settings each, chosen so that their L0s overlap.
ARCH_SETTINGS = {
    "standard": [{"l1_coefficient": c} for c in (2.0, 4.0, 8.0)],
    "topk": [{"k": k} for k in (8, 16, 32)],
    "batchtopk": [{"k": k} for k in (8, 16, 32)],
    "jumprelu": [{"l0_coefficient": c} for c in (0.25, 1.0, 4.0)],
    "matryoshka": [{"k": k} for k in (8, 16, 32)],
}
SHIPPED_WIDTHS = (256, 1024, 4096)  # topk k = K: feature splitting
SHIPPED_SETTING = 1  # the middle setting of each architecture: absorption
# Absorption needs specific latents, which appear only in wide dictionaries: Matryoshka
# against its own base (BatchTopK) at the widest shipped width, k = K (TopK is width-4096).
ABSORPTION_WIDTH = SHIPPED_WIDTHS[-1]
ABSORPTION_ARCHITECTURES = ("batchtopk", "matryoshka")
TABLE_FILE = "sae-sweep.json"
WEIGHTS_FILE = Path("snapshots") / "sae-sweep.safetensors"


# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------


@torch.no_grad()
def residuals(model, tokens: Tensor, chunk: int = 256) -> Tensor:
    """The residual stream at HOOK of `tokens` [batch, pos], positions 1: (not <bos>), as
    [batch * (pos - 1), d_model]; the forward pass stops after the hook's layer."""
    layer = int(HOOK.split(".")[1])
    out = []
    for part in tokens.split(chunk):
        _, cache = model.run_with_cache(part, names_filter=[HOOK], stop_at_layer=layer + 1)
        out.append(cache[HOOK][:, 1:].reshape(-1, model.cfg.d_model))
    return torch.cat(out)


def corpora() -> tuple[tinyworld.Corpus, tinyworld.Corpus]:
    """The training and held-out text of the sweep."""
    return (
        tinyworld.sample_corpus(TRAIN_SEQS, N_CTX, seed=TRAIN_SEED, split="train"),
        tinyworld.sample_corpus(TEST_SEQS, N_CTX, seed=TEST_SEED, split="test"),
    )


# ---------------------------------------------------------------------------------------
# One SAE
# ---------------------------------------------------------------------------------------


def spec(architecture: str, d_sae: int, steps: int = STEPS, **setting) -> dict:
    """A row's settings: the library architecture, width, steps, and k / coefficients."""
    return {"architecture": architecture, "d_sae": d_sae, "steps": steps, **setting}


def make_sae(row: dict) -> sae_lib.SAE:
    """The untrained SAE of a row (seed 0)."""
    architecture = row["architecture"]
    extra = {}
    if architecture == "matryoshka":
        architecture = "batchtopk"
        extra["matryoshka_prefixes"] = tuple(p for p in MATRYOSHKA_PREFIXES if p < row["d_sae"])
        extra["matryoshka_prefixes"] += (row["d_sae"],)
    if architecture == "jumprelu":
        extra["jumprelu_init_threshold"] = row.get("init_threshold", JUMPRELU_INIT_THRESHOLD)
    cfg = sae_lib.SAEConfig(
        d_in=128,
        d_sae=row["d_sae"],
        architecture=architecture,
        k=row.get("k"),
        model_name=MODEL,
        hook_name=HOOK,
        context_size=N_CTX,
        **extra,
    )
    return sae_lib.SAE(cfg, seed=0)


def train_row(row: dict, train_acts: Tensor) -> tuple[sae_lib.SAE, sae_lib.SAETrainResult]:
    """Train a row's SAE on `train_acts` with the sweep's settings."""
    sae = make_sae(row)
    options = dict(steps=row["steps"], batch_size=BATCH, lr=LR, seed=0, log_every=LOG_EVERY)
    if row["architecture"] == "standard":
        options.update(l1_coefficient=row["l1_coefficient"], l1_warmup_steps=row["steps"] // 10)
    elif row["architecture"] == "jumprelu":
        options.update(l0_coefficient=row["l0_coefficient"])
    else:
        options.update(aux_k_coefficient=AUX_K)
    return sae, sae_lib.train_sae(sae, train_acts, **options)


def measure(sae: sae_lib.SAE, test_acts: Tensor) -> dict:
    """Held-out figures: normalized MSE (1 - explained variance, Gao et al.'s loss), L0 and
    the fraction of latents that never fire on the held-out vectors."""
    m = sae_lib.sae_metrics(sae.eval(), test_acts)
    return {
        "nmse": 1 - m["explained_variance"],
        "l0": m["l0"],
        "dead_fraction": m["dead_fraction"],
    }


def flops_per_token(row: dict) -> int:
    """Training FLOPs per token of a row's SAE (the library's count)."""
    return sae_lib.train_flops_per_token(make_sae(row).cfg)


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


def rows(quick: bool = False) -> list[dict]:
    """Every row of the sweep, in the order it runs (each distinct setting once)."""
    steps = 3 if quick else STEPS
    out = [spec("topk", n, steps, k=K) for n in WIDTHS]
    out += [spec("topk", K_WIDTH, steps, k=k) for k in KS if k != K]
    out += [spec("topk", n, 3 if quick else s, k=K) for n, s in LIVE]
    for architecture, settings in ARCH_SETTINGS.items():
        out += [spec(architecture, ARCH_WIDTH, steps, **s) for s in settings]
    out += [spec(a, ABSORPTION_WIDTH, steps, k=K) for a in ABSORPTION_ARCHITECTURES]
    unique = []
    for row in out:
        if row not in unique:
            unique.append(row)
    return unique


def shipped_rows(quick: bool = False) -> dict[str, dict]:
    """The rows whose weights are shipped, by name: "width-256", ..., "arch-jumprelu", ..."""
    steps = 3 if quick else STEPS
    named = {f"width-{n}": spec("topk", n, steps, k=K) for n in SHIPPED_WIDTHS}
    for architecture, settings in ARCH_SETTINGS.items():
        named[f"arch-{architecture}"] = spec(
            architecture, ARCH_WIDTH, steps, **settings[SHIPPED_SETTING]
        )
    for architecture in ABSORPTION_ARCHITECTURES:
        named[f"wide-{architecture}"] = spec(architecture, ABSORPTION_WIDTH, steps, k=K)
    return named


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows_sha256(table_rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(table_rows, sort_keys=True).encode()).hexdigest()


def run_sweep(out_dir: Path | str = CHECKPOINT_DIR, quick: bool = False, progress: bool = True):
    """Train and measure every row; write the table and the shipped weights into `out_dir`."""
    out_dir = Path(out_dir)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    with single_threaded():
        model = load_toy_model(MODEL)
        train_corpus, test_corpus = corpora()
        train_acts, test_acts = (
            residuals(model, train_corpus.tokens),
            residuals(model, test_corpus.tokens),
        )
        data_cpu = time.process_time() - cpu_start
        table, weights = [], {}
        wanted = {json.dumps(r, sort_keys=True): name for name, r in shipped_rows(quick).items()}
        for row in rows(quick):
            sae, result = train_row(row, train_acts)
            figures = measure(sae, test_acts)
            entry = {
                **row,
                **figures,
                "flops_per_token": flops_per_token(row),
                "tokens": result.tokens,
                "cpu_seconds": round(result.cpu_seconds, 2),
                "curve_step": [
                    min(i * LOG_EVERY, row["steps"] - 1) for i in range(len(result.losses))
                ],
                "curve_nmse": [round(1 - ev, 6) for ev in result.explained_variance],
            }
            table.append(entry)
            name = wanted.get(json.dumps(row, sort_keys=True))
            if name is not None:
                for key, value in sae.state_dict().items():
                    weights[f"{name}/{key}"] = value.detach().to(torch.float16).contiguous()
            if progress:
                print(
                    f"{row}: nmse {figures['nmse']:.4f}, L0 {figures['l0']:.1f}, "
                    f"dead {figures['dead_fraction']:.3f}, {result.cpu_seconds:.1f} CPU-s",
                    flush=True,
                )
    path = out_dir / WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    document = {
        "command": "python -m mi_tutorial.course.recipes.sae_sweep",
        "model": MODEL,
        "hook": HOOK,
        "settings": {
            "train_seqs": TRAIN_SEQS,
            "test_seqs": TEST_SEQS,
            "batch_size": BATCH,
            "lr": LR,
            "aux_k_coefficient": AUX_K,
            "matryoshka_prefixes": list(MATRYOSHKA_PREFIXES),
        },
        "data_cpu_seconds": round(data_cpu, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "wall_seconds": round(time.perf_counter() - wall_start, 1),
        "torch_version": torch.__version__,
        "weights_sha256": _sha256(path),
        "shipped": {name: r for name, r in shipped_rows(quick).items()},
        "rows_sha256": _rows_sha256(table),
        "rows": table,
    }
    (out_dir / TABLE_FILE).write_text(json.dumps(document, indent=1) + "\n")
    return document


def load_sweep(directory: Path | str = CHECKPOINT_DIR) -> dict:
    """The shipped table, after checking that its rows and weights are the ones recorded."""
    directory = Path(directory)
    path = directory / TABLE_FILE
    if not path.exists():
        raise CheckpointError(
            f"{path} is missing: restore it with `git checkout -- {path}` or re-run "
            "`python -m mi_tutorial.course.recipes.sae_sweep`."
        )
    document = json.loads(path.read_text())
    if _rows_sha256(document["rows"]) != document["rows_sha256"]:
        raise CheckpointError(
            f"{path} was changed: its rows do not match their recorded sha256. Restore it with "
            f"`git checkout -- {path}`."
        )
    return document


def load_saes(directory: Path | str = CHECKPOINT_DIR) -> dict[str, sae_lib.SAE]:
    """The shipped SAEs by name ("width-256", "arch-topk", ...), in float32, eval mode."""
    directory = Path(directory)
    document = load_sweep(directory)
    path = directory / WEIGHTS_FILE
    if not path.exists() or _sha256(path) != document["weights_sha256"]:
        raise CheckpointError(
            f"{path} is missing or does not match the sha256 in {directory / TABLE_FILE}: "
            f"restore it with `git checkout -- {path}`."
        )
    tensors = load_file(str(path))
    saes = {}
    for name, row in document["shipped"].items():
        sae = make_sae(row)
        state = {
            key.split("/", 1)[1]: value.float()
            for key, value in tensors.items()
            if key.startswith(f"{name}/")
        }
        sae.load_state_dict(state, strict=True)
        saes[name] = sae.eval()
    return saes


def find_row(table: dict, **setting) -> dict:
    """The one row of `table` (from `load_sweep`) with these settings."""
    found = [r for r in table["rows"] if all(r.get(k) == v for k, v in setting.items())]
    if len(found) != 1:
        raise KeyError(f"{len(found)} rows of the sweep match {setting}.")
    return found[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(CHECKPOINT_DIR), help="folder to write into")
    parser.add_argument("--quick", action="store_true", help="3 steps per setting (a smoke test)")
    args = parser.parse_args(argv)
    document = run_sweep(args.out, quick=args.quick)
    print(f"{len(document['rows'])} SAEs in {document['cpu_seconds']} CPU-s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
