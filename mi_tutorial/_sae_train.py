"""The fast CPU trainer of every SAE architecture (re-exported by `mi_tutorial.sae`).

`train_sae` trains ReLU ("standard", L1 penalty), TopK and BatchTopK (aux-k loss against
dead latents), JumpReLU (L0 penalty through the straight-through estimator) and Matryoshka
(summed prefix losses, with topk or batchtopk) SAEs; `_fast_loss` is one step's loss,
tested against the plain definitions in `mi_tutorial._sae_core`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from mi_tutorial._sae_core import SAE, SAEConfig, _explained_variance, _jumprelu

# BatchTopK's evaluation threshold: a running mean (decay per step, bias-corrected) of the
# smallest activation the batch top-k kept, as Bussmann et al. estimate it.
THRESHOLD_DECAY = 0.99


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


class _Step(NamedTuple):
    """One step of `_fast_loss`: the loss, the reconstruction (detached), the active
    activations (a detached tensor whose nonzero entries are the active (token, latent)
    pairs: counted only when logged, as a count is a pass over [batch, d_sae]), which
    latents fired [d_sae], and for BatchTopK the smallest activation the batch top-k kept
    (None otherwise)."""

    loss: Tensor
    recon: Tensor
    active: Tensor
    fired: Tensor
    kept_min: float | None = None

    @property
    def n_active(self) -> int:
        return int(torch.count_nonzero(self.active))


def train_sae(
    sae: SAE,
    activations: Tensor,
    *,
    steps: int,
    batch_size: int = 4096,
    lr: float = 1e-3,
    l1_coefficient: float = 0.0,
    l0_coefficient: float = 0.0,
    aux_k_coefficient: float = 0.0,
    k_aux: int | None = None,
    dead_window: int = 25,
    l1_warmup_steps: int = 0,
    seed: int = 0,
    log_every: int = 25,
    aux_k_loss: Callable[[Tensor, Tensor, Tensor, Tensor, int], Tensor] | None = None,
) -> SAETrainResult:
    """Train `sae` on `activations` [n, d_in] with Adam; returns the history.

    One step: a batch of `batch_size` rows (drawn without replacement, a fresh permutation
    each epoch), the loss, Adam, then the decoder rows are renormalized to unit norm. The
    loss is the reconstruction MSE (for a Matryoshka SAE, the sum of its prefixes' MSEs) plus
    - "standard": l1_coefficient × the decoder-norm-weighted L1 of the latents;
    - "jumprelu": l0_coefficient × the L0 (mean number of active latents per token), whose
      gradient reaches the thresholds through the straight-through estimator;
    - "topk", "batchtopk": aux_k_coefficient × the aux-k loss of the dead latents.
    A latent is dead when it has not fired for `dead_window` steps. The L1 / L0 coefficient
    ramps up linearly over `l1_warmup_steps`. A BatchTopK SAE leaves training with its
    evaluation threshold (`sae.threshold`) set to the running mean of the smallest kept
    activation.

    `aux_k_loss`: your own `aux_k_loss(pre, dead, residual, W_dec, k_aux)` (chapter 05) for
    the auxiliary term, in place of the library's. If it raises or returns something other
    than a finite number, training says so once and goes on with the library's.

    Speed (see `_fast_loss` and benchmarks/sae.py): large batches, a step with no matmul
    that does not need doing, and a sparse decoder for TopK and BatchTopK; so on a CPU the
    time goes to matmuls, not to Python or elementwise passes.
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
    threshold_sum = threshold_weight = 0.0
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
            l0_coefficient=ramp * l0_coefficient,
            aux_k_coefficient=aux_k_coefficient,
            dead=dead,
            k_aux=k_aux,
        )
        try:
            out = _fast_loss(sae, x, **options, aux_fn=aux_k_loss)
            if not torch.isfinite(out.loss).all():
                raise ValueError(f"the loss came out as {out.loss.item()}")
        except Exception as error:  # the learner's aux_k_loss failed: say so once, use ours
            if aux_k_loss is None:
                raise
            aux_k_loss = _stop_using(aux_k_loss, f"it failed with {type(error).__name__}: {error}")
            out = _fast_loss(sae, x, **options)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        sae.normalize_decoder()
        if sae.cfg.architecture == "jumprelu":
            with torch.no_grad():
                sae.threshold.clamp_(min=0.0)

        with torch.no_grad():
            steps_since_fired = torch.where(out.fired, 0, steps_since_fired + 1)
            if out.kept_min is not None:
                threshold_sum = THRESHOLD_DECAY * threshold_sum + out.kept_min
                threshold_weight = THRESHOLD_DECAY * threshold_weight + 1.0
            if step % log_every == 0 or step == steps - 1:
                result.losses.append(out.loss.item())
                result.l0.append(out.n_active / len(x))
                result.explained_variance.append(_explained_variance(x, out.recon).item())
                result.dead_fraction.append(
                    (steps_since_fired >= dead_window).float().mean().item()
                )
    if threshold_weight:
        sae.threshold.fill_(threshold_sum / threshold_weight)
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


def _sparse_decode(
    sae: SAE, cols: Tensor, weights: Tensor, offsets: Tensor | None, with_bias: bool = True
) -> Tensor:
    """Σ_j weights_j W_dec[cols_j] per row (+ b_dec): an `embedding_bag`, O(active · d_in).
    cols/weights [batch, k] (offsets None) or flat, one bag per row starting at `offsets`."""
    out = F.embedding_bag(cols, sae.W_dec, offsets, per_sample_weights=weights, mode="sum")
    return out + sae.b_dec if with_bias else out


def _fast_loss(
    sae: SAE,
    x: Tensor,
    *,
    l1_coefficient: float = 0.0,
    l0_coefficient: float = 0.0,
    aux_k_coefficient: float = 0.0,
    dead: Tensor,
    k_aux: int,
    aux_fn: Callable | None = None,
) -> _Step:
    """One batch's `_Step`; the same loss as the definitions in `mi_tutorial._sae_core`
    (`_relu_sae_loss`, `_jumprelu_sae_loss`, MSE or `_matryoshka_mse` + aux-k), with fewer
    FLOPs:

    - The pre-encoder bias is folded into the encoder bias, (x - b_dec) W_enc + b_enc =
      x W_enc + (b_enc - b_dec W_enc): x needs no gradient, so backward skips the
      [batch, d_sae] × [d_sae, d_in] product that would only feed b_dec's 128 numbers.
    - TopK and BatchTopK: only k of d_sae latents are active per token (on average), so the
      decoder is an `embedding_bag` (a weighted sum of the active rows of W_dec): forward
      and backward cost O(k · d_in) per token instead of O(d_sae · d_in), and each
      Matryoshka prefix is one more such bag, with the latents past the prefix weighted 0.
    """
    cfg = sae.cfg
    bias = sae.b_enc - sae.b_dec @ sae.W_enc  # [d_sae]
    pre = torch.addmm(bias, x, sae.W_enc)  # [batch, d_sae]
    if cfg.architecture == "standard":
        acts = pre.relu_()
        # The L1 term Σ_i f_i ‖W_dec[i]‖ is one more output column of the decoder product, so
        # its gradient into f comes out of the decoder's backward matmul, not a pass of its own.
        decoder = torch.cat([sae.W_dec, sae.W_dec.norm(dim=-1, keepdim=True)], dim=1)
        out = acts @ decoder  # [batch, d_in + 1]
        recon = out[:, : cfg.d_in] + sae.b_dec
        mse = (recon - x).pow(2).sum(-1).mean()
        loss = mse + l1_coefficient * out[:, cfg.d_in].mean()
        with torch.no_grad():
            return _Step(loss, recon.detach(), acts.detach(), acts.detach().sum(0) > 0)
    if cfg.architecture == "jumprelu":
        acts, counts = _jumprelu(pre, sae.threshold, cfg.jumprelu_bandwidth)
        recon = torch.addmm(sae.b_dec, acts, sae.W_dec)
        loss = (recon - x).pow(2).sum(-1).mean() + l0_coefficient * counts.sum() / len(x)
        with torch.no_grad():
            return _Step(loss, recon.detach(), acts.detach(), counts > 0)

    kept_min = None
    if cfg.architecture == "topk":
        top = pre.topk(cfg.k, dim=-1, sorted=False)
        cols, values, offsets = top.indices, top.values.relu(), None
    else:  # batchtopk: the k × batch largest of the whole batch, grouped by row
        index = _batch_topk_indices(pre.detach(), cfg.k * len(x))  # sorted flat indices
        values = pre.flatten()[index].relu()
        rows, cols = index // cfg.d_sae, index % cfg.d_sae
        offsets = torch.searchsorted(rows, torch.arange(len(x)))
        with torch.no_grad():
            positive = values[values > 0]
            kept_min = positive.min().item() if len(positive) else 0.0
    prefixes = cfg.matryoshka_prefixes or (cfg.d_sae,)
    loss = pre.new_zeros(())
    for m in prefixes:  # the last prefix is the whole dictionary: recon is its reconstruction
        weights = values if m == cfg.d_sae else values * (cols < m)
        recon = _sparse_decode(sae, cols, weights, offsets)
        loss = loss + (recon - x).pow(2).sum(-1).mean()
    n_dead = int(dead.sum())
    if aux_k_coefficient > 0 and n_dead > 0 and aux_fn is not None:  # the learner's aux-k loss
        loss = loss + aux_k_coefficient * aux_fn(pre, dead, (x - recon).detach(), sae.W_dec, k_aux)
    elif aux_k_coefficient > 0 and n_dead > 0:
        dead_ids = dead.nonzero().squeeze(1)  # choose among the dead columns only
        aux = pre[:, dead_ids].topk(min(k_aux, n_dead), dim=-1, sorted=False)
        aux_recon = _sparse_decode(sae, dead_ids[aux.indices], aux.values, None, with_bias=False)
        loss = loss + aux_k_coefficient * (aux_recon - (x - recon).detach()).pow(2).sum(-1).mean()
    with torch.no_grad():
        active = values.detach()
        fired = torch.zeros(cfg.d_sae, dtype=torch.bool)
        fired[cols[active > 0]] = True
        return _Step(loss, recon.detach(), active, fired, kept_min)


def _batch_topk_indices(pre: Tensor, n_keep: int, sample_every: int = 16) -> Tensor:
    """The flat indices, in increasing order, of the `n_keep` largest entries of `pre`
    (ties aside): the same set as `pre.flatten().topk(n_keep)`, found faster. A threshold
    from every `sample_every`-th entry (set for 1.5× the share to keep) picks candidates;
    when there are at least `n_keep` of them, the n_keep largest of all are among them, and
    the kth largest candidate value selects them in one more pass; otherwise (or on ties)
    the full top-k is used."""
    flat = pre.flatten()
    n_sample = (flat.numel() + sample_every - 1) // sample_every
    n_top = min(n_sample, int(1.5 * n_keep / sample_every) + 1)
    if n_keep < 64 * sample_every or n_top >= n_sample:
        return flat.topk(n_keep, sorted=False).indices.sort().values
    cut = flat[::sample_every].topk(n_top, sorted=False).values.min()
    candidates = (flat >= cut).nonzero().squeeze(1)  # increasing order
    if len(candidates) >= n_keep:
        values = flat[candidates]
        kth = values.kthvalue(len(candidates) - n_keep + 1).values
        keep = values >= kth
        if int(torch.count_nonzero(keep)) == n_keep:
            return candidates[keep]
    return flat.topk(n_keep, sorted=False).indices.sort().values


def train_flops_per_token(cfg: SAEConfig) -> int:
    """FLOPs per token of one `train_sae` step, counting the matmul-sized work.

    standard, jumprelu: the encoder and decoder products forward, and backward the two
    weight gradients plus the gradient into the encoder output: 5 × 2 · d_in · d_sae.
    topk, batchtopk: the encoder forward and its weight gradient (2 × 2 · d_in · d_sae), and
    the sparse decoder forward and backward (about 3 × 2 · d_in · k), once per Matryoshka
    prefix.
    """
    if cfg.architecture in ("standard", "jumprelu"):
        return 5 * 2 * cfg.d_in * cfg.d_sae
    n_prefixes = len(cfg.matryoshka_prefixes or (cfg.d_sae,))
    return 2 * 2 * cfg.d_in * cfg.d_sae + n_prefixes * 3 * 2 * cfg.d_in * cfg.k
