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
from transformer_lens.utilities import get_act_name

from mi_tutorial.checks._cases_ch01 import (
    CHECK_CONFIG,
    OTHER_CONFIG,
    _ablation_losses,
    _attention_mistakes,
    _bridge,
    _build,
    _cases,
    _last_token_loss,
    _ln_mistakes,
    _mlp_of,
    _tokens,
    _without_head,
    _zero_hook,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.metrics import lm_loss

# --- Exercise 1.1 ------------------------------------------------------------------------------


def check_layernorm(LayerNorm) -> None:
    check = Check("Exercise 1.1 — LayerNorm")
    check.expect_class(LayerNorm, nn.Module, "LayerNorm")
    for case, model, _, cache in _cases():
        for prefix in ("blocks.0.ln1.", "blocks.1.ln2.", "ln_final."):
            ln = _build(check, LayerNorm, model, prefix, "LayerNorm")
            x = cache[prefix + "hook_in"]
            got = check.call(ln, x, case=case, what="LayerNorm.forward")
            check.compare(
                got,
                cache[prefix + "hook_out"],
                case=f"{case}, {prefix}",
                mistakes=_ln_mistakes(x, ln),
            )
    # A nearly constant residual stream (variance ~1e-6 < eps): only here does it matter
    # whether eps is inside the square root.
    model = _bridge(seed=7)
    ln = _build(check, LayerNorm, model, "ln_final.", "LayerNorm")
    x = 1e-3 * torch.randn(
        2, 5, CHECK_CONFIG["d_model"], generator=torch.Generator().manual_seed(7)
    )
    expected = F.layer_norm(x, (x.shape[-1],), ln.w.detach(), ln.b.detach(), eps=model.cfg.eps)
    got = check.call(ln, x, case="nearly constant input", what="LayerNorm.forward")
    check.compare(
        got,
        expected,
        case="nearly constant input (variance below eps)",
        mistakes=_ln_mistakes(x, ln),
    )
    check.passed()


# --- Exercise 1.2 ------------------------------------------------------------------------------


def check_embeddings(Embed, PosEmbed) -> None:
    check = Check("Exercise 1.2 — Embed and PosEmbed")
    check.expect_class(Embed, nn.Module, "Embed")
    check.expect_class(PosEmbed, nn.Module, "PosEmbed")
    for case, model, tokens, cache in _cases():
        embed = _build(check, Embed, model, "embed.", "Embed")
        got = check.call(embed, tokens, case=case, what="Embed.forward")
        W_E = embed.W_E.detach()
        check.compare(
            got,
            cache["hook_embed"],
            case=case,
            what="Embed's output",
            mistakes={"scaling the embeddings by sqrt(d_model)": W_E[tokens] * W_E.shape[1] ** 0.5},
            hint="W_E is [d_vocab, d_model]: token t's embedding is row t, W_E[tokens].",
        )
        pos_embed = _build(check, PosEmbed, model, "pos_embed.", "PosEmbed")
        got = check.call(pos_embed, tokens, case=case, what="PosEmbed.forward")
        W_pos = pos_embed.W_pos.detach()
        check.compare(
            got,
            cache["hook_pos_embed"],
            case=case,
            what="PosEmbed's output",
            mistakes={
                "looking up W_pos at the token ids instead of the positions": W_pos[tokens],
                "starting the positions at 1 (W_pos[1 : pos + 1])": W_pos[
                    1 : tokens.shape[1] + 1
                ].expand(tokens.shape[0], -1, -1),
            },
            hint="position p gets row p of W_pos, for p = 0 … pos-1, the same for every sequence: "
            "[batch, pos, d_model], one copy of W_pos[:pos] per sequence.",
        )
    check.passed()


# --- Exercise 1.3 ------------------------------------------------------------------------------


def check_apply_causal_mask(apply_causal_mask) -> None:
    check = Check("Exercise 1.3 — apply_causal_mask")
    check.expect_callable(apply_causal_mask, "apply_causal_mask")
    generator = torch.Generator().manual_seed(3)
    for batch, head, pos in [(2, 3, 5), (1, 1, 1), (1, 2, 9)]:
        case = f"scores of shape (batch={batch}, head={head}, q_pos={pos}, k_pos={pos})"
        scores = torch.randn(batch, head, pos, pos, generator=generator)
        got = check.call(apply_causal_mask, scores, case=case, what="apply_causal_mask")
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
                "filling masked scores with 0 (after a softmax, 0 still gets weight)": scores.masked_fill(
                    future, 0.0
                ),
                "torch.tril instead of torch.triu (masking the diagonal and the past)": scores.masked_fill(
                    torch.ones(pos, pos, dtype=torch.bool).tril(1), floor
                ),
            },
            hint="mask the entries with k_pos > q_pos (above the diagonal), with -inf.",
        )
    check.passed("3 cases")


# --- Exercise 1.4 ------------------------------------------------------------------------------


def check_attention(Attention) -> None:
    check = Check("Exercise 1.4 — Attention")
    check.expect_class(Attention, nn.Module, "Attention")
    for case, model, _, cache in _cases():
        for layer in range(model.cfg.n_layers):
            attn = _build(check, Attention, model, f"blocks.{layer}.attn.", "Attention")
            got = check.call(
                attn,
                cache[f"blocks.{layer}.attn.hook_in"],
                case=case,
                what="Attention.forward",
            )
            expected = cache["attn_out", layer]
            mistakes = functools.partial(_attention_mistakes, cache, model, layer)
            check.compare(
                got,
                expected,
                case=f"{case}, layer {layer}",
                mistakes=mistakes,
                hint="check each step's shape; the softmax runs over k_pos, after the mask.",
            )
    check.passed()


# --- Exercise 1.5 ------------------------------------------------------------------------------


def check_mlp(MLP) -> None:
    check = Check("Exercise 1.5 — MLP")
    check.expect_class(MLP, nn.Module, "MLP")
    for case, model, _, cache in _cases():
        for layer in range(model.cfg.n_layers):
            mlp = _build(check, MLP, model, f"blocks.{layer}.mlp.", "MLP")
            x = cache[f"blocks.{layer}.ln2.hook_out"]
            got = check.call(mlp, x, case=case, what="MLP.forward")
            W_in, b_in, W_out, b_out = (
                p.detach() for p in (mlp.W_in, mlp.b_in, mlp.W_out, mlp.b_out)
            )
            pre = x @ W_in + b_in
            check.compare(
                got,
                cache["mlp_out", layer],
                case=f"{case}, layer {layer}",
                mistakes={
                    "ReLU instead of GELU": F.relu(pre) @ W_out + b_out,
                    'the exact GELU instead of GPT-2\'s tanh approximation (approximate="tanh")': F.gelu(
                        pre
                    )
                    @ W_out
                    + b_out,
                    "leaving out b_in": F.gelu(x @ W_in, approximate="tanh") @ W_out + b_out,
                    "leaving out b_out": F.gelu(pre, approximate="tanh") @ W_out,
                },
            )
    check.passed()


# --- Exercise 1.6 ------------------------------------------------------------------------------


def check_transformer_block(TransformerBlock) -> None:
    check = Check("Exercise 1.6 — TransformerBlock")
    check.expect_class(TransformerBlock, nn.Module, "TransformerBlock")
    for case, model, _, cache in _cases():
        for layer in range(model.cfg.n_layers):
            block = _build(check, TransformerBlock, model, f"blocks.{layer}.", "TransformerBlock")
            resid_pre = cache["resid_pre", layer]
            got = check.call(block, resid_pre, case=case, what="TransformerBlock.forward")

            def mistakes(model=model, cache=cache, layer=layer, resid_pre=resid_pre):
                mid = cache["resid_mid", layer]
                return {
                    "leaving out the residual connections (returning only the sublayers' output)": (
                        cache["mlp_out", layer]
                    ),
                    "forgetting to add the MLP's output": mid,
                    "the MLP reading ln2(resid_pre) instead of ln2(resid_mid)": mid
                    + _mlp_of(model, layer, resid_pre),
                }

            check.compare(
                got,
                cache["resid_post", layer],
                case=f"{case}, layer {layer}",
                mistakes=mistakes,
                hint="if exercises 1.1, 1.4 and 1.5 pass, the bug is in the wiring: the MLP reads "
                "ln2(resid_mid), and both outputs are added to the residual stream.",
            )
    check.passed()


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
            mistakes={
                "leaving out b_U": x @ unembed.W_U.detach(),
                "a log_softmax at the end (the logits are not normalized)": model(
                    tokens
                ).log_softmax(-1),
            },
            hint="W_U is [d_model, d_vocab]: x @ W_U + b_U.",
        )
    check.passed()


# --- Exercise 1.8 ------------------------------------------------------------------------------


def check_demo_transformer(DemoTransformer) -> None:
    check = Check("Exercise 1.8 — DemoTransformer")
    check.expect_class(DemoTransformer, nn.Module, "DemoTransformer")
    for case, model, tokens, cache in _cases():
        demo = _build(check, DemoTransformer, model, "", "DemoTransformer")
        got = check.call(demo, tokens, case=case, what="DemoTransformer.forward")
        no_pos = model.run_with_hooks(
            tokens, fwd_hooks=[("hook_pos_embed", lambda act, hook: act * 0)]
        )
        skip_ln = model.run_with_hooks(
            tokens,
            fwd_hooks=[
                (
                    "ln_final.hook_out",
                    lambda act, hook, cache=cache: cache["ln_final.hook_in"],
                )
            ],
        )
        embedded = cache["hook_embed"] + cache["hook_pos_embed"]
        unthreaded = model.run_with_hooks(
            tokens,
            fwd_hooks=[
                (f"blocks.{layer}.hook_resid_pre", lambda act, hook, e=embedded: e)
                for layer in range(1, model.cfg.n_layers)
            ],
        )
        check.compare(
            got,
            model(tokens),
            case=case,
            what="the logits",
            mistakes={
                "leaving out the positional embedding": no_pos,
                "skipping ln_final": skip_ln,
                "feeding every block the embeddings instead of the previous block's output": unthreaded,
            },
            hint="embed + pos_embed, every block in order, then ln_final, then unembed.",
        )
    check.passed()


# --- Exercise 1.9 ------------------------------------------------------------------------------


def check_lm_cross_entropy(lm_cross_entropy) -> None:
    check = Check("Exercise 1.9 — lm_cross_entropy")
    check.expect_callable(lm_cross_entropy, "lm_cross_entropy")
    # pos 2 is the boundary: one prediction per sequence (a lone token predicts nothing).
    cases = [c for c in _cases() if c[2].shape[1] >= 2]
    model = _bridge(seed=5)
    cases.append(
        (
            "batch=4, pos=2 (one prediction per sequence)",
            model,
            _tokens(4, 2, seed=5),
            None,
        )
    )
    for case, model, tokens, _ in cases:
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

        def ce(lo, hi, t_lo, t_hi, flat=flat, vocab=vocab, tokens=tokens, **kwargs):
            return F.cross_entropy(
                flat[:, lo:hi].reshape(-1, vocab),
                tokens[:, t_lo:t_hi].reshape(-1),
                **kwargs,
            )

        expected_loss = model(tokens, return_type="loss").detach()
        check.compare(
            got,
            expected_loss,
            case=case,
            what="the loss",
            dtype=True,
            mistakes={
                "forgetting the minus sign (log-probabilities are negative)": -expected_loss,
                "comparing each position's logits with its own token (no shift)": ce(
                    None, None, None, None
                ),
                "targets off by one (logits[:, :-1] against tokens[:, :-1], each position's own token)": ce(
                    None, -1, None, -1
                ),
                "shifting the wrong way (logits[:, 1:] against tokens[:, :-1])": ce(
                    1, None, None, -1
                ),
                "summing instead of averaging": ce(None, -1, 1, None, reduction="sum"),
            },
        )
        if not got.requires_grad:
            check.fail(
                "the loss is detached from the logits, so training could not backpropagate through it.",
                case=case,
                hint="do not call .item(), .detach() or torch.no_grad() inside the loss.",
            )
        reference = logits.detach().requires_grad_(True)  # the chapter trains through this loss
        expected = F.cross_entropy(reference[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1))
        check.compare_gradients(
            got, expected, {"logits": (logits, reference)}, case=case, what="the loss"
        )
    check.passed()


# --- Exercise 1.10 -----------------------------------------------------------------------------


def check_greedy_generate(greedy_generate) -> None:
    check = Check("Exercise 1.10 — greedy_generate")
    check.expect_callable(greedy_generate, "greedy_generate")
    # n_new=0 is the boundary: the prompt itself comes back.
    for i, (batch, pos, n_new, config) in enumerate(
        [(3, 4, 5, CHECK_CONFIG), (1, 1, 3, OTHER_CONFIG), (2, 5, 0, CHECK_CONFIG)]
    ):
        model = _bridge(seed=10 + i, config=config)
        prompt = _tokens(batch, pos, seed=10 + i)
        case = f"{batch} prompt(s) of {pos} token(s), n_new={n_new}"
        got = check.call(greedy_generate, model, prompt, n_new, case=case, what="greedy_generate")
        expected = (
            model.generate(
                prompt,
                max_new_tokens=n_new,
                do_sample=False,
                stop_at_eos=False,
                verbose=False,
            )
            if n_new
            else prompt
        )
        if (
            isinstance(got, torch.Tensor)
            and got.ndim == 2
            and got.shape[0] == batch
            and got.shape[1] != pos + n_new
        ):
            length = got.shape[1]
            why = {
                pos + n_new - 1: "one token short",
                pos + n_new + 1: "one token too many",
                n_new: "only the new tokens, without the prompt",
            }.get(length, f"{length} tokens")
            check.fail(
                f"the generated tokens: {why}, expected the {pos}-token prompt followed by n_new={n_new} "
                f"new tokens, shape {tuple(expected.shape)}, got {tuple(got.shape)}.",
                case=case,
                hint="loop exactly n_new times, appending one token each time, and return the whole sequence.",
            )
        check.compare(
            got,
            expected,
            case=case,
            what="the generated tokens",
            hint="return the prompt followed by the new tokens; each new token is the argmax of the "
            "logits at the LAST position, over the vocabulary.",
        )
    check.passed()


# --- Exercise 1.11 -----------------------------------------------------------------------------


def check_head_outputs(head_outputs) -> None:
    check = Check("Exercise 1.11 — head_outputs")
    check.expect_callable(head_outputs, "head_outputs")
    for case, model, tokens, cache in _cases():
        for layer in range(model.cfg.n_layers):
            got = check.call(head_outputs, cache, model, layer, case=case, what="head_outputs")
            _, reference_cache = model.run_with_cache(tokens)
            reference_cache.compute_head_results()
            expected = reference_cache[
                f"blocks.{layer}.attn.hook_result"
            ]  # [batch pos head d_model]
            if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(expected.sum(2).shape):
                check.fail(
                    f"the head outputs have shape {tuple(got.shape)}: summed over the heads, the head "
                    f"axis is gone (expected {tuple(expected.shape)}).",
                    case=f"{case}, layer {layer}",
                    hint="keep `head` on the right of the einsum: '... -> batch pos head d_model'.",
                )
            z = cache["z", layer]
            check.compare(
                got,
                expected,
                case=f"{case}, layer {layer}",
                mistakes={
                    "adding b_O to every head (b_O belongs to the layer, once)": expected
                    + model.b_O[layer],
                    "using layer 0's W_O for every layer": torch.einsum(
                        "bphd,hdm->bphm", z, model.W_O[0]
                    ),
                    "using layer 0's z for every layer": torch.einsum(
                        "bphd,hdm->bphm", cache["z", 0], model.W_O[layer]
                    ),
                },
                hint="z is [batch pos head d_head] and W_O[layer] is [head d_head d_model]: keep the head axis.",
            )
    check.passed()


# --- Exercise 1.12 -----------------------------------------------------------------------------


def check_zero_ablate_head(zero_ablate_head) -> None:
    check = Check("Exercise 1.12 — zero_ablate_head")
    check.expect_callable(zero_ablate_head, "zero_ablate_head")
    for i, (case, model, tokens, _) in enumerate(_cases()):
        n_heads = model.cfg.n_heads
        layer, head = i % 2, (i + 1) % n_heads
        hook = (
            get_act_name("z", layer),
            functools.partial(check.recorded(zero_ablate_head), head=head),
        )
        got = check.call(
            model.run_with_hooks, tokens, fwd_hooks=[hook], case=case, what="your hook"
        )
        others = [(layer, h) for h in range(n_heads) if h != head]
        name = get_act_name("z", layer)
        check.compare(
            got,
            _without_head(model, [(layer, head)])(tokens),
            case=f"{case}, ablating L{layer}H{head}",
            what="the logits with the head ablated",
            mistakes=lambda model=model, tokens=tokens, others=others, n_heads=n_heads, name=name, head=head, layer=layer: {
                "zeroing every head of the layer": _without_head(
                    model, [(layer, h) for h in range(n_heads)]
                )(tokens),
                "zeroing every head except the chosen one": _without_head(model, others)(tokens),
                "not changing z at all": model(tokens),
                "zeroing position `head` (z[:, head]) instead of the head axis": model.run_with_hooks(
                    tokens, fwd_hooks=[(name, _zero_hook((slice(None), head)))]
                ),
                "zeroing entry `head` of d_head (z[..., head]) instead of the head axis": model.run_with_hooks(
                    tokens, fwd_hooks=[(name, _zero_hook((..., head)))]
                ),
            },
            hint="z is [batch, pos, head, d_head]: zero z[:, :, head, :] and return z.",
        )
    check.passed()


# --- Exercise 1.13 -----------------------------------------------------------------------------


def check_head_ablation_losses(head_ablation_losses) -> None:
    check = Check("Exercise 1.13 — head_ablation_losses")
    check.expect_callable(head_ablation_losses, "head_ablation_losses")
    cases = [
        (4, 10, CHECK_CONFIG, lm_loss),
        (2, 16, OTHER_CONFIG, lm_loss),
        (3, 8, CHECK_CONFIG, _last_token_loss),
    ]
    for i, (batch, pos, config, loss_fn) in enumerate(cases):
        model, tokens = (
            _bridge(seed=20 + i, config=config),
            _tokens(batch, pos, seed=20 + i),
        )
        n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
        case = (
            f"batch={batch}, pos={pos}, {n_heads} heads, random weights, loss_fn={loss_fn.__name__}"
        )
        with torch.no_grad():
            clean_logits = model(tokens)
            clean = loss_fn(clean_logits, tokens)
            got = check.call(
                head_ablation_losses,
                model,
                tokens,
                loss_fn,
                case=case,
                what="head_ablation_losses",
            )
            leftover = (model(tokens) - clean_logits).abs().max().item()
            expected, piled_up, with_lm_loss = _ablation_losses(model, tokens, loss_fn)
        if leftover > 0:
            check.fail(
                "after your function ran, the model still had hooks attached, so every later run is ablated.",
                case=case,
                hint="use model.run_with_hooks(...) or `with model.hooks(...)`, which remove them; or call model.reset_hooks().",
            )
        mistakes = {
            "returning the ablated loss instead of its increase over the clean loss": expected
            + clean,
            "letting the ablations pile up (hooks never removed)": piled_up,
            "the sign flipped (clean loss minus ablated loss)": -expected,
            "ablating layer 0 for every layer": expected[:1].expand(n_layers, -1),
        }
        if loss_fn is not lm_loss:
            mistakes["ignoring loss_fn (always the mean next-token loss)"] = with_lm_loss
        check.compare(
            got,
            expected,
            case=case,
            what="the loss increases",
            dtype=True,
            mistakes=mistakes,
        )
    check.passed()
