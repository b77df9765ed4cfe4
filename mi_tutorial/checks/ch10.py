"""Self-checks for chapter 10, circuit tracing.

The cases run on small models booted here with random weights (2 layers, d_model 16, so a
check takes well under a second) and reference transcoders with random weights; the
trusted answers come from `_keys.circuits`, which computes the replacement model with the
real model's hooks and direct effects by intervention, not by gradients.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from mi_tutorial import transcoders as ref
from mi_tutorial.checks._cases_ch10 import (
    _CONFIGS,
    _category,
    _dag,
    _features,
    _gen,
    _gradients,
    _powers,
    _setup,
    _transcoder,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import circuits as key
from mi_tutorial.data import tinyworld

# --- Exercise 10.1 ------------------------------------------------------------------------------


def check_transcoder(Transcoder) -> None:
    check = Check("Exercise 10.1 — Transcoder")
    check.expect_class(Transcoder, nn.Module, "Transcoder")
    for d_in, d_tc, k, seed in [(6, 10, 3, 0), (16, 40, 5, 1), (8, 8, 8, 2)]:
        case = f"d_in {d_in}, d_tc {d_tc}, k {k}, random weights, b_enc != 0"
        mine = check.call(
            Transcoder,
            d_in,
            d_tc,
            k,
            seed,
            case=case,
            what=f"Transcoder({d_in}, {d_tc}, {k}, {seed})",
        )
        theirs = _transcoder(d_in, d_tc, k, seed)
        mine.load_state_dict(
            {n: getattr(theirs, n).detach().clone() for n in ("W_enc", "b_enc", "W_dec", "b_dec")}
        )
        x = 1.5 * torch.randn(7, d_in, generator=_gen(seed)) - 0.5
        pre = x @ theirs.W_enc + theirs.b_enc
        with torch.no_grad():
            f = check.call(mine.encode, x, case=case, what="encode")
            top = pre.topk(k, dim=-1)
            check.compare(
                f,
                key.topk_features(pre, k),
                case=case,
                what="encode's features",
                dtype=True,
                mistakes={
                    "forgetting the ReLU on the kept values": torch.zeros_like(pre).scatter(
                        -1, top.indices, top.values
                    ),
                    "subtracting b_dec from the input first (the SAE habit; a transcoder's input "
                    "and output differ)": key.topk_features(
                        (x - theirs.b_dec) @ theirs.W_enc + theirs.b_enc, k
                    ),
                    "a ReLU over every feature instead of the top k": pre.relu(),
                },
            )
            out = check.call(mine.decode, f, case=case, what="decode")
            check.compare(
                out,
                f @ theirs.W_dec + theirs.b_dec,
                case=case,
                what="decode's output",
                mistakes={"leaving out b_dec": f @ theirs.W_dec},
            )
    check.passed("3 transcoders: Transcoder encode and decode")


# --- Exercise 10.2 ------------------------------------------------------------------------------


def check_normalized_mse(normalized_mse) -> None:
    check = Check("Exercise 10.2 — normalized_mse")
    check.expect_callable(normalized_mse, "normalized_mse")
    g = _gen(2)
    y = torch.randn(40, 5, generator=g) * torch.tensor([3.0, 1, 0.5, 2, 1]) + 2.0
    cases = [
        (
            "a noisy prediction of outputs with a non-zero mean",
            y,
            y + 0.7 * torch.randn(40, 5, generator=g),
        ),
        (
            "prediction = the mean vector (normalised MSE 1)",
            y[:10],
            y[:10].mean(0).expand(10, 5).clone(),
        ),
        ("a shrunk prediction (every vector times 0.5)", y[5:30], 0.5 * y[5:30]),
    ]
    for case, target, prediction in cases:
        got = check.call(normalized_mse, target, prediction, case=case, what="normalized_mse")
        check.expect_type(got, float, case=case, what="normalized_mse's result")
        error = (target - prediction).pow(2)
        check.compare(
            torch.tensor(got),
            torch.tensor(key.normalized_mse(target, prediction)),
            case=case,
            what="the normalised MSE",
            mistakes={
                "not subtracting the mean (dividing by Σ‖y‖²)": error.sum() / target.pow(2).sum(),
                "averaging a ratio per row": (
                    error.sum(-1) / (target - target.mean(0)).pow(2).sum(-1)
                ).mean(),
                "the explained variance (1 - normalised MSE)": 1
                - error.sum() / (target - target.mean(0)).pow(2).sum(),
            },
        )
    check.passed("3 cases: normalized_mse")


# --- Exercise 10.3 ------------------------------------------------------------------------------


def check_splice_transcoders(splice_transcoders) -> None:
    check = Check("Exercise 10.3 — splice_transcoders")
    check.expect_callable(splice_transcoders, "splice_transcoders")
    for name, seed, batch in [
        ("2 layers, d_model 16", 0, 3),
        ("3 layers, d_model 12", 1, 2),
        ("2 layers, d_model 16", 4, 1),
    ]:
        model, transcoders = _setup(name, seed)[:2]
        tokens = torch.randint(0, _CONFIGS[name]["d_vocab"], (batch, 7), generator=_gen(seed))
        case = f"{name}, random transcoders (seed {seed}), tokens [{batch}, 7]"
        got = check.call(
            splice_transcoders, model, transcoders, tokens, case=case, what="splice_transcoders"
        )
        if any(h.fwd_hooks for h in model.hook_dict.values()):
            model.reset_hooks()
            check.fail(
                "the model still had hooks attached after splice_transcoders returned.",
                case=case,
                hint="use model.run_with_hooks(...), which removes its hooks afterwards.",
            )

        check.compare(
            got,
            key.spliced_logits(model, transcoders, tokens),
            case=case,
            what="the logits",
            atol=1e-3,
            mistakes=lambda: {
                "replacing the last MLP only": key.spliced_logits(
                    model, transcoders, tokens, layers=[len(transcoders) - 1]
                ),
                "replacing the first MLP only": key.spliced_logits(
                    model, transcoders, tokens, layers=[0]
                ),
            },
        )
    check.passed("3 cases: splice_transcoders")


# --- Exercise 10.4 ------------------------------------------------------------------------------


def check_frozen_layernorm(frozen_layernorm) -> None:
    check = Check("Exercise 10.4 — frozen_layernorm")
    check.expect_callable(frozen_layernorm, "frozen_layernorm")
    g = _gen(4)
    for case, shape in [
        ("x [5, 8], a scale unlike x's own", (5, 8)),
        ("x [2, 3, 6] (a batch)", (2, 3, 6)),
        ("x [1, 4]", (1, 4)),
    ]:
        x = 2 * torch.randn(shape, generator=g) + 1
        scale = 0.5 + torch.rand(*shape[:-1], 1, generator=g)
        w, b = 1 + 0.3 * torch.randn(shape[-1], generator=g), torch.randn(shape[-1], generator=g)
        got = check.call(frozen_layernorm, x, scale, w, b, case=case, what="frozen_layernorm")
        centred = x - x.mean(-1, keepdim=True)
        own = (centred.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
        check.compare(
            got,
            centred / scale * w + b,
            case=case,
            what="the frozen LayerNorm",
            mistakes={
                "computing the scale from x (not frozen)": centred / own * w + b,
                "not centring x": x / scale * w + b,
                "multiplying by the scale instead of dividing": centred * scale * w + b,
            },
        )
    check.passed("3 cases: frozen_layernorm")


# --- Exercise 10.5 ------------------------------------------------------------------------------


def check_replacement_forward(replacement_forward) -> None:
    check = Check("Exercise 10.5 — replacement_forward")
    check.expect_callable(replacement_forward, "replacement_forward")
    for name, seed, perturb, given in [
        ("2 layers, d_model 16", 0, False, False),
        ("3 layers, d_model 12", 1, True, False),
        ("2 layers, d_model 16", 2, True, True),
    ]:
        model, transcoders, tokens, frozen, embed = _setup(name, seed)
        if (
            perturb
        ):  # a different residual stream: now the frozen patterns and scales are not its own
            embed = embed + 0.5 * torch.randn(embed.shape, generator=_gen(seed))
        features = None
        if given:
            features = [
                torch.rand(len(tokens), 24, generator=_gen(seed + L))
                * (torch.rand(len(tokens), 24, generator=_gen(9 + L)) < 0.2)
                for L in range(len(transcoders))
            ]
        case = (
            f"{name}, {'the prompt itself' if not perturb else 'a perturbed embedding'}, "
            f"{'features given' if given else 'features=None'}"
        )
        with torch.no_grad():
            out = check.call(
                replacement_forward,
                model,
                transcoders,
                frozen,
                embed,
                features,
                case=case,
                what="replacement_forward",
            )
            if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list)):
                check.fail(
                    "replacement_forward should return (logits, list of pre-activations), got "
                    f"{type(out).__name__}.",
                    case=case,
                )
            logits, pres = key.replacement(model, transcoders, frozen, tokens, embed, features)
            live = copy.copy(frozen)
            live.errors = torch.zeros_like(frozen.errors)
            check.compare(
                out[0],
                logits,
                case=case,
                what="the logits",
                atol=1e-3,
                mistakes=lambda: {
                    "leaving out the error terms": key.replacement(
                        model, transcoders, live, tokens, embed, features
                    )[0],
                    "the LayerNorms and attention computed live (not frozen)": key.replacement(
                        model, transcoders, frozen, tokens, embed, features, freeze_attention=False
                    )[0],
                },
            )
            if not perturb:
                check.compare(
                    out[0],
                    model(tokens[None])[0],
                    case=case,
                    what="the logits (the real model's, exactly)",
                    hint="on its own prompt the replacement model is the real model: check the "
                    "error terms and the frozen scales.",
                )
            for L, (got_pre, pre) in enumerate(zip(out[1], pres)):
                check.compare(
                    got_pre, pre, case=case, what=f"layer {L}'s pre-activations", atol=1e-3
                )
    check.passed("3 cases: replacement_forward, exact on its prompt")


# --- Exercise 10.6 ------------------------------------------------------------------------------


def check_direct_effects(direct_effects) -> None:
    check = Check("Exercise 10.6 — direct_effects")
    check.expect_callable(direct_effects, "direct_effects")
    for name, seed, target_kind in [
        ("2 layers, d_model 16", 0, "logit"),
        ("3 layers, d_model 12", 1, "logit"),
        ("2 layers, d_model 16", 3, "feature"),
    ]:
        model, transcoders, tokens, frozen, embed = _setup(name, seed)
        with torch.no_grad():
            _, pres = ref.run_replacement(model, transcoders, frozen, embed)
        features = _features(transcoders, pres)
        if target_kind == "logit":
            token = int(seed) + 2

            def target(logits, pres, token=token):
                return logits[-1, token] - logits[-1].mean()
        else:
            last = len(transcoders) - 1
            p, i = features[last].nonzero()[0].tolist()

            def target(logits, pres, last=last, p=p, i=i):
                return pres[last][p, i]

        kind = "a logit minus the mean logit" if target_kind == "logit" else "a last-layer feature"
        case = f"{name}, target: {kind}"
        out = check.call(
            direct_effects,
            model,
            transcoders,
            frozen,
            embed,
            features,
            target,
            case=case,
            what="direct_effects",
        )
        if not (isinstance(out, tuple) and len(out) == 3):
            check.fail(
                "direct_effects should return (embed_effects, feature_effects, error_effects), "
                f"got {type(out).__name__}.",
                case=case,
            )
        e, fs, err = key.direct_effects(model, transcoders, frozen, tokens, embed, features, target)
        grads = _gradients(model, transcoders, frozen, embed, features, target)
        check.compare(
            out[0],
            e,
            case=case,
            what="the embeddings' direct effects [pos]",
            atol=1e-3,
            mistakes={
                "the gradient alone, not activation × gradient": grads[0].sum(-1),
            },
        )
        if not isinstance(out[1], list) or len(out[1]) != len(fs):
            check.fail(
                f"feature_effects should be a list of {len(fs)} tensors, one per layer.", case=case
            )
        for L, (got, expected) in enumerate(zip(out[1], fs)):
            check.compare(
                got,
                expected,
                case=case,
                what=f"layer {L}'s features' direct effects",
                atol=1e-3,
                mistakes={
                    "the gradient alone, not activation × gradient": grads[1][L],
                },
            )
        check.compare(
            out[2],
            err,
            case=case,
            what="the error nodes' direct effects [layer pos]",
            atol=1e-3,
            mistakes={
                "the gradient alone, not activation × gradient": grads[2].sum(-1),
                "not summing over d_model": (grads[2] * frozen.errors)[..., 0],
            },
        )
    check.passed("3 cases: direct_effects, equal to zeroing each node")


# --- Exercise 10.7 ------------------------------------------------------------------------------


def check_node_influence(node_influence) -> None:
    check = Check("Exercise 10.7 — node_influence")
    check.expect_callable(node_influence, "node_influence")
    for case, A in [
        ("a random graph of 9 nodes with signed edges", _dag(9, 0)),
        ("a sparse graph of 15 nodes", _dag(15, 1, 0.2)),
        (
            "a chain 0 → 1 → 2 → 3 with weights 2, -3, 0.5",
            torch.diag(torch.tensor([2.0, -3.0, 0.5]), -1),
        ),
    ]:
        got = check.call(node_influence, A, case=case, what="node_influence")
        absA = A.abs()
        rows = absA / absA.sum(-1, keepdim=True).clamp_min(1e-12)
        check.compare(
            got,
            key.influence(A),
            case=case,
            what="the influence [n]",
            dtype=True,
            mistakes={
                "only the direct edges (Â, not Â + Â² + ...)": rows[-1],
                "not taking |A| (signed edges cancel)": _powers(
                    A / A.sum(-1, keepdim=True).clamp_min(1e-12)
                ),
                "normalising the columns instead of the rows": _powers(
                    absA / absA.sum(0, keepdim=True).clamp_min(1e-12)
                ),
            },
        )
    check.passed("3 graphs: node_influence")


# --- Exercise 10.8 ------------------------------------------------------------------------------


def check_prune_nodes(prune_nodes) -> None:
    check = Check("Exercise 10.8 — prune_nodes")
    check.expect_callable(prune_nodes, "prune_nodes")
    exact = torch.tensor([0.125, 0.5, 0.0, 0.25, 0.125])  # sums exact in float32
    cases = [
        ("random influences of 12 nodes, share 0.8", torch.rand(12, generator=_gen(8)), 0.8),
        ("a share met exactly by the top two (0.5 + 0.25 of 1.0), share 0.75", exact, 0.75),
        ("share 0.5 of 8 nodes", torch.rand(8, generator=_gen(9)) ** 3, 0.5),
    ]
    for case, influence, share in cases:
        got = check.call(prune_nodes, influence, share, case=case, what="prune_nodes")
        if isinstance(got, Tensor) and got.dtype != torch.bool:
            check.fail(f"the mask should be a boolean tensor, got dtype {got.dtype}.", case=case)
        check.compare(
            got,
            key.prune(influence, share),
            case=case,
            what="the mask of kept nodes",
            mistakes={
                "keeping the nodes whose own influence exceeds the share": influence
                > share * influence.sum(),
                "one node too many when the share is met exactly (< instead of <=)": key.prune(
                    influence, share + 1e-4
                ),
            },
        )
    check.passed("3 cases: prune_nodes, share met exactly")


# --- Exercise 10.9 ------------------------------------------------------------------------------


def check_label_feature(label_feature) -> None:
    check = Check("Exercise 10.9 — label_feature")
    check.expect_callable(label_feature, "label_feature")
    ids = {
        c: [tinyworld.TOKEN_ID[w] for w in words]
        for c, words in (
            ("name", tinyworld.NAMES),
            ("town", tinyworld.TOWNS),
            ("colour", tinyworld.COLORS),
        )
    }
    g = _gen(10)
    tokens0 = torch.tensor(ids["town"] * 3 + ids["colour"] * 3 + ids["name"][:6])  # 54 tokens
    acts0 = torch.rand(len(tokens0), generator=g)
    acts0[:8] += 2.0  # the towns fire hardest ...
    acts0[24:27] += 2.5  # ... with three colours above them
    acts0[48:] -= 1.0  # names at the bottom: picking the smallest finds them
    for case, k, flip in [
        ("towns on top with three colours among them, k 20", 20, False),
        ("the same, k 5", 5, False),
        ("the same tokens in reverse order, k 11", 11, True),
    ]:
        acts, tokens = (acts0.flip(0), tokens0.flip(0)) if flip else (acts0, tokens0)
        got = check.call(label_feature, acts, tokens, k, case=case, what="label_feature")
        if not (isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], str)):
            check.fail(
                f"label_feature should return (label, share), a str and a float, got {got!r:.80}.",
                case=case,
            )
        check.expect_type(got[1], float, case=case, what="the share")
        label, share = key.label(acts, tokens, k, _category)
        if got[0] != label:
            smallest = key.label(-acts, tokens, k, _category)[0]
            check.fail(
                f"the label: expected {label!r}, got {got[0]!r}.",
                case=case,
                hint="your label matches what the k smallest activations give."
                if got[0] == smallest
                else None,
            )
        check.compare(
            torch.tensor(got[1]),
            torch.tensor(share),
            case=case,
            what="the share",
            mistakes={
                "the k smallest activations": torch.tensor(
                    key.label(-acts, tokens, k, _category)[1]
                ),
                "the count instead of the share": torch.tensor(share * k),
                "the share among all tokens instead of the k": torch.tensor(
                    share * k / len(tokens)
                ),
            },
        )
    check.passed("3 cases: label_feature")


# --- Exercise 10.10 -----------------------------------------------------------------------------


def check_ablation_effect(ablation_effect) -> None:
    check = Check("Exercise 10.10 — ablation_effect")
    check.expect_callable(ablation_effect, "ablation_effect")
    for name, seed, layer, frozen_too in [
        ("2 layers, d_model 16", 0, 0, False),
        ("3 layers, d_model 12", 1, 1, True),
        ("2 layers, d_model 16", 5, 1, False),
    ]:
        model, transcoders, tokens, frozen, embed = _setup(name, seed)
        with torch.no_grad():
            _, pres = ref.run_replacement(model, transcoders, frozen, embed)
        features = _features(transcoders, pres)
        start = 2 + seed % 2  # not the first positions, and not the same one in every case
        pos, feature = features[layer][start:].nonzero()[0].tolist()
        pos += start
        target = torch.randn(_CONFIGS[name]["d_vocab"], generator=_gen(seed))
        hooks = tuple(key.frozen_hooks(frozen)) if frozen_too else ()
        case = f"{name}, layer {layer}, position {pos}, feature {feature}" + (
            ", frozen-attention hooks" if frozen_too else ""
        )
        got = check.call(
            ablation_effect,
            model,
            transcoders[layer],
            layer,
            tokens,
            pos,
            feature,
            target,
            hooks,
            case=case,
            what="ablation_effect",
        )
        if any(h.fwd_hooks for h in model.hook_dict.values()):
            model.reset_hooks()
            check.fail(
                "the model still had hooks attached after ablation_effect returned.", case=case
            )
        check.expect_type(got, float, case=case, what="ablation_effect's result")
        expected = key.ablation_effect(
            model, transcoders[layer], layer, tokens, pos, feature, target, hooks
        )
        check.compare(
            torch.tensor(got),
            torch.tensor(expected),
            case=case,
            what="the change of target · logits",
            atol=1e-4,
            mistakes=lambda: {
                "clean minus ablated (the sign flipped)": torch.tensor(-expected),
                "ignoring fwd_hooks": torch.tensor(
                    key.ablation_effect(
                        model, transcoders[layer], layer, tokens, pos, feature, target
                    )
                ),
            },
        )
    check.passed("3 cases: ablation_effect")
