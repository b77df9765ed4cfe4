"""Cases and helpers of chapter 05's checks (`mi_tutorial.checks.ch05`).

Random reference SAEs (decoder rows not unit norm, non-zero biases, so a forgotten norm or
bias shows), random inputs, the reference training step, and `as_learners_class`: the
reference SAE handed to the learner as an instance of the class their signature names
(`sae: SparseAutoencoder`), so code that relies on that annotation works, while the values
still come from the reference's weights and formulas.
"""

from __future__ import annotations

import typing
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mi_tutorial.checks._keys import sae as ref  # the answer keys, written apart from the solutions


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ref_sae(d_in: int, d_sae: int, k: int | None, seed: int) -> ref.SAE:
    """A reference SAE with random weights: decoder norms from 0.5 to 2, non-zero biases."""
    cfg = ref.SAEConfig(d_in=d_in, d_sae=d_sae, architecture="topk" if k else "standard", k=k)
    with torch.random.fork_rng():
        sae = ref.SAE(cfg, seed=seed)
    g = gen(100 + seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=g) / d_in**0.5)
        sae.b_enc.copy_(0.3 * torch.randn(d_sae, generator=g))
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=g))
        sae.W_dec.mul_(
            (0.5 + 1.5 * torch.rand(d_sae, 1, generator=g)) / sae.W_dec.norm(dim=-1, keepdim=True)
        )
        sae.b_dec.copy_(torch.randn(d_in, generator=g))
    return sae.eval()


def x_batch(batch: int, d_in: int, seed: int, scale: float = 1.5) -> Tensor:
    return scale * torch.randn(batch, d_in, generator=gen(200 + seed))


def _encode(self, x: Tensor) -> Tensor:
    pre = (x - self.b_dec) @ self.W_enc + self.b_enc
    return pre.relu() if self.k is None else ref.topk_activation(pre, self.k)


def _decode(self, f: Tensor) -> Tensor:
    return f @ self.W_dec + self.b_dec


def _forward(self, x: Tensor) -> Tensor:
    return self.decode(self.encode(x))


@torch.no_grad()
def _normalize_decoder(self) -> None:
    self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True)


def as_learners_class(fn: Callable, parameter: str, reference: ref.SAE) -> nn.Module:
    """A copy of `reference` that is an instance of the class `fn`'s annotation of `parameter`
    names (a subclass of it with the reference's encode/decode), or `reference` itself when the
    annotation names no SAE class of the learner's."""
    try:
        cls = typing.get_type_hints(fn).get(parameter)
    except Exception:  # noqa: BLE001 - an annotation we cannot resolve: hand over the reference
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or isinstance(reference, cls):
        return reference
    methods = {
        "encode": _encode,
        "decode": _decode,
        "forward": _forward,
        "normalize_decoder": _normalize_decoder,
    }
    subclass = type(cls.__name__, (cls,), {"__module__": cls.__module__, **methods})
    sae = subclass.__new__(subclass)
    nn.Module.__init__(sae)
    sae.d_in, sae.d_sae, sae.k = (
        reference.cfg.d_in,
        reference.cfg.d_sae,
        reference.cfg.k,
    )
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        setattr(sae, name, nn.Parameter(getattr(reference, name).detach().clone()))
    return sae.eval()


def reference_step(sae: nn.Module, x: Tensor, optimizer, l1_coefficient: float) -> float:
    loss, _, _ = ref.relu_sae_loss(sae, x, l1_coefficient)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    sae.normalize_decoder()
    return loss.item()


def aux_k_cases():
    """(case, pre, dead, residual, W_dec, k_aux) for Exercise 5.8: every argument varies."""
    for seed, (d_sae, d_in, batch) in enumerate(
        [(12, 5, 16), (12, 5, 16), (8, 3, 4), (12, 5, 16), (6, 4, 2)]
    ):
        g = gen(80 + seed)
        pre = torch.randn(batch, d_sae, generator=g)
        pre[:, :4] += (
            2.0  # live latents with large pre-activations: picking them is a visible mistake
        )
        pre[:, 5] -= 3.0  # a dead latent whose pre-activations are all negative
        W_dec = torch.randn(d_sae, d_in, generator=g)
        residual = torch.randn(batch, d_in, generator=g)
        dead = torch.zeros(d_sae, dtype=torch.bool)
        if seed == 0:
            dead[[4, 5, 6, 7, 9, 10, 11]] = True
            yield "7 dead latents, k_aux 3", pre, dead, residual, W_dec, 3
        elif seed == 1:
            dead[[5, 8]] = True
            yield (
                "2 dead latents, k_aux 4 (fewer dead than k_aux)",
                pre,
                dead,
                residual,
                W_dec,
                4,
            )
        elif seed == 2:
            dead[[4, 5, 6]] = True
            yield (
                "3 dead latents, k_aux 3 (exactly k_aux dead), d_sae 8",
                pre,
                dead,
                residual,
                W_dec,
                3,
            )
        elif seed == 3:
            yield "no dead latent", pre, dead, residual, W_dec, 3
        else:
            yield (
                "every latent dead, k_aux 5, d_sae 6",
                pre,
                torch.ones(d_sae, dtype=torch.bool),
                residual,
                W_dec,
                5,
            )
