"""The recipe of `grokking`, the one-layer transformer of chapter 08 that groks modular addition.

A one-layer transformer (attention + ReLU MLP, no LayerNorm, as in Nanda et al. 2023) is
trained full-batch with AdamW and strong weight decay on a fixed fraction of all pairs
`a b =` -> (a + b) mod P. It memorises its training set within a few hundred steps, and
only much later generalises to the held-out pairs. The run keeps snapshots of the weights
along the way (float16, in `checkpoints/snapshots/grokking.safetensors`, sha256 in the
manifest metrics) and the train/test loss and accuracy every LOG_EVERY steps, enough for
the chapter's curves and progress measures.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor

from mi_tutorial.course.recipes.base import RecipeRun
from mi_tutorial.data.modular import all_pairs, train_test_split
from mi_tutorial.models import CHECKPOINT_DIR, CheckpointError, boot, read_manifest

P = 59
CONFIG = dict(
    n_layers=1,
    d_model=128,
    d_head=32,
    n_heads=4,
    d_mlp=512,
    n_ctx=3,  # a, b, =
    d_vocab=P + 1,  # the numbers 0..P-1 and `=` (id P)
    d_vocab_out=P,
    act_fn="relu",
    normalization_type=None,
    seed=0,  # the weight init and the train/test split
)
TRAIN_FRACTION = 0.3
LR = 3e-3
WEIGHT_DECAY = 1.0
BETAS = (0.9, 0.98)
STEPS = 8000
LOG_EVERY = 50
SNAPSHOT_STEPS = 250  # a float16 snapshot every this many steps (and at step 0 and the end)
SNAPSHOT_FILE = Path("snapshots") / "grokking.safetensors"


def last_logits(model: torch.nn.Module, tokens: Tensor) -> Tensor:
    """The model's logits at the last position, [batch, d_vocab_out]: equal to
    `model(tokens)[:, -1]`, computing only what they need (keys and values of the first two
    positions from per-token tables, the MLP and unembedding at the last position only)."""
    w = model.state_dict(keep_vars=True)
    attn = "blocks.0.attn."
    n_heads = model.cfg.n_heads
    resid = w["embed.weight"][None] + w["pos_embed.weight"][:, None]  # [pos, vocab, d_model]
    keys = F.linear(resid, w[attn + "k.weight"], w[attn + "k.bias"])
    values = F.linear(resid, w[attn + "v.weight"], w[attn + "v.bias"])
    positions = torch.arange(tokens.shape[1])
    k, v = keys[positions, tokens], values[positions, tokens]  # [batch, pos, d_model]
    last = resid[-1, tokens[:, -1]]
    q = F.linear(last, w[attn + "q.weight"], w[attn + "q.bias"])
    batch, n_pos, d_model = k.shape
    d_head = d_model // n_heads
    k, v = k.view(batch, n_pos, n_heads, d_head), v.view(batch, n_pos, n_heads, d_head)
    scores = torch.einsum("bhd,bkhd->bhk", q.view(batch, n_heads, d_head), k) / d_head**0.5
    z = torch.einsum("bhk,bkhd->bhd", scores.softmax(-1), v).reshape(batch, d_model)
    mid = last + F.linear(z, w[attn + "o.weight"], w[attn + "o.bias"])
    hidden = F.relu(F.linear(mid, w["blocks.0.mlp.in.weight"], w["blocks.0.mlp.in.bias"]))
    post = mid + F.linear(hidden, w["blocks.0.mlp.out.weight"], w["blocks.0.mlp.out.bias"])
    return F.linear(post, w["unembed.weight"], w["unembed.bias"])


def _measure(model, tokens, labels) -> tuple[float, float]:
    with torch.no_grad():
        logits = last_logits(model, tokens)
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(-1) == labels).float().mean().item()


def recipe(progress: bool = True, steps: int = STEPS) -> RecipeRun:
    """Train the one-layer model on modular addition until it groks, keeping snapshots."""
    seed = CONFIG["seed"]
    model = boot(CONFIG)
    tokens, labels = all_pairs(P)
    train_rows, test_rows = train_test_split(P, TRAIN_FRACTION, seed=seed)
    x_train, y_train = tokens[train_rows], labels[train_rows]
    x_test, y_test = tokens[test_rows], labels[test_rows]
    parameters = [
        v for v in model.state_dict(keep_vars=True).values() if isinstance(v, torch.nn.Parameter)
    ]
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(parameters, lr=LR, weight_decay=WEIGHT_DECAY, betas=BETAS)
    history = {key: [] for key in ("step", "train_loss", "train_acc", "test_loss", "test_acc")}
    snapshots: dict[str, Tensor] = {}

    def snapshot(step: int) -> None:
        for key, value in model.state_dict().items():
            snapshots[f"{step:06d}/{key}"] = value.detach().to(torch.float16).contiguous().clone()

    def log(step: int) -> None:
        for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            loss, acc = _measure(model, x, y)
            history[f"{split}_loss"].append(loss)
            history[f"{split}_acc"].append(acc)
        history["step"].append(step)
        if progress and step % (LOG_EVERY * 10) == 0:
            print(
                f"grokking step {step}: train loss {history['train_loss'][-1]:.3g} "
                f"acc {history['train_acc'][-1]:.3f}, test loss {history['test_loss'][-1]:.3g} "
                f"acc {history['test_acc'][-1]:.3f}",
                flush=True,
            )

    cpu, wall = time.process_time(), time.perf_counter()
    model.train()
    for step in range(steps + 1):  # measures the weights after `step` updates
        if step % LOG_EVERY == 0 or step == steps:
            log(step)
        if step % SNAPSHOT_STEPS == 0 or step == steps:
            snapshot(step)
        if step == steps:
            break
        loss = F.cross_entropy(last_logits(model, x_train), y_train)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    model.eval()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for key, values in history.items():
        snapshots[f"history/{key}"] = torch.tensor(
            values, dtype=torch.int64 if key == "step" else torch.float32
        )

    metrics = grokking_metrics(history)
    metrics.update(
        train_steps=steps,
        train_cpu_seconds=round(cpu, 1),
        train_seconds=round(wall, 1),
        n_snapshots=sum(key.endswith("/embed.weight") for key in snapshots),
    )

    def save_extra(directory: Path) -> dict:
        path, sha256 = save_snapshots(snapshots, directory)
        return {"snapshots_sha256": sha256, "snapshots_mb": round(path.stat().st_size / 2**20, 2)}

    return RecipeRun(
        model=model, config=dict(CONFIG), seed=seed, metrics=metrics, save_extra=save_extra
    )


def grokking_metrics(history: dict) -> dict:
    """Final losses and accuracies, the first logged step with train accuracy 100%
    (memorised) and the first with test accuracy >= 99% (grokked; -1 if never)."""

    def first(key, at_least):
        return next((s for s, v in zip(history["step"], history[key]) if v >= at_least), -1)

    return dict(
        final_train_loss=history["train_loss"][-1],
        final_train_acc=history["train_acc"][-1],
        final_test_loss=history["test_loss"][-1],
        final_test_acc=history["test_acc"][-1],
        memorised_step=first("train_acc", 1.0),
        grokking_step=first("test_acc", 0.99),
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_snapshots(snapshots: dict[str, Tensor], directory: Path | str) -> tuple[Path, str]:
    """Write the snapshots file under `directory`; returns its path and sha256."""
    path = Path(directory) / SNAPSHOT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(snapshots, str(path))
    return path, _sha256(path)


def load_snapshots(
    directory: Path | str = CHECKPOINT_DIR,
) -> tuple[dict[int, dict[str, Tensor]], dict[str, Tensor]]:
    """The grokking run's snapshots, {step: state_dict in float32}, and its logged history
    {"step", "train_loss", "train_acc", "test_loss", "test_acc"}, after checking the file's
    sha256 against the manifest. Load a snapshot with `model.load_state_dict(snapshots[step])`."""
    directory = Path(directory)
    entry = read_manifest(directory).get("grokking")
    path = directory / SNAPSHOT_FILE
    if entry is None or "snapshots_sha256" not in entry.get("metrics", {}):
        raise CheckpointError(
            f"No grokking snapshots recorded in {directory / 'manifest.json'}: "
            "run `mi-tutorial train grokking`."
        )
    if not path.exists():
        raise CheckpointError(
            f"{path} is missing. Restore it with `git checkout -- {path}` or "
            "re-run `mi-tutorial train grokking`."
        )
    actual = _sha256(path)
    if actual != entry["metrics"]["snapshots_sha256"]:
        raise CheckpointError(
            f"{path} is corrupted or was changed: its sha256 starts {actual[:12]}, the "
            f"manifest expects {entry['metrics']['snapshots_sha256'][:12]}. Restore it "
            f"with `git checkout -- {path}` or re-run `mi-tutorial train grokking`."
        )
    tensors = load_file(str(path))
    snapshots: dict[int, dict[str, Tensor]] = {}
    history = {}
    for key, value in tensors.items():
        head, name = key.split("/", 1)
        if head == "history":
            history[name] = value
        else:
            snapshots.setdefault(int(head), {})[name] = value.float()
    return dict(sorted(snapshots.items())), history
