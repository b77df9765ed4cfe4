"""The straight-through-estimator checks of chapter 11 (exercises 11.8 JumpReLU and 11.9 the
L0 step): cases with entries of pre placed inside the kernel's window, the value and the
threshold's gradient compared with the answer key's detach-trick formulation, with the
likely mistakes named. Imported only by `ch11`."""

from __future__ import annotations

import torch
from torch import Tensor

from mi_tutorial.checks._cases_ch11 import _gen
from mi_tutorial.checks._keys import sae_scaling as ref

# --- Exercises 11.8 and 11.9: JumpReLU and its L0, through the straight-through estimator -------


def _jump_case(batch: int, d_sae: int, bandwidth: float, seed: int) -> tuple[Tensor, Tensor]:
    """pre [batch, d_sae] and thresholds [d_sae] > 0, a third of the entries of pre placed
    within bandwidth / 2 of their threshold (where the pseudo-derivative is not 0)."""
    g = _gen(50 + seed)
    threshold = 0.2 + torch.rand(d_sae, generator=g)
    pre = torch.randn(batch, d_sae, generator=g)
    near = torch.rand(batch, d_sae, generator=g) < 0.33
    offset = (torch.rand(batch, d_sae, generator=g) - 0.5) * 0.9 * bandwidth
    return torch.where(near, threshold + offset, pre), threshold


def _threshold_gradient(check, out, threshold, u, case):
    if not isinstance(out, Tensor) or not out.requires_grad:
        return None
    (grad,) = torch.autograd.grad((out * u).sum(), threshold, allow_unused=True, retain_graph=True)
    return torch.zeros_like(threshold) if grad is None else grad


def _kernel(pre: Tensor, threshold: Tensor, bandwidth: float, half_width: float = 0.5) -> Tensor:
    """The rectangle kernel K((pre - threshold) / bandwidth), 1 where |u| < half_width, per entry."""
    return (((pre - threshold) / bandwidth).abs() < half_width).float()


def _kernel_terms(pre: Tensor, threshold: Tensor, bandwidth: float, u: Tensor):
    """Per-latent sums of u * K for the right kernel and for one twice as wide."""
    right = _kernel(pre, threshold, bandwidth)
    wide = _kernel(pre, threshold, bandwidth, half_width=1.0)
    return (u * right).sum(0), (u * wide).sum(0)


def _check_ste(check, fn, name, case_list, value_mistakes, grad_mistakes, pre_grad_zero, grad_hint):
    for batch, d_sae, bandwidth, seed in case_list:
        pre0, threshold0 = _jump_case(batch, d_sae, bandwidth, seed)
        case = f"batch {batch}, d_sae {d_sae}, bandwidth {bandwidth}"
        pre, threshold = pre0.clone().requires_grad_(), threshold0.clone().requires_grad_()
        got = check.call(fn, pre, threshold, bandwidth, case=case, what=name)
        key_pre, key_threshold = pre0.clone().requires_grad_(), threshold0.clone().requires_grad_()
        expected = getattr(ref, name)(key_pre, key_threshold, bandwidth)
        check.compare(
            got,
            expected,
            case=case,
            what=f"{name}'s value",
            dtype=True,
            mistakes=lambda p=pre0, t=threshold0: value_mistakes(p, t),
        )
        u = torch.randn(expected.shape, generator=_gen(0))
        grad = _threshold_gradient(check, got, threshold, u, case)
        if grad is None:
            check.fail(
                f"{name}'s output carries no gradient: the threshold cannot be trained.",
                case=case,
                hint="write a torch.autograd.Function whose backward returns the pseudo-"
                "derivative for the threshold.",
            )
        (key_grad,) = torch.autograd.grad((expected * u).sum(), key_threshold, retain_graph=True)
        right, wide = _kernel_terms(pre0, threshold0, bandwidth, u)
        check.compare(
            grad,
            key_grad,
            case=f"{case}, gradient w.r.t. the threshold",
            what=f"the gradient of {name} w.r.t. the threshold",
            mistakes=lambda p=pre0, t=threshold0, b=bandwidth, r=right, w=wide, k=key_grad: (
                grad_mistakes(p, t, b, r, w, k)
            ),
            hint=grad_hint,
        )
        if pre_grad_zero:
            (pre_grad,) = torch.autograd.grad((got * u).sum(), pre, allow_unused=True)
            if pre_grad is not None and pre_grad.abs().max() > 0:
                check.fail(
                    "gradient flows from the L0 back into pre: Rajamanoharan et al.'s step "
                    "passes none (the L0 trains the threshold only; pre learns from the MSE).",
                    case=case,
                    hint="in backward, return zeros (or None) for pre.",
                )
        else:
            check.compare_gradients(
                got, expected, wrt={"pre": (pre, key_pre)}, case=case, what=f"{name}'s output"
            )
    check.passed()
