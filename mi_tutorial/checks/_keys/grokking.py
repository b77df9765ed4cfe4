"""Answer keys for chapter 08 (grokking), written independently of the chapter's solutions.

Where the chapter projects onto its real Fourier basis, the keys use torch.fft (complex
exponentials, Parseval), least squares or plain loops; the model pieces are computed from
the weights by hand, not through TransformerLens hooks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def last_position_loss(model, tokens: Tensor, labels: Tensor) -> Tensor:
    logits = model(tokens)[:, -1, :]
    return -(logits.log_softmax(-1).gather(-1, labels[:, None])).mean()


def weight_norm(state_dict: dict[str, Tensor]) -> float:
    total = 0.0
    for value in state_dict.values():
        for x in value.detach().double().flatten().tolist():
            total += x * x
    return math.sqrt(total)


def fourier_basis(p: int) -> Tensor:
    """Rows: constant, then cos and sin of each frequency, from the DFT matrix's real and
    imaginary parts (torch.fft of the identity), normalised."""
    dft = torch.fft.fft(torch.eye(p, dtype=torch.float64), dim=0)  # row k: exp(-2 pi i k x / p)
    rows = [dft[0].real / math.sqrt(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [dft[k].real * math.sqrt(2 / p), -dft[k].imag * math.sqrt(2 / p)]
    return torch.stack(rows).float()


def frequency_norms(W: Tensor, basis: Tensor | None = None) -> Tensor:
    """Norm of each frequency 1..(p-1)/2 of W [p, d] over its first axis, by rfft and Parseval."""
    p = W.shape[0]
    spectrum = torch.fft.rfft(W.double(), dim=0)  # [p//2 + 1, d]
    return (spectrum[1 : (p - 1) // 2 + 1].abs().pow(2).sum(-1) * 2 / p).sqrt().float()


def key_frequencies(norms: Tensor, threshold: float) -> list[int]:
    squares = [value * value for value in norms.double().tolist()]
    total = sum(squares)
    found = []
    for frequency, square in enumerate(squares, start=1):
        if square > threshold * total:
            found.append(frequency)
    return found


def neuron_activations(model, tokens: Tensor) -> Tensor:
    """ReLU MLP hidden layer at the last position, from the weights by hand."""
    sd = model.state_dict()
    resid = sd["embed.weight"][tokens] + sd["pos_embed.weight"][: tokens.shape[1]]
    n_heads = model.cfg.n_heads
    q = resid @ sd["blocks.0.attn.q.weight"].T + sd["blocks.0.attn.q.bias"]
    k = resid @ sd["blocks.0.attn.k.weight"].T + sd["blocks.0.attn.k.bias"]
    v = resid @ sd["blocks.0.attn.v.weight"].T + sd["blocks.0.attn.v.bias"]
    b, n, d = q.shape
    dh = d // n_heads
    q, k, v = (t.reshape(b, n, n_heads, dh).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    z = out.transpose(1, 2).reshape(b, n, d)
    mid = resid + z @ sd["blocks.0.attn.o.weight"].T + sd["blocks.0.attn.o.bias"]
    return torch.relu(mid[:, -1] @ sd["blocks.0.mlp.in.weight"].T + sd["blocks.0.mlp.in.bias"])


def _bins(p: int, k: int) -> list[int]:
    return sorted({0, k % p, (-k) % p})


def neuron_frequency_fraction(acts: Tensor, k: int) -> Tensor:
    """Share of each neuron's variance over (a, b) in the 2D DFT bins {0, k, -k}^2 minus (0, 0)."""
    power = torch.fft.fft2(acts.double(), dim=(0, 1)).abs().pow(2)
    power[0, 0] = 0
    bins = _bins(acts.shape[0], k)
    part = power[bins][:, bins].sum((0, 1))
    return (part / power.sum((0, 1))).float()


def frequency_component(logits: Tensor, freqs: list[int]) -> Tensor:
    """The part of logits [a, b, c] along cos/sin(w_k (a + b)) over (a, b): the 2D DFT bins
    (k, k) and (-k, -k) of each c's p x p grid, the rest zeroed."""
    p = logits.shape[0]
    spectrum = torch.fft.fft2(logits.double(), dim=(0, 1))
    mask = torch.zeros(p, p, dtype=torch.bool)
    for k in freqs:
        mask[k % p, k % p] = mask[(-k) % p, (-k) % p] = True
    return torch.fft.ifft2(spectrum * mask[:, :, None], dim=(0, 1)).real.float()


def logit_variance_explained(logits: Tensor, freqs: list[int]) -> float:
    """R^2 of the least-squares fit of logits by a constant and cos(w_k (a + b - c)), k in freqs."""
    p = logits.shape[0]
    a, b, c = torch.meshgrid(*(torch.arange(p, dtype=torch.float64),) * 3, indexing="ij")
    design = [torch.ones(p**3, dtype=torch.float64)]
    design += [torch.cos(2 * math.pi * k * (a + b - c) / p).flatten() for k in freqs]
    X = torch.stack(design, 1)
    y = logits.double().flatten()
    fit = X @ torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    return 1 - ((y - fit) ** 2).sum().item() / ((y - y.mean()) ** 2).sum().item()


def gini(x: Tensor) -> float:
    """Mean absolute difference over all ordered pairs, divided by twice the mean."""
    x = x.double()
    n = len(x)
    return ((x[:, None] - x[None, :]).abs().sum() / (2 * n * n * x.mean())).item()


def ablate_logit_frequencies(W_logit: Tensor, freqs: list[int]) -> Tensor:
    """W_logit [d_mlp, p] with frequencies `freqs` of its output axis removed (rfft bins zeroed)."""
    p = W_logit.shape[-1]
    spectrum = torch.fft.rfft(W_logit.double(), dim=-1)
    for k in freqs:
        spectrum[:, k] = 0
    return torch.fft.irfft(spectrum, n=p, dim=-1).float()
