"""Self-checks for chapter 07, lenses and probes.

The trusted answers are in `mi_tutorial.checks._keys.lenses` (TransformerLens's
`accumulated_resid`, `logit_readout` and `sparse_probing` where it computes the same thing).
Checks that run a model run on the shipped `tinyworld-lm` and on small random LayerNorm
models with 2 and 3 layers, so that code which hard-codes 4 layers or the shipped model's
width fails. Where a check knows a typical mistake, it computes what that mistake would
output, so a failure can name it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens.utilities import get_act_name

from mi_tutorial import models
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import lenses as reference
from mi_tutorial.checks._probes_ch07 import (  # noqa: F401 - Parts 3-6's checks, re-exported
    check_control_labels,
    check_diff_of_means_probe,
    check_fit_logistic_probe,
    check_obfuscation_loss,
    check_push_last_position,
    check_top_k_latents,
)
from mi_tutorial.data import tinyworld

TOY = "tinyworld-lm"
RANDOM_CONFIG = dict(
    n_layers=2,
    d_model=16,
    n_heads=2,
    d_head=8,
    d_mlp=32,
    d_vocab=tinyworld.D_VOCAB,
    n_ctx=16,
    act_fn="gelu",
    normalization_type="LN",
    seed=0,
)


def _random_model(seed: int, n_layers: int = 2):
    """A small LayerNorm model whose every weight and bias is random (LayerNorm scales around 1)."""
    model = models.boot({**RANDOM_CONFIG, "n_layers": n_layers})
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.tl_parameters().items():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(1 + 0.2 * noise if name.endswith(".w") else 0.5 * noise)
    return model


def _random_tokens(batch: int, pos: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, tinyworld.D_VOCAB, (batch, pos), generator=generator)
    tokens[:, 0] = tinyworld.BOS_ID
    return tokens


# --- Exercise 7.1 ------------------------------------------------------------------------------


def check_residual_stack(residual_stack) -> None:
    check = Check("Exercise 7.1 — residual_stack")
    check.expect_callable(residual_stack, "residual_stack")
    toy = models.load_toy_model(TOY)
    cases = [
        (
            "tinyworld-lm, IOI prompts, each read at its final 'to'",
            toy,
            tinyworld.ioi_prompts(4, seed=7).clean_tokens,
            None,
        ),
        (
            "tinyworld-lm, random tokens, a different position per prompt",
            toy,
            _random_tokens(3, 9, 71),
            torch.tensor([8, 2, 5]),
        ),
        (
            "a random 2-layer model, random tokens",
            _random_model(1),
            _random_tokens(3, 7, 72),
            torch.tensor([0, 6, 3]),
        ),
        (
            "a random 3-layer model, random tokens",
            _random_model(2, n_layers=3),
            _random_tokens(2, 5, 73),
            torch.tensor([4, 1]),
        ),
    ]
    for case, model, tokens, positions in cases:
        positions = (
            torch.full((len(tokens),), tokens.shape[1] - 1) if positions is None else positions
        )
        got = check.call(
            residual_stack,
            model,
            tokens.clone(),
            positions.clone(),
            case=case,
            what="residual_stack",
        )
        expected = reference.residual_stack(model, tokens, positions)
        n_layers = model.cfg.n_layers
        with torch.no_grad():
            _, cache = model.run_with_cache(tokens)
        rows = torch.arange(len(tokens))
        mistakes = {
            "the last position of every prompt instead of `positions`": reference.residual_stack(
                model, tokens, torch.full((len(tokens),), tokens.shape[1] - 1)
            ),
            "resid_post of every layer (each read point one layer too late)": torch.stack(
                [
                    cache[get_act_name("resid_post", layer)][rows, positions]
                    for layer in range(n_layers)
                ]
                + [cache[get_act_name("resid_post", n_layers - 1)][rows, positions]]
            ),
            "resid_mid instead of resid_pre": torch.stack(
                [
                    cache[get_act_name("resid_mid", layer)][rows, positions]
                    for layer in range(n_layers)
                ]
                + [cache[get_act_name("resid_post", n_layers - 1)][rows, positions]]
            ),
        }
        if isinstance(got, torch.Tensor) and got.shape[:1] == (n_layers,):
            check.fail(
                f"the stack has {n_layers} read points, expected n_layers + 1 = {n_layers + 1}.",
                case=case,
                hint="after resid_pre of every layer comes the final resid_post of the last layer.",
            )
        check.compare(
            got, expected, case=case, what="the residual stack", atol=1e-4, mistakes=mistakes
        )
    check.passed(f"{len(cases)} cases, 2-, 3- and 4-layer models")


# --- Exercise 7.2 ------------------------------------------------------------------------------


def check_logit_lens(logit_lens) -> None:
    check = Check("Exercise 7.2 — logit_lens")
    check.expect_callable(logit_lens, "logit_lens")
    toy = models.load_toy_model(TOY)
    generator = torch.Generator().manual_seed(72)
    cases = [
        (
            "tinyworld-lm, vectors [5, 3, 128] of norm about 18",
            toy,
            1.6 * torch.randn(5, 3, 128, generator=generator),
        ),
        (
            "tinyworld-lm, one vector [128], shifted by 5",
            toy,
            5 + torch.randn(128, generator=generator),
        ),
        (
            "a random 2-layer model, vectors [4, 16]",
            _random_model(3),
            3 * torch.randn(4, 16, generator=generator),
        ),
    ]
    for case, model, resid in cases:
        got = check.call(logit_lens, model, resid.clone(), case=case, what="logit_lens")
        expected = reference.logit_lens(model, resid)
        with torch.no_grad():
            logits = model.unembed(model.ln_final(resid))
            mistakes = {
                "reading the stream without ln_final": model.unembed(resid).log_softmax(-1),
                "returning logits instead of log-probabilities": logits,
                "returning probabilities instead of log-probabilities": logits.softmax(-1),
                "W_U without the bias b_U": (model.ln_final(resid) @ model.W_U).log_softmax(-1),
            }
        check.compare(
            got, expected, case=case, what="the log-probabilities", atol=1e-4, mistakes=mistakes
        )
    check.passed(f"{len(cases)} cases, two models, any leading axes")


# --- Exercise 7.3 ------------------------------------------------------------------------------


def check_answer_rank(answer_rank) -> None:
    check = Check("Exercise 7.3 — answer_rank")
    check.expect_callable(answer_rank, "answer_rank")
    generator = torch.Generator().manual_seed(73)
    ties = torch.randint(0, 3, (2, 4, 6), generator=generator).float()  # many ties
    cases = [
        (
            "integer-valued scores with ties (a tie does not push the answer down)",
            ties,
            torch.tensor([0, 5, 2, 2]),
        ),
        (
            "random log-probs [5, 4, 20]",
            torch.randn(5, 4, 20, generator=generator).log_softmax(-1),
            torch.tensor([0, 7, 19, 3]),
        ),
        (
            "random log-probs [2, 3, 9]",
            torch.randn(2, 3, 9, generator=generator).log_softmax(-1),
            torch.tensor([8, 8, 1]),
        ),
    ]
    for case, log_probs, answers in cases:
        got = check.call(
            answer_rank, log_probs.clone(), answers.clone(), case=case, what="answer_rank"
        )
        if isinstance(got, torch.Tensor) and got.dtype != torch.int64:
            check.fail(
                f"the ranks: dtype {got.dtype}, expected torch.int64 (counts of tokens).",
                case=case,
                hint="a comparison's .sum() is int64 already; do not convert to float.",
            )
        expected = reference.answer_rank(log_probs, answers)
        answer = log_probs.gather(-1, answers[None, :, None].expand(len(log_probs), -1, 1))
        mistakes = {
            "counting ties as beating the answer (>=, so the top prediction gets rank 1)": (
                log_probs >= answer
            ).sum(-1),
            "counting the tokens below the answer instead of above": (log_probs < answer).sum(-1),
            "ranks starting at 1": (log_probs > answer).sum(-1) + 1,
        }
        check.compare(got, expected, case=case, what="the ranks", mistakes=mistakes)
    check.passed(f"{len(cases)} cases, with ties")


# --- Exercise 7.4 ------------------------------------------------------------------------------


def check_kl_to_final(kl_to_final) -> None:
    check = Check("Exercise 7.4 — kl_to_final")
    check.expect_callable(kl_to_final, "kl_to_final")
    generator = torch.Generator().manual_seed(74)
    cases = []
    for layers, batch, vocab, scale in [(5, 4, 20, 1.0), (3, 2, 7, 4.0)]:
        final = (scale * torch.randn(batch, vocab, generator=generator)).log_softmax(-1)
        lens = (scale * torch.randn(layers, batch, vocab, generator=generator)).log_softmax(-1)
        cases.append((f"random log-probs, lens {(layers, batch, vocab)}", lens, final))
    final = torch.randn(3, 10, generator=generator).log_softmax(-1)
    lens = torch.stack([torch.randn(3, 10, generator=generator).log_softmax(-1), final])
    cases.append(
        ("the last read point equals the final distribution (its KL must be 0)", lens, final)
    )
    for case, lens, final in cases:
        got = check.call(kl_to_final, lens.clone(), final.clone(), case=case, what="kl_to_final")
        expected = reference.kl_to_final(lens, final)
        p_lens = lens.exp()
        mistakes = {
            "KL(lens || final), the arguments swapped,": (p_lens * (lens - final)).sum(-1).mean(-1),
            "summing over the batch instead of averaging": (final.exp() * (final - lens))
            .sum(-1)
            .sum(-1),
            "the cross-entropy without the final distribution's entropy": -(final.exp() * lens)
            .sum(-1)
            .mean(-1),
        }
        check.compare(
            got, expected, case=case, what="the KL per read point", atol=1e-5, mistakes=mistakes
        )
    check.passed(f"{len(cases)} cases")


# --- Exercise 7.5 ------------------------------------------------------------------------------


def check_tuned_lens_loss(tuned_lens_loss) -> None:
    check = Check("Exercise 7.5 — tuned_lens_loss")
    check.expect_callable(tuned_lens_loss, "tuned_lens_loss")
    toy = models.load_toy_model(TOY)
    small = _random_model(4)
    generator = torch.Generator().manual_seed(75)
    cases = [
        ("tinyworld-lm, a random translator, 6 vectors", toy, 0.05, 6),
        ("a random 2-layer model, a random translator, 3 vectors", small, 0.3, 3),
        ("tinyworld-lm, a zero translator (the tuned lens is the logit lens)", toy, 0.0, 4),
    ]
    for case, model, scale, batch in cases:
        model.requires_grad_(False)
        d = model.cfg.d_model
        weight = scale * torch.randn(d, d, generator=generator)
        bias = scale * torch.randn(d, generator=generator)
        resid = 2 * torch.randn(batch, d, generator=generator)
        final = (2 * torch.randn(batch, model.cfg.d_vocab, generator=generator)).log_softmax(-1)
        with torch.random.fork_rng():  # nn.Linear's initialization draws from the global RNG
            translator = nn.Linear(d, d)
        with torch.no_grad():
            translator.weight.copy_(weight), translator.bias.copy_(bias)
        got = check.expect_number(
            check.call(
                tuned_lens_loss,
                model,
                translator,
                resid.clone(),
                final.clone(),
                case=case,
                what="tuned_lens_loss",
            ),
            case=case,
            what="tuned_lens_loss's result",
            hint="average the KL over the batch: the loss is one number.",
        )
        key_weight, key_bias = (
            weight.clone().requires_grad_(True),
            bias.clone().requires_grad_(True),
        )
        expected = reference.tuned_lens_loss(model, key_weight, key_bias, resid, final)
        with torch.no_grad():

            def kl(lens):
                return (final.exp() * (final - lens)).sum(-1).mean()

            ln = model.ln_final
            mistakes = {
                "reading translator(resid) without adding resid": kl(
                    model.unembed(ln(F.linear(resid, weight, bias))).log_softmax(-1)
                ),
                "KL(lens || final), the arguments swapped,": F.kl_div(
                    final,
                    model.unembed(ln(resid + F.linear(resid, weight, bias))).log_softmax(-1),
                    log_target=True,
                    reduction="batchmean",
                ),
                "leaving out ln_final": kl(
                    model.unembed(resid + F.linear(resid, weight, bias)).log_softmax(-1)
                ),
            }
        check.compare(
            got, expected.detach(), case=case, what="the loss", atol=1e-4, mistakes=mistakes
        )
        raw = check.call(
            tuned_lens_loss,
            model,
            translator,
            resid.clone(),
            final.clone(),
            case=case,
            what="tuned_lens_loss",
        )
        if not (isinstance(raw, torch.Tensor) and raw.requires_grad):
            check.fail(
                "the loss carries no gradient to the translator: keep it a tensor "
                "(no .item(), no torch.no_grad()).",
                case=case,
            )
        raw.backward()
        expected.backward()
        if translator.weight.grad is None:
            check.fail(
                "no gradient reached translator.weight: use the translator itself, "
                "not a copy of its weights.",
                case=case,
            )
        check.compare(
            translator.weight.grad,
            key_weight.grad,
            case=case,
            what="the gradient w.r.t. translator.weight",
            atol=1e-4,
        )
        check.compare(
            translator.bias.grad,
            key_bias.grad,
            case=case,
            what="the gradient w.r.t. translator.bias",
            atol=1e-4,
        )
    check.passed(f"{len(cases)} cases, values and gradients")
