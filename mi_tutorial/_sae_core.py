"""The SAE itself: its configuration, its parameters and the activation functions of every
architecture (re-exported by `mi_tutorial.sae`, which documents the whole module).

    pre  = (x - b_dec) @ W_enc + b_enc
    f    = ReLU(pre)                 "standard"  (trained with an L1 penalty)
         = TopK(pre, k)              "topk"      (the k largest of each row, Gao et al. 2024)
         = BatchTopK(pre, k)         "batchtopk" (the k × batch largest of the whole batch in
                                      training; pre · 1[pre > θ] with one threshold θ, estimated
                                      in training, at evaluation; Bussmann et al. 2024)
         = JumpReLU_θ(pre)           "jumprelu"  (pre · 1[pre > θ_i], a learned threshold per
                                      latent, trained with an L0 penalty through a straight-
                                      through estimator; Rajamanoharan et al. 2024)
    x̂    = f @ W_dec + b_dec

A Matryoshka SAE (Bussmann et al. 2025; Nabeshima 2025) is a TopK or BatchTopK SAE whose
training loss sums the reconstruction errors of nested prefixes of the dictionary
(`matryoshka_prefixes`): latents 0..m₁ must reconstruct x alone, 0..m₂ better, and so on, so
the first latents learn general features. It changes training only; encode/decode are those
of its activation.

The exercise-like helpers (`_topk_activation`, `_batch_topk_activation`, the losses) are
private, so that a chapter importing the library is not handed its answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

ARCHITECTURES = ("standard", "topk", "batchtopk", "jumprelu")
K_ARCHITECTURES = ("topk", "batchtopk")  # the ones with a k (and the Matryoshka option)
# W_enc starts as ENCODER_INIT_SCALE × W_dec.T. Small pre-activations at the start let the L1
# penalty switch latents off within the first steps (Adam moves b_enc by about lr per step);
# with 1.0, on tinyworld-lm's residual stream (norm ~18), a ReLU SAE trained 150 steps kept
# an L0 of 70 where 0.1 gave 44 at the same L1 coefficient and better explained variance.
ENCODER_INIT_SCALE = 0.1


@dataclass
class SAEConfig:
    """What defines an SAE. The field names are those of SAELens's cfg.json where it has them.

    - d_in, d_sae: input width and number of latents;
    - architecture: one of ARCHITECTURES (see the module docstring);
    - k: the k of "topk" and "batchtopk" (mean active latents per token); None otherwise;
    - jumprelu_init_threshold: JumpReLU's θ at initialization (every latent);
    - jumprelu_bandwidth: ε, the width of the rectangle kernel of JumpReLU's straight-through
      estimator (the threshold gets a gradient from pre-activations within ε/2 of it);
    - matryoshka_prefixes: nested dictionary sizes m₁ < m₂ < ... < d_sae (the last is d_sae)
      whose reconstruction losses are summed in training; "topk" and "batchtopk" only;
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
    jumprelu_init_threshold: float = 0.01
    jumprelu_bandwidth: float = 0.05
    matryoshka_prefixes: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}."
            )
        if self.d_in < 1 or self.d_sae < 1:
            raise ValueError(f"d_in and d_sae must be positive, got {self.d_in} and {self.d_sae}.")
        if self.architecture in K_ARCHITECTURES and not (
            isinstance(self.k, int) and 0 < self.k <= self.d_sae
        ):
            raise ValueError(
                f"a {self.architecture} SAE needs an int k in 1..d_sae={self.d_sae}, "
                f"got k={self.k!r}."
            )
        if self.architecture == "jumprelu" and not (
            self.jumprelu_init_threshold > 0 and self.jumprelu_bandwidth > 0
        ):
            raise ValueError(
                "a jumprelu SAE needs jumprelu_init_threshold > 0 and jumprelu_bandwidth > 0, "
                f"got {self.jumprelu_init_threshold} and {self.jumprelu_bandwidth}."
            )
        if self.matryoshka_prefixes is not None:
            prefixes = tuple(self.matryoshka_prefixes)
            if self.architecture not in K_ARCHITECTURES:
                raise ValueError(
                    f"matryoshka_prefixes work with {K_ARCHITECTURES}, not {self.architecture!r}."
                )
            if (
                not prefixes
                or not all(isinstance(m, int) and m > 0 for m in prefixes)
                or any(a >= b for a, b in zip(prefixes, prefixes[1:]))
                or prefixes[-1] != self.d_sae
            ):
                raise ValueError(
                    "matryoshka_prefixes must be increasing positive ints ending at "
                    f"d_sae={self.d_sae}, e.g. ({self.d_sae // 4}, {self.d_sae}); got {prefixes!r}."
                )
            self.matryoshka_prefixes = prefixes


def _topk_activation(pre: Tensor, k: int) -> Tensor:
    """Keep the k largest entries of each row of `pre` (after a ReLU), zero the rest."""
    top = pre.topk(k, dim=-1, sorted=False)
    return torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())


def _batch_topk_activation(pre: Tensor, k: int) -> Tensor:
    """Keep the k × n_rows largest entries of the whole batch `pre` [..., d_sae] (after a
    ReLU), zero the rest: k active latents per row on average, more on some rows."""
    flat = pre.relu().flatten()
    top = flat.topk(min(k * (flat.numel() // pre.shape[-1]), flat.numel()), sorted=False)
    return torch.zeros_like(flat).scatter_(0, top.indices, top.values).view_as(pre)


class _JumpReLUFunction(torch.autograd.Function):
    """JumpReLU_θ(z) = z · H(z - θ) and the per-latent count Σ_rows H(z - θ), with
    Rajamanoharan et al.'s straight-through estimator for θ:

        ∂JumpReLU/∂z = H(z - θ)      ∂JumpReLU/∂θ = -(θ / ε) K((z - θ) / ε)
        ∂H(z - θ)/∂z = 0             ∂H(z - θ)/∂θ = -(1 / ε) K((z - θ) / ε)

    (K the rectangle kernel, ε the bandwidth). One function for both, so that the trainer
    makes one pass over [batch, d_sae] for the activation, the L0 penalty and their backward.
    """

    @staticmethod
    def forward(ctx, pre: Tensor, threshold: Tensor, bandwidth: float):
        mask = (pre > threshold).to(pre.dtype)  # a float mask: summing a bool one is slow
        ctx.save_for_backward(pre, threshold, mask)
        ctx.bandwidth = bandwidth
        return pre * mask, mask.flatten(0, -2).sum(0)

    @staticmethod
    def backward(ctx, grad_acts: Tensor, grad_counts: Tensor | None):
        pre, threshold, mask = ctx.saved_tensors
        eps = ctx.bandwidth
        in_band = ((pre - threshold).abs_() < eps / 2).to(pre.dtype)  # K((z - θ) / ε)
        # d loss / d θ_i = -(1/ε) Σ_rows K(...) (θ_i · grad_acts + grad_counts_i)
        grad_threshold = threshold * (in_band * grad_acts).flatten(0, -2).sum(0)
        if grad_counts is not None:
            grad_threshold = grad_threshold + grad_counts * in_band.flatten(0, -2).sum(0)
        grad_threshold = -grad_threshold / eps
        return grad_acts * mask, grad_threshold.reshape(threshold.shape), None


def _jumprelu(pre: Tensor, threshold: Tensor, bandwidth: float) -> tuple[Tensor, Tensor]:
    """(JumpReLU_θ(pre), number of rows each latent fires on [d_sae]), differentiable in
    `pre` and `threshold` through the straight-through estimator above."""
    return _JumpReLUFunction.apply(pre, threshold, bandwidth)


class SAE(nn.Module):
    """A sparse autoencoder of any of ARCHITECTURES, with SAELens's parameter layout
    (W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]); a JumpReLU SAE
    also has the parameter `threshold` [d_sae] (θ itself, not its log as in the paper: Adam
    moves a parameter by about lr a step, and a log would move a small θ too slowly in a
    short run, as SAELens found; the trainer keeps it >= 0), a BatchTopK SAE the buffer
    `threshold` (a scalar, its evaluation threshold)."""

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
        if cfg.architecture == "jumprelu":
            self.threshold = nn.Parameter(torch.full((cfg.d_sae,), cfg.jumprelu_init_threshold))
        if cfg.architecture == "batchtopk":
            self.register_buffer("threshold", torch.zeros(()))

    def pre_acts(self, x: Tensor) -> Tensor:
        return torch.addmm(self.b_enc, (x - self.b_dec).flatten(0, -2), self.W_enc).unflatten(
            0, x.shape[:-1]
        )

    def activation(self, pre: Tensor) -> Tensor:
        """The architecture's activation. BatchTopK chooses over the whole batch while the
        module is in training mode (`sae.train()`) and uses its threshold in `sae.eval()`."""
        architecture = self.cfg.architecture
        if architecture == "topk":
            return _topk_activation(pre, self.cfg.k)
        if architecture == "batchtopk":
            if self.training:
                return _batch_topk_activation(pre, self.cfg.k)
            return pre * (pre > self.threshold)
        if architecture == "jumprelu":
            return _jumprelu(pre, self.threshold, self.cfg.jumprelu_bandwidth)[0]
        return pre.relu()

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


# ---------------------------------------------------------------------------------------
# The losses, as defined (the trainer computes the same with fewer FLOPs; tests compare)
# ---------------------------------------------------------------------------------------


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


def _jumprelu_sae_loss(sae: SAE, x: Tensor, l0_coefficient: float) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, mse, l0) of a JumpReLU SAE on x [batch, d_in]: mse as above, l0 = mean over
    the batch of Σ_i H(pre_i - θ_i) (gradient to θ through the straight-through estimator);
    loss = mse + l0_coefficient * l0."""
    acts, counts = _jumprelu(sae.pre_acts(x), sae.threshold, sae.cfg.jumprelu_bandwidth)
    mse = (sae.decode(acts) - x).pow(2).sum(-1).mean()
    l0 = counts.sum() / len(x)
    return mse + l0_coefficient * l0, mse, l0


def _matryoshka_mse(sae: SAE, acts: Tensor, x: Tensor) -> Tensor:
    """Σ over the prefixes m of the mean over the batch of ‖x - (f[:, :m] W_dec[:m] + b_dec)‖²
    (the plain mse when the SAE has no prefixes)."""
    prefixes = sae.cfg.matryoshka_prefixes or (sae.cfg.d_sae,)
    total = x.new_zeros(())
    for m in prefixes:
        recon = acts[:, :m] @ sae.W_dec[:m] + sae.b_dec
        total = total + (recon - x).pow(2).sum(-1).mean()
    return total


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


def _explained_variance(x: Tensor, recon: Tensor) -> Tensor:
    """1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖², sums over tokens and d_in, mean over tokens."""
    x, recon = x.flatten(0, -2), recon.flatten(0, -2)
    residual = (x - recon).pow(2).sum()
    total = (x - x.mean(0)).pow(2).sum()
    return 1 - residual / total
