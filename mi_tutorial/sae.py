"""Sparse autoencoders: the reference SAE, a fast CPU trainer, the metrics, and SAELens's
on-disk layout (chapter 05 teaches all of it; chapter 06 reuses the trained SAEs).

An SAE reads an activation `x` ([..., d_in]) and writes it as a sparse, non-negative
combination of `d_sae` learned directions (its *latents*):

    pre  = (x - b_dec) @ W_enc + b_enc          # b_dec doubles as a pre-encoder bias
    f    = ReLU(pre)            ("standard")     # or TopK(pre, k) ("topk")
    x̂    = f @ W_dec + b_dec                     # row W_dec[i] is latent i's direction

Parameter names and shapes are SAELens's (W_enc [d_in, d_sae], b_enc [d_sae],
W_dec [d_sae, d_in], b_dec [d_in]), so `save_sae_lens` / `load_sae_lens` read and write the
folder layout SAELens uses (`cfg.json` + `sae_weights.safetensors`) without depending on it.

The metrics follow SAELens's names and definitions: `l0` (mean number of active latents per
token), `explained_variance` (1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖², pooled over tokens),
`feature_density` (fraction of tokens on which each latent fires), dead latents (never fire
over a window), and `ce_loss_score` (the share of the zero-ablation loss increase the SAE
recovers when spliced into the model).

Chapter 05 has you write the SAE's pieces; the library's own versions of its exercises
(`_topk_activation`, `_relu_sae_loss`, `_aux_k_loss`, `_explained_variance`, ...) are
private, so that `from mi_tutorial import sae` never hands a learner the answers, nor
shadows their functions. Where chapter 05 trains with this module's fast trainer, it passes
the learner's own aux-k loss (`train_sae(..., aux_k_loss=aux_k_loss)`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

ARCHITECTURES = ("standard", "topk")
SAE_CFG_FILENAME = "cfg.json"  # SAELens's file names, so its loader finds them
SAE_WEIGHTS_FILENAME = "sae_weights.safetensors"
DENSE_THRESHOLD = 0.1  # a latent firing on more than 10% of tokens is "dense" (Gao et al. 2024)
# W_enc starts as ENCODER_INIT_SCALE × W_dec.T. Small pre-activations at the start let the L1
# penalty switch latents off within the first steps (Adam moves b_enc by about lr per step);
# with 1.0, on tinyworld-lm's residual stream (norm ~18), a ReLU SAE trained 150 steps kept
# an L0 of 70 where 0.1 gave 44 at the same L1 coefficient and better explained variance.
ENCODER_INIT_SCALE = 0.1


# ---------------------------------------------------------------------------------------
# The SAE
# ---------------------------------------------------------------------------------------


@dataclass
class SAEConfig:
    """What defines an SAE. The field names are those of SAELens's cfg.json.

    - d_in, d_sae: input width and number of latents;
    - architecture: "standard" (ReLU, trained with an L1 penalty) or "topk" (keeps the `k`
      largest pre-activations);
    - k: TopK's k (None for "standard");
    - model_name, hook_name, context_size, prepend_bos: where the activations came from
      (SAELens keeps them under "metadata").
    """

    d_in: int
    d_sae: int
    architecture: str = "standard"
    k: int | None = None
    model_name: str = ""
    hook_name: str = ""
    context_size: int | None = None
    prepend_bos: bool = True

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}."
            )
        if self.architecture == "topk" and not (
            isinstance(self.k, int) and 0 < self.k <= self.d_sae
        ):
            raise ValueError(
                f"a topk SAE needs an int k in 1..d_sae={self.d_sae}, got k={self.k!r}."
            )
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"d_in and d_sae must be positive, got {self.d_in} and {self.d_sae}.")


def _topk_activation(pre: Tensor, k: int) -> Tensor:
    """Keep the k largest entries of each row of `pre` (after a ReLU), zero the rest."""
    top = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())


class SAE(nn.Module):
    """A ReLU ("standard") or TopK sparse autoencoder with SAELens's parameter layout."""

    def __init__(self, cfg: SAEConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        generator = torch.Generator().manual_seed(seed)
        # Decoder rows: random unit directions; encoder: a small copy of the decoder's
        # transpose, so each latent starts by detecting its own direction, weakly.
        W_dec = torch.randn(cfg.d_sae, cfg.d_in, generator=generator)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_enc = nn.Parameter(ENCODER_INIT_SCALE * W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(cfg.d_sae))
        self.W_dec = nn.Parameter(W_dec)
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))

    def pre_acts(self, x: Tensor) -> Tensor:
        return torch.addmm(self.b_enc, (x - self.b_dec).flatten(0, -2), self.W_enc).unflatten(
            0, x.shape[:-1]
        )

    def activation(self, pre: Tensor) -> Tensor:
        return _topk_activation(pre, self.cfg.k) if self.cfg.architecture == "topk" else pre.relu()

    def encode(self, x: Tensor) -> Tensor:
        """Latent activations [..., d_sae] of activations x [..., d_in]."""
        return self.activation(self.pre_acts(x))

    def decode(self, acts: Tensor) -> Tensor:
        """Reconstruction [..., d_in] from latent activations [..., d_sae]."""
        return torch.addmm(self.b_dec, acts.flatten(0, -2), self.W_dec).unflatten(
            0, acts.shape[:-1]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale each latent's decoder direction W_dec[i] to unit norm, in place."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))


def _relu_sae_loss(
    sae: nn.Module, x: Tensor, l1_coefficient: float
) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, mse, l1) of a ReLU SAE on x [batch, d_in]: mse = mean over the batch of
    ‖x - x̂‖² (summed over d_in); l1 = mean over the batch of Σ_i f_i ‖W_dec[i]‖ (the
    decoder-norm-weighted penalty); loss = mse + l1_coefficient * l1."""
    acts = sae.encode(x)
    recon = sae.decode(acts)
    mse = (recon - x).pow(2).sum(-1).mean()
    l1 = (acts * sae.W_dec.norm(dim=-1)).sum(-1).mean()
    return mse + l1_coefficient * l1, mse, l1


def _aux_k_loss(pre: Tensor, dead: Tensor, residual: Tensor, W_dec: Tensor, k_aux: int) -> Tensor:
    """Gao et al.'s auxiliary loss: the `k_aux` largest pre-activations among the *dead*
    latents, as they are (no ReLU: a latent whose pre-activations are all negative must
    still get a gradient), decoded without b_dec, should reconstruct the residual x - x̂;
    mean over the batch of the squared error summed over d_in. 0 when nothing is dead."""
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    top = pre.masked_fill(~dead, float("-inf")).topk(min(k_aux, n_dead), dim=-1)
    acts = torch.zeros_like(pre).scatter(-1, top.indices, top.values)
    return (acts @ W_dec - residual).pow(2).sum(-1).mean()


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


@dataclass
class SAETrainResult:
    """What `train_sae` returns: losses and metrics every `log_every` steps, and timing."""

    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    l0: list[float] = field(default_factory=list)
    explained_variance: list[float] = field(default_factory=list)
    dead_fraction: list[float] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)


def train_sae(
    sae: SAE,
    activations: Tensor,
    *,
    steps: int,
    batch_size: int = 4096,
    lr: float = 1e-3,
    l1_coefficient: float = 0.0,
    aux_k_coefficient: float = 0.0,
    k_aux: int | None = None,
    dead_window: int = 25,
    l1_warmup_steps: int = 0,
    seed: int = 0,
    log_every: int = 25,
    aux_k_loss: Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor] | None = None,
) -> SAETrainResult:
    """Train `sae` on `activations` [n, d_in] with Adam; returns the history (chapter 05).

    One step: a batch of `batch_size` rows (drawn without replacement, a fresh permutation
    each epoch), the loss (MSE + l1_coefficient × decoder-norm-weighted L1 for "standard";
    MSE + aux_k_coefficient × aux-k loss for "topk"), Adam, then the decoder rows are
    renormalized to unit norm. A latent is dead when it has not fired for `dead_window`
    steps. The L1 coefficient ramps up linearly over `l1_warmup_steps`.

    `aux_k_loss`: your own `aux_k_loss(pre, dead, residual, W_dec, k_aux)` (chapter 05) for
    the auxiliary term of a TopK SAE, in place of the library's. If it raises or returns
    something other than a finite number, training says so once and goes on with the
    library's.

    Speed (see `_fast_loss` and benchmarks/sae.py): large batches, a step with no matmul
    that does not need doing, and a sparse decoder for TopK; so on a CPU the time goes to
    matmuls, not to Python or elementwise passes.
    """
    if activations.ndim != 2 or activations.shape[1] != sae.cfg.d_in:
        raise ValueError(
            f"train_sae: activations must be [n, d_in={sae.cfg.d_in}], got {list(activations.shape)}."
        )
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"train_sae: steps must be a positive int, got {steps!r}.")
    n = activations.shape[0]
    batch_size = min(batch_size, n)
    k_aux = k_aux or sae.cfg.d_in // 2
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # Start b_dec at the data mean: the SAE then only has to explain deviations from it.
        sae.b_dec.copy_(activations[: min(n, 65536)].mean(0))
        sae.normalize_decoder()
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr, fused=True)
    steps_since_fired = torch.zeros(sae.cfg.d_sae, dtype=torch.long)
    result = SAETrainResult()
    order = torch.randperm(n, generator=generator)
    cursor = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    sae.train()
    for step in range(steps):
        if cursor + batch_size > n:
            order, cursor = torch.randperm(n, generator=generator), 0
        x = activations[order[cursor : cursor + batch_size]]
        cursor += batch_size

        ramp = min(1.0, (step + 1) / l1_warmup_steps) if l1_warmup_steps else 1.0
        dead = steps_since_fired >= dead_window
        options = dict(
            l1_coefficient=ramp * l1_coefficient,
            aux_k_coefficient=aux_k_coefficient,
            dead=dead,
            k_aux=k_aux,
        )
        try:
            loss, recon, n_active, fired = _fast_loss(sae, x, **options, aux_fn=aux_k_loss)
            if not torch.isfinite(loss).all():
                raise ValueError(f"the loss came out as {loss.item()}")
        except (
            Exception
        ) as error:  # the learner's aux_k_loss failed: say so once, use the library's
            if aux_k_loss is None:
                raise
            aux_k_loss = _stop_using(aux_k_loss, f"it failed with {type(error).__name__}: {error}")
            loss, recon, n_active, fired = _fast_loss(sae, x, **options)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sae.normalize_decoder()

        with torch.no_grad():
            steps_since_fired = torch.where(fired, 0, steps_since_fired + 1)
            if step % log_every == 0 or step == steps - 1:
                result.losses.append(loss.item())
                result.l0.append(n_active / len(x))
                result.explained_variance.append(_explained_variance(x, recon).item())
                result.dead_fraction.append(
                    (steps_since_fired >= dead_window).float().mean().item()
                )
    sae.eval()
    result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time() - cpu_start
    result.steps = steps
    result.tokens = steps * batch_size
    return result


def _stop_using(fn: Callable, why: str) -> None:
    name = getattr(fn, "__name__", "aux_k_loss")
    print(f"train_sae: your {name} is not used from here on ({str(why)[:200]}); the library's is.")
    return None


def _fast_loss(
    sae: SAE,
    x: Tensor,
    *,
    l1_coefficient: float,
    aux_k_coefficient: float,
    dead: Tensor,
    k_aux: int,
    aux_fn: Callable | None = None,
) -> tuple[Tensor, Tensor, float, Tensor]:
    """(loss, reconstruction, number of active latents, fired mask [d_sae]) of one batch;
    the same loss as `_relu_sae_loss` / MSE + aux-k, computed with fewer FLOPs.

    - The pre-encoder bias is folded into the encoder bias, (x - b_dec) W_enc + b_enc =
      x W_enc + (b_enc - b_dec W_enc): x needs no gradient, so backward skips the
      [batch, d_sae] × [d_sae, d_in] product that would only feed b_dec's 128 numbers.
    - TopK: only k of d_sae latents are active, so the decoder is an `embedding_bag` (a
      weighted sum of k rows of W_dec): forward and backward cost O(k · d_in) per token
      instead of O(d_sae · d_in). (Measured, d_sae 512, k 16, batch 4096, one thread: 41 ms
      a step against 57 ms for a dense decoder; recomputing the k encoder dot products
      sparsely too was slower, 131 ms, as embedding's backward sorts its indices.)
    """
    bias = sae.b_enc - sae.b_dec @ sae.W_enc  # [d_sae]
    if sae.cfg.architecture == "standard":
        acts = torch.addmm(bias, x, sae.W_enc).relu_()  # [batch, d_sae]
        recon = torch.addmm(sae.b_dec, acts, sae.W_dec)
        mse = (recon - x).pow(2).sum(-1).mean()
        acts_sum = acts.sum(0)  # sum over the batch first: one pass, then a d_sae-vector
        loss = mse + l1_coefficient * (acts_sum * sae.W_dec.norm(dim=-1)).sum() / len(x)
        with torch.no_grad():
            return loss, recon.detach(), (acts > 0).sum().item(), acts_sum > 0

    pre = torch.addmm(bias, x, sae.W_enc)  # [batch, d_sae]
    top = pre.topk(sae.cfg.k, dim=-1, sorted=False)
    values = top.values.relu()
    # The decoder as a weighted sum of the k chosen rows of W_dec (no [batch, d_sae] matmul).
    recon = (
        F.embedding_bag(top.indices, sae.W_dec, per_sample_weights=values, mode="sum") + sae.b_dec
    )
    loss = (recon - x).pow(2).sum(-1).mean()
    n_dead = int(dead.sum())
    if aux_k_coefficient > 0 and n_dead > 0 and aux_fn is not None:  # the learner's aux-k loss
        loss = loss + aux_k_coefficient * aux_fn(pre, dead, (x - recon).detach(), sae.W_dec, k_aux)
    elif aux_k_coefficient > 0 and n_dead > 0:
        dead_ids = dead.nonzero().squeeze(
            1
        )  # choose among the dead columns only: cheap while few are dead
        aux = pre[:, dead_ids].topk(min(k_aux, n_dead), dim=-1, sorted=False)
        aux_recon = F.embedding_bag(
            dead_ids[aux.indices], sae.W_dec, per_sample_weights=aux.values, mode="sum"
        )
        loss = loss + aux_k_coefficient * (aux_recon - (x - recon).detach()).pow(2).sum(-1).mean()
    with torch.no_grad():
        active = values > 0
        fired = torch.zeros(sae.cfg.d_sae, dtype=torch.bool)
        fired[top.indices[active]] = True
        return loss, recon.detach(), active.sum().item(), fired


def train_flops_per_token(cfg: SAEConfig) -> int:
    """FLOPs per token of one `train_sae` step, counting the matmul-sized work.

    standard: the encoder and decoder products forward, and backward the two weight
    gradients plus the gradient into the encoder output: 5 × 2 · d_in · d_sae.
    topk: the encoder forward and its weight gradient (2 × 2 · d_in · d_sae), and the sparse
    decoder forward and backward (about 3 × 2 · d_in · k).
    """
    if cfg.architecture == "standard":
        return 5 * 2 * cfg.d_in * cfg.d_sae
    return 2 * 2 * cfg.d_in * cfg.d_sae + 3 * 2 * cfg.d_in * cfg.k


# ---------------------------------------------------------------------------------------
# Metrics (SAELens's names)
# ---------------------------------------------------------------------------------------


def l0(acts: Tensor) -> Tensor:
    """Mean number of active (> 0) latents per token; acts [..., d_sae]."""
    return (acts > 0).flatten(0, -2).sum(-1).float().mean()


def _explained_variance(x: Tensor, recon: Tensor) -> Tensor:
    """1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖², sums over tokens and d_in, mean over tokens."""
    x, recon = x.flatten(0, -2), recon.flatten(0, -2)
    residual = (x - recon).pow(2).sum()
    total = (x - x.mean(0)).pow(2).sum()
    return 1 - residual / total


def feature_density(acts: Tensor) -> Tensor:
    """Fraction of tokens on which each latent fires: [d_sae]."""
    return (acts > 0).flatten(0, -2).float().mean(0)


def _dead_and_dense(
    acts: Tensor, dense_threshold: float = DENSE_THRESHOLD
) -> tuple[Tensor, Tensor]:
    """Boolean masks [d_sae]: latents that never fire on these tokens, and latents that fire
    on more than `dense_threshold` of them."""
    density = feature_density(acts)
    return density == 0, density > dense_threshold


@torch.no_grad()
def sae_metrics(sae: SAE, activations: Tensor, batch_size: int = 16384) -> dict:
    """l0, explained_variance, mse, dead and dense fractions on `activations` [n, d_in]."""
    sq_err = 0.0
    active = 0.0
    fired = torch.zeros(sae.cfg.d_sae)
    for chunk in activations.split(batch_size):
        acts = sae.encode(chunk)
        sq_err += (sae.decode(acts) - chunk).pow(2).sum().item()
        active += (acts > 0).sum().item()
        fired += (acts > 0).sum(0)
    n = activations.shape[0]
    total = (activations - activations.mean(0)).pow(2).sum().item()
    density = fired / n
    return {
        "l0": active / n,
        "explained_variance": 1 - sq_err / total,
        "mse": sq_err / n,
        "dead_fraction": (density == 0).float().mean().item(),
        "dense_fraction": (density > DENSE_THRESHOLD).float().mean().item(),
    }


def _feature_recovery(W_dec: Tensor, true_directions: Tensor) -> Tensor:
    """Mean over true features of the largest cosine similarity between the feature's
    direction and any decoder row. W_dec [d_sae, d_in]; true_directions [n_features, d_in]."""
    dec = W_dec / W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    true = true_directions / true_directions.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return (true @ dec.T).max(dim=1).values.mean()


def ce_loss_score(clean: float, with_sae: float, with_ablation: float) -> float:
    """SAELens's ce_loss_score: (ablation - sae) / (ablation - clean); 1 = the SAE loses
    nothing, 0 = as bad as zero-ablating the activation."""
    return (with_ablation - with_sae) / (with_ablation - clean)


@torch.no_grad()
def spliced_losses(
    model, sae: nn.Module, tokens: Tensor, hook_name: str, first_pos: int = 1
) -> dict:
    """Next-token losses of `model` on `tokens` clean, with the SAE's reconstruction in place
    of the activation at `hook_name`, and with that activation zeroed; positions before
    `first_pos` (the <bos>, which the SAE was not trained on) are left alone. Returns
    SAELens's names: ce_loss_without_sae, ce_loss_with_sae, ce_loss_with_ablation,
    ce_loss_score."""
    from mi_tutorial.metrics import lm_loss

    def splice(act, hook):
        act[:, first_pos:] = sae(act[:, first_pos:])
        return act

    def zero(act, hook):
        act[:, first_pos:] = 0.0
        return act

    clean = lm_loss(model(tokens), tokens).item()
    with_sae = lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)]), tokens).item()
    ablated = lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, zero)]), tokens).item()
    return {
        "ce_loss_without_sae": clean,
        "ce_loss_with_sae": with_sae,
        "ce_loss_with_ablation": ablated,
        "ce_loss_score": ce_loss_score(clean, with_sae, ablated),
    }


# ---------------------------------------------------------------------------------------
# Interpreting and steering
# ---------------------------------------------------------------------------------------


def _top_activations(acts: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The k largest entries of acts [batch, pos]: (values, batch indices, positions),
    largest first."""
    values, flat = acts.flatten().topk(k)
    return values, flat // acts.shape[1], flat % acts.shape[1]


def detector_precision_recall(fires: Tensor, labels: Tensor) -> tuple[float, float]:
    """A latent as a detector: precision = P(label | fires), recall = P(fires | label).
    Both boolean tensors of the same shape; 0.0 where the denominator is empty."""
    fires, labels = fires.bool(), labels.bool()
    hits = (fires & labels).sum().item()
    n_fires, n_labels = fires.sum().item(), labels.sum().item()
    return (hits / n_fires if n_fires else 0.0), (hits / n_labels if n_labels else 0.0)


def clamp_latent(act: Tensor, sae: nn.Module, latent: int, value: float) -> Tensor:
    """act with latent `latent`'s activation set to `value` and everything else unchanged
    (the SAE's error term kept): act + (value - f_latent) * W_dec[latent]."""
    current = sae.encode(act)[..., latent : latent + 1]  # [..., 1]
    return act + (value - current) * sae.W_dec[latent]


# ---------------------------------------------------------------------------------------
# SAELens's on-disk layout
# ---------------------------------------------------------------------------------------
# A folder with two files, as SAELens's `SAE.save_model` writes and `SAE.load_from_disk`
# reads (checked against SAELens 6):
#   sae_weights.safetensors  W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]
#   cfg.json                 d_in, d_sae, architecture ("standard" | "topk"), k (topk only),
#                            dtype ("float32"), device ("cpu"), apply_b_dec_to_input (true:
#                            b_dec is subtracted before the encoder), normalize_activations
#                            ("none"), reshape_activations ("none"), and metadata: model_name,
#                            hook_name, hook_head_index, context_size, prepend_bos.


def save_sae_lens(sae: SAE, folder: str | Path) -> Path:
    """Write `sae` to `folder` in SAELens's layout; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = sae.cfg
    config = {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "architecture": cfg.architecture,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "model_name": cfg.model_name,
            "hook_name": cfg.hook_name,
            "hook_head_index": None,
            "context_size": cfg.context_size,
            "prepend_bos": cfg.prepend_bos,
        },
    }
    if cfg.architecture == "topk":
        config["k"] = cfg.k
    (folder / SAE_CFG_FILENAME).write_text(json.dumps(config, indent=2) + "\n")
    tensors = {
        name: getattr(sae, name).detach().float().contiguous().clone()
        for name in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    save_file(tensors, str(folder / SAE_WEIGHTS_FILENAME))
    return folder


def load_sae_lens(folder: str | Path) -> SAE:
    """Read an SAE from a folder in SAELens's layout (the fields above; older SAELens files
    that keep model_name / hook_name at the top level, or say activation_fn "topk", load too)."""
    folder = Path(folder)
    for name in (SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME):
        if not (folder / name).exists():
            raise FileNotFoundError(
                f"load_sae_lens: {folder / name} is missing; an SAELens folder holds "
                f"{SAE_CFG_FILENAME} and {SAE_WEIGHTS_FILENAME}."
            )
    config = json.loads((folder / SAE_CFG_FILENAME).read_text())
    meta = {**config, **(config.get("metadata") or {})}
    architecture = config.get("architecture", "standard")
    if config.get("activation_fn") == "topk" or config.get("activation_fn_str") == "topk":
        architecture = "topk"
    k = config.get("k") or (config.get("activation_fn_kwargs") or {}).get("k")
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"load_sae_lens: architecture {architecture!r} is not supported (only {ARCHITECTURES})."
        )
    if (
        not config.get("apply_b_dec_to_input", True)
        or config.get("normalize_activations", "none") != "none"
    ):
        raise ValueError(
            "load_sae_lens: only SAEs with apply_b_dec_to_input=true and normalize_activations='none' load here."
        )
    names = {f.name for f in fields(SAEConfig)}
    cfg = SAEConfig(
        **{
            key: meta[key]
            for key in names
            if meta.get(key) is not None and key not in ("architecture", "k")
        },
        architecture=architecture,
        k=k if architecture == "topk" else None,
    )
    sae = SAE(cfg)
    weights = load_file(str(folder / SAE_WEIGHTS_FILENAME))
    try:
        sae.load_state_dict(
            {key: weights[key].float() for key in ("W_enc", "b_enc", "W_dec", "b_dec")}, strict=True
        )
    except (KeyError, RuntimeError) as error:
        raise ValueError(
            f"load_sae_lens: {folder / SAE_WEIGHTS_FILENAME} does not fit cfg.json ({str(error).splitlines()[0]})."
        ) from None
    return sae.eval()
