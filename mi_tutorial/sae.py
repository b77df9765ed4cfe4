"""Sparse autoencoders: the reference SAE of every architecture, a fast CPU trainer, the
metrics, and SAELens's on-disk layout (chapter 05 teaches the SAE; chapter 06 reuses the
trained SAEs; chapter 11 scales them and adds the newer architectures).

An SAE reads an activation `x` ([..., d_in]) and writes it as a sparse, non-negative
combination of `d_sae` learned directions (its *latents*):

    pre  = (x - b_dec) @ W_enc + b_enc          # b_dec doubles as a pre-encoder bias
    f    = ReLU(pre) ("standard"), TopK(pre, k) ("topk"), BatchTopK ("batchtopk") or
           JumpReLU ("jumprelu"); a Matryoshka SAE is a topk / batchtopk one trained on
           nested prefixes of its dictionary (`SAEConfig.matryoshka_prefixes`)
    x̂    = f @ W_dec + b_dec                     # row W_dec[i] is latent i's direction

The module is in three files: `mi_tutorial._sae_core` (`SAEConfig`, `SAE`, the activations
and the losses as defined), `mi_tutorial._sae_train` (`train_sae`, the fast trainer) and this
one (the metrics, interpreting and steering, SAELens's layout), which re-exports the other
two: `from mi_tutorial import sae` gives all of it.

Parameter names and shapes are SAELens's (W_enc [d_in, d_sae], b_enc [d_sae],
W_dec [d_sae, d_in], b_dec [d_in], and JumpReLU's threshold), so `save_sae_lens` /
`load_sae_lens` read and write the folder layout SAELens uses (`cfg.json` +
`sae_weights.safetensors`) without depending on it.

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
from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from mi_tutorial._sae_core import (  # noqa: F401  (re-exported: the SAE and its losses)
    ARCHITECTURES,
    ENCODER_INIT_SCALE,
    K_ARCHITECTURES,
    SAE,
    SAEConfig,
    _aux_k_loss,
    _batch_topk_activation,
    _explained_variance,
    _jumprelu,
    _jumprelu_sae_loss,
    _matryoshka_mse,
    _relu_sae_loss,
    _topk_activation,
)
from mi_tutorial._sae_train import (  # noqa: F401  (re-exported: the trainer)
    SAETrainResult,
    _fast_loss,
    train_flops_per_token,
    train_sae,
)

SAE_CFG_FILENAME = "cfg.json"  # SAELens's file names, so its loader finds them
SAE_WEIGHTS_FILENAME = "sae_weights.safetensors"
DENSE_THRESHOLD = 0.1  # a latent firing on more than 10% of tokens is "dense" (Gao et al. 2024)


# ---------------------------------------------------------------------------------------
# Metrics (SAELens's names)
# ---------------------------------------------------------------------------------------


def l0(acts: Tensor) -> Tensor:
    """Mean number of active (> 0) latents per token; acts [..., d_sae]."""
    return (acts > 0).flatten(0, -2).sum(-1).float().mean()


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
    """l0, explained_variance, mse, dead and dense fractions on `activations` [n, d_in],
    with the SAE in evaluation mode (a BatchTopK SAE uses its threshold)."""
    was_training = sae.training
    sae.eval()
    sq_err = 0.0
    active = 0.0
    fired = torch.zeros(sae.cfg.d_sae)
    for chunk in activations.split(batch_size):
        acts = sae.encode(chunk)
        sq_err += (sae.decode(acts) - chunk).pow(2).sum().item()
        active += (acts > 0).sum().item()
        fired += (acts > 0).sum(0)
    sae.train(was_training)
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
#                            (and threshold [d_sae] for jumprelu)
#   cfg.json                 d_in, d_sae, architecture ("standard" | "topk" | "jumprelu"),
#                            k (topk only),
#                            dtype ("float32"), device ("cpu"), apply_b_dec_to_input (true:
#                            b_dec is subtracted before the encoder), normalize_activations
#                            ("none"), reshape_activations ("none"), and metadata: model_name,
#                            hook_name, hook_head_index, context_size, prepend_bos.
# A BatchTopK SAE is saved as SAELens saves it for inference: a "jumprelu" SAE whose
# threshold is its evaluation threshold for every latent (the same encode in eval mode).
# Matryoshka prefixes shape training only and are not saved.
SAVED_ARCHITECTURES = ("standard", "topk", "jumprelu")


def save_sae_lens(sae: SAE, folder: str | Path) -> Path:
    """Write `sae` to `folder` in SAELens's layout; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = sae.cfg
    saved_as = "jumprelu" if cfg.architecture == "batchtopk" else cfg.architecture
    config = {
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "architecture": saved_as,
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
    if saved_as == "jumprelu":
        threshold = sae.threshold.detach().float()
        tensors["threshold"] = threshold.expand(cfg.d_sae).contiguous().clone()
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
    if architecture not in SAVED_ARCHITECTURES:
        raise ValueError(
            f"load_sae_lens: architecture {architecture!r} is not supported "
            f"(only {SAVED_ARCHITECTURES})."
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
            if meta.get(key) is not None and key not in ("architecture", "k", "matryoshka_prefixes")
        },
        architecture=architecture,
        k=k if architecture == "topk" else None,
    )
    sae = SAE(cfg)
    weights = load_file(str(folder / SAE_WEIGHTS_FILENAME))
    keys = ("W_enc", "b_enc", "W_dec", "b_dec") + (
        ("threshold",) if architecture == "jumprelu" else ()
    )
    try:
        sae.load_state_dict({key: weights[key].float() for key in keys}, strict=True)
    except (KeyError, RuntimeError) as error:
        raise ValueError(
            f"load_sae_lens: {folder / SAE_WEIGHTS_FILENAME} does not fit cfg.json ({str(error).splitlines()[0]})."
        ) from None
    return sae.eval()
