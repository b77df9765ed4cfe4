"""What `mi_tutorial.checks._core` needs besides the `Check` itself: snapshots of a call's
arguments, fingerprints of values (are two cases' arguments the same?), the standard error
of a sampled estimate, random-weight models, and a guard for the learner's global RNGs.
Everything here is re-exported by `_core`; chapters import it from there."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

# --- snapshots of the arguments ------------------------------------------------------------------


def _tensors(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """(where, tensor) for every tensor an argument holds, a few containers deep."""
    if depth > 4:
        return
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, torch.nn.Module):
        for name, tensor in value.state_dict(keep_vars=True).items():
            yield f"{path} (its {name})", tensor
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, Mapping) or hasattr(value, "cache_dict"):  # dict, ActivationCache
        items = value.items() if isinstance(value, Mapping) else value.cache_dict.items()
        for key, item in items:
            yield from _tensors(item, f"{path}[{key!r}]", depth + 1)
    elif type(value).__name__ == "FactoredMatrix":
        yield f"{path}.A", value.A
        yield f"{path}.B", value.B


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (a.isnan() & b.isnan())).all())
    return torch.equal(a, b)


def _bind(fn: Callable, args: tuple, kwargs: dict) -> dict[str, Any]:
    """{parameter name: value} for a call, or positional names when the signature is unknown."""
    try:
        return dict(inspect.signature(fn).bind_partial(*args, **kwargs).arguments)
    except (TypeError, ValueError):
        return {**{f"argument {i + 1}": a for i, a in enumerate(args)}, **kwargs}


# --- fingerprints: are two argument values the same? ---------------------------------------------


def fingerprint(value: Any, depth: int = 0) -> Any:
    """A hashable summary of a value: equal for equal tensors, numbers and configs; distinct
    objects (models, generators, functions) by identity."""
    if depth > 3:
        return ("deep", type(value).__name__)
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous()
        return (
            "tensor",
            tuple(data.shape),
            str(data.dtype),
            hash(data.numpy().tobytes()) if data.numel() else 0,
        )
    if value is None or isinstance(value, (bool, int, float, str, complex, torch.dtype)):
        return (type(value).__name__, value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(fingerprint(v, depth + 1) for v in value))
    if isinstance(value, Mapping):
        return (
            "mapping",
            tuple(sorted((repr(k), fingerprint(v, depth + 1)) for k, v in value.items())),
        )
    if isinstance(value, functools.partial):
        return (
            "partial",
            fingerprint(value.func, depth + 1),
            fingerprint(value.args, depth + 1),
            fingerprint(value.keywords, depth + 1),
        )
    if isinstance(value, (torch.nn.Module, torch.Generator)) or callable(value):
        return (
            "object",
            id(value),
        )  # a different model, generator or function is a different value
    if hasattr(value, "__dict__"):  # a config: its fields
        return (
            type(value).__name__,
            tuple(sorted((k, fingerprint(v, depth + 1)) for k, v in vars(value).items())),
        )
    return (type(value).__name__, repr(value))


# --- statistics ----------------------------------------------------------------------------------


def standard_error(samples: torch.Tensor) -> float:
    """The standard error of the mean of `samples` (1-d): std / sqrt(n)."""
    samples = torch.as_tensor(samples, dtype=torch.float64).flatten()
    return float(samples.std(unbiased=True) / math.sqrt(samples.numel()))


# --- random models -------------------------------------------------------------------------------


def random_bridge(config: dict, seed: int, *, scale: float = 0.5, norm_scale: float | None = None):
    """A small native TransformerBridge whose every weight and bias is random: N(0, scale^2),
    LayerNorm scales 1 + N(0, norm_scale^2) when `norm_scale` is given. Booted inside
    `torch.random.fork_rng`, so the learner's global RNG is left exactly as it was."""
    from mi_tutorial import (
        models,  # TransformerLens costs seconds to import: only when needed
    )

    with torch.random.fork_rng():
        model = models.boot(config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=generator)
            if norm_scale is not None and name.endswith(".w") and ("ln" in name.rsplit(".", 2)[-2]):
                param.copy_(1 + norm_scale * noise)
            else:
                param.copy_(scale * noise)
    return model.eval()


@contextlib.contextmanager
def _own_rng() -> Iterator[None]:
    """torch's, Python's and numpy's global RNG states restored afterwards: a check never
    moves the learner's random streams (a notebook's later cells give the same numbers)."""
    import random

    import numpy

    python_state, numpy_state = random.getstate(), numpy.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(python_state)
            numpy.random.set_state(numpy_state)
