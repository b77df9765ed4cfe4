"""Self-checks for chapter 01, a transformer from scratch.

The trusted answer is TransformerLens itself: each check boots a native `TransformerBridge`
with random weights (biases and LayerNorm weights too, so a forgotten bias shows), loads
those weights into the learner's module, and compares with the bridge's hooked
activations. Where a check knows a typical mistake, it computes what that mistake would
output, so a failure can name it.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens import TransformerBridge
from transformer_lens.utilities import get_act_name

from mi_tutorial import models
from mi_tutorial.metrics import lm_loss
from mi_tutorial.checks._core import Check

CHECK_CONFIG = dict(
    n_layers=2, d_model=32, n_heads=4, d_head=8, d_mlp=128, d_vocab=23, n_ctx=24,  # n_ctx > d_vocab so W_pos[tokens] exists
    act_fn="gelu_new", normalization_type="LN", seed=0,
)
CASES = [(2, 7), (3, 16), (1, 1)]  # (batch, pos); pos 1 is the edge case of a lone token


def _bridge(seed: int = 0) -> TransformerBridge:
    """A small native bridge whose every weight, bias and LayerNorm scale is random."""
    model = models.boot(CHECK_CONFIG)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=generator)
            if name.endswith((".w", "ln_final.w")):  # LayerNorm scales: around 1
                param.copy_(1 + 0.3 * noise)
            else:
                param.copy_(0.3 * noise)
    return model


def _tokens(batch: int, pos: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randint(0, CHECK_CONFIG["d_vocab"], (batch, pos), generator=generator)


def _cases():
    """(case name, bridge, tokens, cache) for each test case."""
    for i, (batch, pos) in enumerate(CASES):
        model = _bridge(seed=i)
        tokens = _tokens(batch, pos, seed=i)
        _, cache = model.run_with_cache(tokens)
        yield f"batch={batch}, pos={pos}, random weights (seed {i})", model, tokens, cache


def _build(check: Check, cls, model: TransformerBridge, prefix: str, name: str) -> nn.Module:
    """An instance of the learner's class holding the bridge's weights under `prefix`."""
    module = check.call(cls, model.cfg, case="constructing it", what=f"{name}(cfg)")
    params = {
        key[len(prefix):]: value.detach().clone()
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


# --- Exercise 1.1 ------------------------------------------------------------------------------


def check_layernorm(LayerNorm) -> None:
    check = Check("Exercise 1.1 — LayerNorm")
    check.expect_class(LayerNorm, nn.Module, "LayerNorm")
    for case, model, _, cache in _cases():
        for prefix in ("blocks.0.ln1.", "blocks.1.ln2.", "ln_final."):
            ln = _build(check, LayerNorm, model, prefix, "LayerNorm")
            x = cache[prefix + "hook_in"]
            got = check.call(ln, x, case=case, what="LayerNorm.forward")
            check.compare(got, cache[prefix + "hook_out"], case=f"{case}, {prefix}", mistakes=_ln_mistakes(x, ln))
    # A nearly constant residual stream (variance ~1e-6 < eps): only here does it matter
    # whether eps is inside the square root.
    model = _bridge(seed=7)
    ln = _build(check, LayerNorm, model, "ln_final.", "LayerNorm")
    x = 1e-3 * torch.randn(2, 5, CHECK_CONFIG["d_model"], generator=torch.Generator().manual_seed(7))
    expected = F.layer_norm(x, (x.shape[-1],), ln.w.detach(), ln.b.detach(), eps=model.cfg.eps)
    got = check.call(ln, x, case="nearly constant input", what="LayerNorm.forward")
    check.compare(got, expected, case="nearly constant input (variance below eps)", mistakes=_ln_mistakes(x, ln))
    check.passed(f"{3 * len(CASES) + 1} cases")


def _ln_mistakes(x: torch.Tensor, ln: nn.Module) -> dict[str, torch.Tensor]:
    w, b, eps = ln.w.detach(), ln.b.detach(), 1e-5
    centred = x - x.mean(-1, keepdim=True)
    var = x.var(-1, keepdim=True, unbiased=False)
    return {
        "putting eps outside the square root, sqrt(var) + eps,": centred / (var.sqrt() + eps) * w + b,
        "the unbiased variance (divide by d_model - 1, torch's default for .var)": centred
        / (x.var(-1, keepdim=True) + eps).sqrt() * w + b,
        "dividing by the standard deviation without subtracting the mean": x / (var + eps).sqrt() * w + b,
        "leaving out w and b": centred / (var + eps).sqrt(),
    }


# --- Exercise 1.2 ------------------------------------------------------------------------------


def check_embeddings(Embed, PosEmbed) -> None:
    check = Check("Exercise 1.2 — Embed and PosEmbed")
    check.expect_class(Embed, nn.Module, "Embed")
    check.expect_class(PosEmbed, nn.Module, "PosEmbed")
    for case, model, tokens, cache in _cases():
        embed = _build(check, Embed, model, "embed.", "Embed")
        got = check.call(embed, tokens, case=case, what="Embed.forward")
        check.compare(got, cache["hook_embed"], case=case, what="Embed's output")
        pos_embed = _build(check, PosEmbed, model, "pos_embed.", "PosEmbed")
        got = check.call(pos_embed, tokens, case=case, what="PosEmbed.forward")
        W_pos = pos_embed.W_pos.detach()
        check.compare(
            got,
            cache["hook_pos_embed"],
            case=case,
            what="PosEmbed's output",
            mistakes={"looking up W_pos at the token ids instead of the positions": W_pos[tokens]},
            hint="position p gets row p of W_pos, for p = 0 … pos-1, the same for every sequence.",
        )
    check.passed(f"{len(CASES)} cases each")


# --- Exercise 1.3 ------------------------------------------------------------------------------


def check_apply_causal_mask(apply_causal_mask) -> None:
    check = Check("Exercise 1.3 — apply_causal_mask")
    check.expect_callable(apply_causal_mask, "apply_causal_mask")
    generator = torch.Generator().manual_seed(3)
    for batch, head, pos in [(2, 3, 5), (1, 1, 1), (1, 2, 9)]:
        case = f"scores of shape (batch={batch}, head={head}, q_pos={pos}, k_pos={pos})"
        scores = torch.randn(batch, head, pos, pos, generator=generator)
        got = check.call(apply_causal_mask, scores.clone(), case=case, what="apply_causal_mask")
        future = torch.ones(pos, pos, dtype=torch.bool).triu(1)
        expected = scores.masked_fill(future, float("-inf"))
        # -1e9 or -inf both give weight 0 after the softmax; compare them as "very negative".
        floor = -1e4
        check.compare(
            got.clamp(min=floor) if isinstance(got, torch.Tensor) else got,
            expected.clamp(min=floor),
            case=case,
            what="the masked scores",
            mistakes={
                "masking the diagonal too (a token may attend to itself)": scores.masked_fill(
                    torch.ones(pos, pos, dtype=torch.bool).triu(0), floor
                ),
                "masking the past instead of the future": scores.masked_fill(future.T, floor),
                "filling masked scores with 0 (after a softmax, 0 still gets weight)": scores.masked_fill(future, 0.0),
            },
            hint="mask the entries with k_pos > q_pos (above the diagonal), with -inf.",
        )
    check.passed("3 cases")


# --- Exercise 1.4 ------------------------------------------------------------------------------


def _attention_variant(cache, model, layer: int, *, scale: float, mask: bool, softmax_dim: int) -> torch.Tensor:
    """The attention output from cached q, k, v, computed with a (possibly wrong) recipe."""
    q, k, v = cache["q", layer], cache["k", layer], cache["v", layer]  # [batch pos head d_head]
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / scale
    if mask:
        n = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    pattern = scores.softmax(dim=softmax_dim).nan_to_num(0.0)
    z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
    return torch.einsum("bqhd,hdm->bqm", z, model.W_O[layer]) + model.b_O[layer]


def check_attention(Attention) -> None:
    check = Check("Exercise 1.4 — Attention")
    check.expect_class(Attention, nn.Module, "Attention")
    d_head = CHECK_CONFIG["d_head"]
    for case, model, _, cache in _cases():
        for layer in range(CHECK_CONFIG["n_layers"]):
            attn = _build(check, Attention, model, f"blocks.{layer}.attn.", "Attention")
            got = check.call(attn, cache[f"blocks.{layer}.attn.hook_in"], case=case, what="Attention.forward")
            variant = functools.partial(_attention_variant, cache, model, layer)
            expected = cache["attn_out", layer]
            check.compare(
                got,
                expected,
                case=f"{case}, layer {layer}",
                mistakes={
                    "leaving out the causal mask": variant(scale=d_head**0.5, mask=False, softmax_dim=-1),
                    "not dividing the scores by sqrt(d_head)": variant(scale=1.0, mask=True, softmax_dim=-1),
                    "dividing the scores by d_head instead of sqrt(d_head)": variant(scale=d_head, mask=True, softmax_dim=-1),
                    "a softmax over the query axis instead of the key axis": variant(scale=d_head**0.5, mask=True, softmax_dim=-2),
                    "leaving out b_O": expected - model.b_O[layer],
                },
                hint="check each step's shape; the softmax runs over k_pos, after the mask.",
            )
    check.passed(f"{2 * len(CASES)} cases")


# --- Exercise 1.5 ------------------------------------------------------------------------------


def check_mlp(MLP) -> None:
    check = Check("Exercise 1.5 — MLP")
    check.expect_class(MLP, nn.Module, "MLP")
    for case, model, _, cache in _cases():
        for layer in range(CHECK_CONFIG["n_layers"]):
            mlp = _build(check, MLP, model, f"blocks.{layer}.mlp.", "MLP")
            x = cache[f"blocks.{layer}.ln2.hook_out"]
            got = check.call(mlp, x, case=case, what="MLP.forward")
            W_in, b_in, W_out, b_out = (p.detach() for p in (mlp.W_in, mlp.b_in, mlp.W_out, mlp.b_out))
            pre = x @ W_in + b_in
            check.compare(
                got,
                cache["mlp_out", layer],
                case=f"{case}, layer {layer}",
                mistakes={
                    "ReLU instead of GELU": F.relu(pre) @ W_out + b_out,
                    'the exact GELU instead of GPT-2\'s tanh approximation (approximate="tanh")': F.gelu(pre) @ W_out + b_out,
                    "leaving out b_in": F.gelu(x @ W_in, approximate="tanh") @ W_out + b_out,
                    "leaving out b_out": F.gelu(pre, approximate="tanh") @ W_out,
                },
            )
    check.passed(f"{2 * len(CASES)} cases")


# --- Exercise 1.6 ------------------------------------------------------------------------------


def check_transformer_block(TransformerBlock) -> None:
    check = Check("Exercise 1.6 — TransformerBlock")
    check.expect_class(TransformerBlock, nn.Module, "TransformerBlock")
    for case, model, _, cache in _cases():
        for layer in range(CHECK_CONFIG["n_layers"]):
            block = _build(check, TransformerBlock, model, f"blocks.{layer}.", "TransformerBlock")
            resid_pre = cache["resid_pre", layer]
            got = check.call(block, resid_pre, case=case, what="TransformerBlock.forward")
            check.compare(
                got,
                cache["resid_post", layer],
                case=f"{case}, layer {layer}",
                mistakes={
                    "leaving out the residual connections (returning only the sublayers' output)": cache["mlp_out", layer],
                    "forgetting to add the MLP's output": cache["resid_mid", layer],
                },
                hint="if exercises 1.1, 1.4 and 1.5 pass, the bug is in the wiring: the MLP reads "
                "ln2(resid_mid), and both outputs are added to the residual stream.",
            )
    check.passed(f"{2 * len(CASES)} cases")


# --- Exercise 1.7 ------------------------------------------------------------------------------


def check_unembed(Unembed) -> None:
    check = Check("Exercise 1.7 — Unembed")
    check.expect_class(Unembed, nn.Module, "Unembed")
    for case, model, tokens, cache in _cases():
        unembed = _build(check, Unembed, model, "unembed.", "Unembed")
        x = cache["ln_final.hook_out"]
        got = check.call(unembed, x, case=case, what="Unembed.forward")
        check.compare(
            got,
            model(tokens),
            case=case,
            what="the logits",
            mistakes={"leaving out b_U": x @ unembed.W_U.detach()},
        )
    check.passed(f"{len(CASES)} cases")


# --- Exercise 1.8 ------------------------------------------------------------------------------


def check_demo_transformer(DemoTransformer) -> None:
    check = Check("Exercise 1.8 — DemoTransformer")
    check.expect_class(DemoTransformer, nn.Module, "DemoTransformer")
    for case, model, tokens, cache in _cases():
        demo = _build(check, DemoTransformer, model, "", "DemoTransformer")
        got = check.call(demo, tokens, case=case, what="DemoTransformer.forward")
        no_pos = model.run_with_hooks(tokens, fwd_hooks=[("hook_pos_embed", lambda act, hook: act * 0)])
        skip_ln = model.run_with_hooks(
            tokens, fwd_hooks=[("ln_final.hook_out", lambda act, hook: cache["ln_final.hook_in"])]
        )
        check.compare(
            got,
            model(tokens),
            case=case,
            what="the logits",
            mistakes={"leaving out the positional embedding": no_pos, "skipping ln_final": skip_ln},
            hint="embed + pos_embed, every block in order, then ln_final, then unembed.",
        )
    check.passed(f"{len(CASES)} cases")


# --- Exercise 1.9 ------------------------------------------------------------------------------


def check_lm_cross_entropy(lm_cross_entropy) -> None:
    check = Check("Exercise 1.9 — lm_cross_entropy")
    check.expect_callable(lm_cross_entropy, "lm_cross_entropy")
    for case, model, tokens, _ in _cases():
        if tokens.shape[1] < 2:
            continue  # a lone token predicts nothing
        logits = model(tokens).detach().requires_grad_(True)
        got = check.call(lm_cross_entropy, logits, tokens, case=case, what="lm_cross_entropy")
        if isinstance(got, float):
            check.fail(
                f"the loss is a Python float ({got:.4g}), so training could not backpropagate through it.",
                case=case,
                hint="return the tensor: do not call .item() inside the loss.",
            )
        flat = logits.detach()
        vocab = flat.shape[-1]
        check.compare(
            got,
            expected_loss := model(tokens, return_type="loss").detach(),
            case=case,
            what="the loss",
            mistakes={
                "forgetting the minus sign (log-probabilities are negative)": -expected_loss,
                "comparing each position's logits with its own token (no shift)": F.cross_entropy(
                    flat.reshape(-1, vocab), tokens.reshape(-1)
                ),
                "shifting the wrong way (logits[:, 1:] against tokens[:, :-1])": F.cross_entropy(
                    flat[:, 1:].reshape(-1, vocab), tokens[:, :-1].reshape(-1)
                ),
                "summing instead of averaging": F.cross_entropy(
                    flat[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1), reduction="sum"
                ),
            },
        )
        if not got.requires_grad:
            check.fail(
                "the loss is detached from the logits, so training could not backpropagate through it.",
                case=case,
                hint="do not call .item(), .detach() or torch.no_grad() inside the loss.",
            )
    check.passed(f"{len(CASES) - 1} cases")


# --- Exercise 1.10 -----------------------------------------------------------------------------


def check_greedy_generate(greedy_generate) -> None:
    check = Check("Exercise 1.10 — greedy_generate")
    check.expect_callable(greedy_generate, "greedy_generate")
    for i, (batch, pos, n_new) in enumerate([(3, 4, 5), (1, 1, 3), (2, 5, 0)]):
        model = _bridge(seed=10 + i)
        prompt = _tokens(batch, pos, seed=10 + i)
        case = f"{batch} prompt(s) of {pos} token(s), n_new={n_new}"
        got = check.call(greedy_generate, model, prompt.clone(), n_new, case=case, what="greedy_generate")
        expected = (
            model.generate(prompt, max_new_tokens=n_new, do_sample=False, stop_at_eos=False, verbose=False)
            if n_new
            else prompt
        )
        check.compare(
            got,
            expected,
            case=case,
            what="the generated tokens",
            hint="return the prompt followed by the new tokens; each new token is the argmax of the "
            "logits at the LAST position, over the vocabulary.",
        )
    check.passed("3 cases")


# --- Exercise 1.11 -----------------------------------------------------------------------------


def check_head_outputs(head_outputs) -> None:
    check = Check("Exercise 1.11 — head_outputs")
    check.expect_callable(head_outputs, "head_outputs")
    for case, model, tokens, cache in _cases():
        for layer in range(CHECK_CONFIG["n_layers"]):
            got = check.call(head_outputs, cache, model, layer, case=case, what="head_outputs")
            _, reference_cache = model.run_with_cache(tokens)
            reference_cache.compute_head_results()
            expected = reference_cache[f"blocks.{layer}.attn.hook_result"]  # [batch pos head d_model]
            z = cache["z", layer]
            check.compare(
                got,
                expected,
                case=f"{case}, layer {layer}",
                mistakes={
                    "adding b_O to every head (b_O belongs to the layer, once)": expected + model.b_O[layer],
                    "using layer 0's W_O for every layer": torch.einsum("bphd,hdm->bphm", z, model.W_O[0]),
                },
                hint="z is [batch pos head d_head] and W_O[layer] is [head d_head d_model]: keep the head axis.",
            )
    check.passed(f"{2 * len(CASES)} cases")


# --- Exercise 1.12 -----------------------------------------------------------------------------


def _without_head(model: TransformerBridge, layers_heads) -> TransformerBridge:
    """A copy of the model in which each (layer, head)'s rows of W_O are zero."""
    copy = models.boot(CHECK_CONFIG)
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        for layer, head in layers_heads:
            _W_O_slice(copy, layer, head).zero_()
    return copy


def _W_O_slice(model: TransformerBridge, layer: int, head: int) -> torch.Tensor:
    """The columns of layer's output projection that read head `head`'s z (a view)."""
    d_head = CHECK_CONFIG["d_head"]
    weight = model.state_dict(keep_vars=True)[f"blocks.{layer}.attn.o.weight"]  # [d_model, head*d_head]
    return weight[:, head * d_head : (head + 1) * d_head]


def check_zero_ablate_head(zero_ablate_head) -> None:
    check = Check("Exercise 1.12 — zero_ablate_head")
    check.expect_callable(zero_ablate_head, "zero_ablate_head")
    n_heads = CHECK_CONFIG["n_heads"]
    for i, (case, model, tokens, _) in enumerate(_cases()):
        layer, head = i % 2, (2 * i + 1) % n_heads
        hook = (get_act_name("z", layer), functools.partial(zero_ablate_head, head=head))
        got = check.call(model.run_with_hooks, tokens, fwd_hooks=[hook], case=case, what="your hook")
        others = [(layer, h) for h in range(n_heads) if h != head]
        check.compare(
            got,
            _without_head(model, [(layer, head)])(tokens),
            case=f"{case}, ablating L{layer}H{head}",
            what="the logits with the head ablated",
            mistakes={
                "zeroing every head of the layer": _without_head(model, [(layer, h) for h in range(n_heads)])(tokens),
                "zeroing every head except the chosen one": _without_head(model, others)(tokens),
                "not changing z at all": model(tokens),
            },
            hint="z is [batch, pos, head, d_head]: zero z[:, :, head, :] and return z.",
        )
    check.passed(f"{len(CASES)} cases")


# --- Exercise 1.13 -----------------------------------------------------------------------------


def check_head_ablation_losses(head_ablation_losses) -> None:
    check = Check("Exercise 1.13 — head_ablation_losses")
    check.expect_callable(head_ablation_losses, "head_ablation_losses")
    n_layers, n_heads = CHECK_CONFIG["n_layers"], CHECK_CONFIG["n_heads"]
    for i, (batch, pos) in enumerate([(4, 10), (2, 16)]):
        model, tokens = _bridge(seed=20 + i), _tokens(batch, pos, seed=20 + i)
        case = f"batch={batch}, pos={pos}, random weights"
        with torch.no_grad():
            clean_logits = model(tokens)
            clean = lm_loss(clean_logits, tokens)
            got = check.call(head_ablation_losses, model, tokens, lm_loss, case=case, what="head_ablation_losses")
            leftover = (model(tokens) - clean_logits).abs().max().item()
            expected = torch.zeros(n_layers, n_heads)
            piled_up = torch.zeros(n_layers, n_heads)
            single, cumulative = _without_head(model, []), _without_head(model, [])
            for layer in range(n_layers):
                for head in range(n_heads):
                    slice_ = _W_O_slice(single, layer, head)
                    saved = slice_.clone()
                    slice_.zero_()
                    expected[layer, head] = lm_loss(single(tokens), tokens) - clean
                    slice_.copy_(saved)
                    _W_O_slice(cumulative, layer, head).zero_()  # ablations that are never undone
                    piled_up[layer, head] = lm_loss(cumulative(tokens), tokens) - clean
        if leftover > 0:
            check.fail(
                "after your function ran, the model still had hooks attached, so every later run is ablated.",
                case=case,
                hint="use model.run_with_hooks(...) or `with model.hooks(...)`, which remove them; or call model.reset_hooks().",
            )
        check.compare(
            got,
            expected,
            case=case,
            what="the loss increases",
            mistakes={
                "returning the ablated loss instead of its increase over the clean loss": expected + clean,
                "letting the ablations pile up (hooks never removed)": piled_up,
            },
        )
    check.passed("2 cases")
