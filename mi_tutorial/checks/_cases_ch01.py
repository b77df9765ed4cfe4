"""Chapter 01's check cases: random-weight bridges in two shapes, the learner's modules loaded
with their weights, and what a typical mistake outputs (used by `mi_tutorial.checks.ch01`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens import TransformerBridge

from mi_tutorial import models
from mi_tutorial.checks._core import Check, random_bridge
from mi_tutorial.metrics import lm_loss

CHECK_CONFIG = dict(  # noqa: C408
    n_layers=2,
    d_model=32,
    n_heads=4,
    d_head=8,
    d_mlp=128,
    d_vocab=23,
    n_ctx=24,  # n_ctx > d_vocab so W_pos[tokens] exists
    act_fn="gelu_new",
    normalization_type="LN",
    seed=0,
)
# A second shape, so that code hard-coding the first one's d_model, n_heads or d_head fails.
OTHER_CONFIG = {**CHECK_CONFIG, "d_model": 24, "n_heads": 2, "d_head": 12, "d_mlp": 64}
# (batch, pos, config); pos 1 is the edge case of a lone token
CASES = [(2, 7, CHECK_CONFIG), (3, 16, OTHER_CONFIG), (1, 1, CHECK_CONFIG)]


def _bridge(seed: int = 0, config: dict = CHECK_CONFIG) -> TransformerBridge:
    """A small native bridge whose every weight, bias and LayerNorm scale (around 1) is random."""
    model = random_bridge(config, seed, scale=0.3, norm_scale=0.3)
    model.check_config = config  # to build copies of it (deepcopy refuses a bridge after a run)
    return model


def _tokens(batch: int, pos: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randint(0, CHECK_CONFIG["d_vocab"], (batch, pos), generator=generator)


def _cases():
    """(case name, bridge, tokens, cache) for each test case."""
    for i, (batch, pos, config) in enumerate(CASES):
        model = _bridge(seed=i, config=config)
        tokens = _tokens(batch, pos, seed=i)
        _, cache = model.run_with_cache(tokens)
        shape = (
            f"d_model={config['d_model']}, {config['n_heads']} heads of d_head={config['d_head']}"
        )
        yield (
            f"batch={batch}, pos={pos}, {shape}, random weights (seed {i})",
            model,
            tokens,
            cache,
        )


def _build(check: Check, cls, model: TransformerBridge, prefix: str, name: str) -> nn.Module:
    """An instance of the learner's class holding the bridge's weights under `prefix`."""
    module = check.call(cls, model.cfg, case="constructing it", what=f"{name}(cfg)")
    params = {
        key[len(prefix) :]: value.detach().clone()
        for key, value in model.tl_parameters().items()
        if key.startswith(prefix)
    }
    try:
        module.load_state_dict(params, strict=True)
    except RuntimeError:
        have = sorted(k for k in module.state_dict())
        check.fail(
            f"could not load TransformerLens's weights into your {name}: its parameters are "
            f"{have}, and the check expects {sorted(params)}.",
            hint="keep the parameter names and shapes that __init__ creates.",
        )
    return module.eval()


def _ln_mistakes(x: torch.Tensor, ln: nn.Module) -> dict[str, torch.Tensor]:
    w, b, eps = ln.w.detach(), ln.b.detach(), 1e-5
    centred = x - x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return {
        "putting eps outside the square root, sqrt(var) + eps,": centred / (var.sqrt() + eps) * w
        + b,
        "the unbiased variance (divide by d_model - 1, torch's default for .var)": centred
        / (x.var(-1, keepdim=True) + eps).sqrt()
        * w
        + b,
        "dividing by the standard deviation without subtracting the mean": x
        / (var + eps).sqrt()
        * w
        + b,
        "leaving out w and b": centred / (var + eps).sqrt(),
        "the mean over the position axis (dim=1) instead of d_model": (x - x.mean(1, keepdim=True))
        / (var + eps).sqrt()
        * w
        + b,
    }


def _attention_variant(
    cache,
    model,
    layer: int,
    *,
    scale: float,
    mask: bool = True,
    softmax_dim: int = -1,
    b_Q: bool = True,
    b_V: bool = True,
) -> torch.Tensor:
    """The attention output from cached q, k, v, computed with a (possibly wrong) recipe."""
    q, k, v = (
        cache["q", layer],
        cache["k", layer],
        cache["v", layer],
    )  # [batch pos head d_head]
    q = q if b_Q else q - model.b_Q[layer]
    v = v if b_V else v - model.b_V[layer]
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / scale
    if mask:
        n = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    pattern = scores.softmax(dim=softmax_dim).nan_to_num(0.0)
    z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
    return torch.einsum("bqhd,hdm->bqm", z, model.W_O[layer]) + model.b_O[layer]


def _last_token_loss(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Another loss_fn for exercise 1.13: the cross-entropy of each sequence's last prediction."""
    return F.cross_entropy(logits[:, -2], tokens[:, -1])


def _without_head(model: TransformerBridge, layers_heads) -> TransformerBridge:
    """A copy of the model in which each (layer, head)'s rows of W_O are zero."""
    with torch.random.fork_rng():
        ablated = models.boot(model.check_config)
    ablated.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer, head in layers_heads:
            _W_O_slice(ablated, layer, head).zero_()
    return ablated


def _mlp_of(model, layer: int, resid: torch.Tensor) -> torch.Tensor:
    """The layer's MLP output on ln2(resid), from the model's weights (not its hooks)."""
    params = model.tl_parameters()
    w, b = params[f"blocks.{layer}.ln2.w"], params[f"blocks.{layer}.ln2.b"]
    normed = F.layer_norm(resid, (resid.shape[-1],), w, b, eps=model.cfg.eps)
    pre = normed @ model.W_in[layer] + model.b_in[layer]
    return F.gelu(pre, approximate="tanh") @ model.W_out[layer] + model.b_out[layer]


def _W_O_slice(model: TransformerBridge, layer: int, head: int) -> torch.Tensor:
    """The columns of layer's output projection that read head `head`'s z (a view)."""
    d_head = model.cfg.d_head
    weight = model.state_dict(keep_vars=True)[
        f"blocks.{layer}.attn.o.weight"
    ]  # [d_model, head*d_head]
    return weight[:, head * d_head : (head + 1) * d_head]


def _zero_hook(where):
    def hook(z, hook):
        z = z.clone()
        z[where] = 0.0
        return z

    return hook


def _attention_mistakes(cache, model, layer: int) -> dict[str, torch.Tensor]:
    """What exercise 1.4's typical mistakes output for one case and layer."""
    d_head, d_model, n_heads = model.cfg.d_head, model.cfg.d_model, model.cfg.n_heads
    expected = cache["attn_out", layer]

    def variant(**kwargs):
        return _attention_variant(cache, model, layer, **kwargs)

    root = d_head**0.5
    wrong = {
        "leaving out the causal mask": variant(scale=root, mask=False),
        "not dividing the scores by sqrt(d_head)": variant(scale=1.0),
        "dividing the scores by d_head instead of sqrt(d_head)": variant(scale=d_head),
        "dividing the scores by sqrt(d_model) instead of sqrt(d_head)": variant(scale=d_model**0.5),
        "a softmax over the query axis instead of the key axis": variant(
            scale=root, softmax_dim=-2
        ),
        "leaving out b_O": expected - model.b_O[layer],
        "adding b_O once per head (it belongs to the layer, once)": expected
        + (n_heads - 1) * model.b_O[layer],
        "leaving out b_V": variant(scale=root, b_V=False),
        "leaving out b_Q": variant(scale=root, b_Q=False),
    }
    if d_head != CHECK_CONFIG["d_head"]:
        first = CHECK_CONFIG["d_head"]
        wrong[
            f"a hard-coded d_head (sqrt({first}), the first case's) instead of sqrt(cfg.d_head)"
        ] = variant(scale=first**0.5)
    return wrong


def _ablation_losses(model, tokens, loss_fn) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Exercise 1.13's answer, what ablations that pile up give, and what lm_loss instead of
    loss_fn gives: each [layer, head], computed by zeroing W_O's columns (not by hooks)."""
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    clean_logits = model(tokens)
    clean = loss_fn(clean_logits, tokens)
    expected, piled_up, with_lm_loss = (torch.zeros(n_layers, n_heads) for _ in range(3))
    single, cumulative = _without_head(model, []), _without_head(model, [])
    for layer in range(n_layers):
        for head in range(n_heads):
            slice_ = _W_O_slice(single, layer, head)
            saved = slice_.clone()
            slice_.zero_()
            logits = single(tokens)
            expected[layer, head] = loss_fn(logits, tokens) - clean
            with_lm_loss[layer, head] = lm_loss(logits, tokens) - lm_loss(clean_logits, tokens)
            slice_.copy_(saved)
            _W_O_slice(cumulative, layer, head).zero_()  # ablations that are never undone
            piled_up[layer, head] = loss_fn(cumulative(tokens), tokens) - clean
    return expected, piled_up, with_lm_loss
