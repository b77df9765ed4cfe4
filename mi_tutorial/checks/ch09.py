"""Self-checks for chapter 09, a world model (a transformer trained on 6x6 Othello games).

The trusted answers come from `mi_tutorial.checks._keys.world_model`, written another way
(maxima instead of gathers, topk row by row, torch.corrcoef, masks multiplied into hooks).
The cases use real positions from the game engine, random probes and activations, and small
random-weight models of the chapter's vocabulary (`_cases_ch09`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mi_tutorial.checks import _cases_ch09 as cases
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import world_model as ref

gen = cases.gen


def _float(check: Check, got, *, case: str, what: str) -> torch.Tensor:
    check.expect_type(got, float, case=case, what=what)
    return torch.tensor(got, dtype=torch.float64)


# --- Exercise 9.1 ------------------------------------------------------------------------------


def check_legal_top1_rate(legal_top1_rate) -> None:
    check = Check("Exercise 9.1 — legal_top1_rate")
    check.expect_callable(legal_top1_rate, "legal_top1_rate")
    for n, seed, peaked in [(6, 0, 0.0), (10, 1, 1.5), (4, 2, 4.0)]:
        logits, legal = cases.logits_and_legal(n, seed, peaked)
        case = f"{n} real games, random logits (+{peaked} on legal squares)"
        got = _float(
            check,
            check.call(legal_top1_rate, logits, legal, case=case, what="legal_top1_rate"),
            case=case,
            what="the rate",
        )
        expected = torch.tensor(ref.legal_top1_rate(logits, legal), dtype=torch.float64)

        def mistakes(logits=logits, legal=legal):
            hits = legal.gather(-1, logits.argmax(-1, keepdim=True))[..., 0].double()
            return {
                "counting the padded positions after the end of a game": hits.mean(),
                "the argmin instead of the argmax": legal.gather(
                    -1, logits.argmin(-1, keepdim=True)
                )[..., 0][legal.any(-1)]
                .double()
                .mean(),
                "the share of squares that are legal (not the model's top-1)": legal.double()
                .sum(-1)[legal.any(-1)]
                .div(36)
                .mean(),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the legal top-1 rate",
            atol=1e-6,
            mistakes=mistakes,
            hint="take logits.argmax(-1), look it up in legal, average over legal.any(-1).",
        )
    check.passed()


# --- Exercise 9.2 ------------------------------------------------------------------------------


def check_board_classes(board_classes) -> None:
    check = Check("Exercise 9.2 — board_classes")
    check.expect_callable(board_classes, "board_classes")
    for n, seed, relative in [(3, 3, False), (3, 3, True), (5, 4, True), (2, 5, False)]:
        batch = cases.games(n, seed)
        case = f"{n} real games, relative={relative}"
        got = check.call(
            board_classes,
            batch.boards,
            batch.players,
            relative,
            case=case,
            what="board_classes",
        )
        expected = ref.board_classes(batch.boards, batch.players, relative)

        def mistakes(batch=batch, relative=relative, expected=expected):
            other = ref.board_classes(batch.boards, batch.players, not relative)
            swapped = torch.where(expected == 1, 2, torch.where(expected == 2, 1, expected))
            return {
                "the other basis (relative swapped)": other,
                "1 and 2 swapped (1 must be black / the player to move)": swapped,
                "the raw board values 1 / -1 / 0 instead of classes": (
                    batch.boards.long() * (batch.players.long()[..., None, None] if relative else 1)
                ).flatten(-2),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the classes",
            dtype=True,
            mistakes=mistakes,
            hint="flatten the last two dims; relative: multiply by the player to move first.",
        )
    check.passed()


# --- Exercise 9.3 ------------------------------------------------------------------------------


def check_probe_loss(probe_loss) -> None:
    check = Check("Exercise 9.3 — probe_loss")
    check.expect_callable(probe_loss, "probe_loss")
    for d, n, s, c, seed in [(8, 20, 5, 3, 0), (6, 12, 36, 3, 1), (4, 9, 7, 2, 2)]:
        W, b, acts, labels = cases.probe_case(d, n, s, c, seed)
        W, b = W.requires_grad_(), b.requires_grad_()
        case = f"random probe, d_model {d}, {n} positions, {s} squares, {c} classes"
        got = check.call(probe_loss, W, b, acts, labels, case=case, what="probe_loss")
        expected = ref.probe_loss(W, b, acts, labels)

        def mistakes(W=W, b=b, acts=acts, labels=labels, c=c):
            logits = ref.probe_logits(W, b, acts).detach()
            ce = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
            no_bias = ref.probe_logits(W, torch.zeros_like(b), acts).detach()
            return {
                "summing over squares instead of averaging": ce.view(len(acts), -1).sum(-1).mean(),
                "leaving out the bias b": F.cross_entropy(no_bias.flatten(0, 1), labels.flatten()),
                "the binary cross-entropy of one-hot labels": F.binary_cross_entropy_with_logits(
                    logits, F.one_hot(labels, c).float()
                ),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the loss",
            dtype=True,
            mistakes=mistakes,
            hint="logits = einsum('nd,dsc->nsc', acts, W) + b; F.cross_entropy over [n*s, c].",
        )
        check.compare_gradients(got, expected, wrt={"W": W, "b": b}, case=case, what="the loss")
    check.passed()


# --- Exercise 9.4 ------------------------------------------------------------------------------


def check_square_accuracy(square_accuracy) -> None:
    check = Check("Exercise 9.4 — square_accuracy")
    check.expect_callable(square_accuracy, "square_accuracy")
    for d, n, s, c, seed in [(6, 36, 36, 3, 4), (8, 5, 5, 3, 3), (4, 30, 7, 2, 5)]:
        W, b, acts, labels = cases.probe_case(d, n, s, c, seed)
        case = f"random probe, d_model {d}, {n} positions, {s} squares, {c} classes"
        got = check.call(square_accuracy, W, b, acts, labels, case=case, what="square_accuracy")
        expected = ref.square_accuracy(W, b, acts, labels)

        def mistakes(W=W, b=b, acts=acts, labels=labels):
            logits = ref.probe_logits(W, b, acts)
            right = logits.argmax(-1) == labels
            return {
                "averaging over squares instead of positions": right.float().mean(1),
                "the argmin instead of the argmax": (logits.argmin(-1) == labels).float().mean(0),
                "leaving out the bias b": (
                    ref.probe_logits(W, torch.zeros_like(b), acts).argmax(-1) == labels
                )
                .float()
                .mean(0),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the accuracy per square",
            dtype=True,
            mistakes=mistakes,
            hint="(logits.argmax(-1) == labels).float().mean(0): one number per square.",
        )
    check.passed()


# --- Exercise 9.5 ------------------------------------------------------------------------------


def check_mlp_probe(MLPProbe) -> None:
    check = Check("Exercise 9.5 — MLPProbe")
    check.expect_class(MLPProbe, nn.Module, "MLPProbe")
    for d, h, s, c, n, seed in [(6, 10, 4, 3, 5, 0), (8, 16, 36, 3, 7, 1), (5, 7, 9, 2, 3, 2)]:
        case = f"MLPProbe({d}, {h}, {s}, {c}) on {n} positions"
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            probe = check.call(
                MLPProbe, d, h, s, c, case=case, what=f"MLPProbe({d}, {h}, {s}, {c})"
            )
        for name, shape in [("hidden", (h, d)), ("out", (s * c, h))]:
            layer = getattr(probe, name, None)
            if not isinstance(layer, nn.Linear) or tuple(layer.weight.shape) != shape:
                check.fail(
                    f"MLPProbe.{name} should be an nn.Linear with weight of shape {shape}; got "
                    f"{type(layer).__name__}"
                    + (
                        f" of shape {tuple(layer.weight.shape)}"
                        if isinstance(layer, nn.Linear)
                        else ""
                    ),
                    case=case,
                    hint="hidden = nn.Linear(d_model, d_hidden); out = nn.Linear(d_hidden, n_square * n_class).",
                )
        acts = torch.randn(n, d, generator=gen(10 + seed))
        got = check.call(probe.forward, acts, case=case, what="MLPProbe.forward")
        with torch.no_grad():
            expected = ref.mlp_probe(probe, acts, s, c)

            def mistakes(probe=probe, acts=acts, s=s, c=c):
                hid, out = probe.hidden, probe.out
                flat = probe.out(F.relu(probe.hidden(acts)))
                return {
                    "no ReLU between the two layers": out(hid(acts)).view(-1, s, c),
                    "reshaping to [n, class, square] and transposing": flat.view(
                        -1, c, s
                    ).transpose(1, 2),
                    "a ReLU on the output logits too": F.relu(flat).view(-1, s, c),
                }

        check.compare(
            got,
            expected,
            case=case,
            what="the probe's logits",
            atol=1e-5,
            dtype=True,
            mistakes=mistakes,
            hint="self.out(F.relu(self.hidden(acts))).view(-1, n_square, n_class).",
        )
    check.passed()


# --- Exercise 9.6 ------------------------------------------------------------------------------


def check_balanced_accuracy(balanced_accuracy) -> None:
    check = Check("Exercise 9.6 — balanced_accuracy")
    check.expect_callable(balanced_accuracy, "balanced_accuracy")
    batch = cases.games(3, 6)
    legal = batch.legal[batch.valid]  # real, rare positives; the centre squares never legal
    rare = torch.zeros(12, 4, dtype=torch.bool)
    rare[0, 0] = rare[3, 1] = rare[5, 1] = True
    rare[:, 3] = True  # all positives: NaN
    for case, targets, seed in [
        ("legal moves of 3 real games (some squares never legal)", legal, 0),
        ("12 x 4 targets: rare positives, one square all positive", rare, 1),
        ("30 x 6 random targets", torch.rand(30, 6, generator=gen(7)) < 0.4, 2),
    ]:
        scores = torch.randn(targets.shape, generator=gen(seed)) + 1.5 * (targets.float() - 0.5)
        got = check.call(balanced_accuracy, scores, targets, case=case, what="balanced_accuracy")
        expected = ref.balanced_accuracy(scores, targets)
        undefined = expected.isnan()
        defined = ~undefined
        if (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and (undefined & ~got.isnan()).any()
        ):
            square = int((undefined & ~got.isnan()).nonzero()[0])
            check.fail(
                f"square {square} has only positives or only negatives, so one of the two rates "
                f"is 0/0 and the balanced accuracy is undefined: expected NaN, got "
                f"{got[square].item():.4g}.",
                case=case,
                hint="return NaN where targets.sum(0) == 0 or (~targets).sum(0) == 0.",
            )

        def mistakes(scores=scores, targets=targets, defined=defined):
            predicted = scores > 0
            t = targets.float()
            wrong = {
                "plain accuracy (not balanced)": (predicted == targets).float().mean(0),
                "the true-positive rate alone": (predicted.float() * t).sum(0) / t.sum(0),
                "predicting yes at scores >= 0.5 (scores are logits: the cut is 0)": ref.balanced_accuracy(
                    scores - 0.5, targets
                ),
            }
            return {mistake: value[defined] for mistake, value in wrong.items()}

        if isinstance(got, torch.Tensor) and got.shape == expected.shape:
            got = got[defined]
        check.compare(
            got,
            expected[defined],
            case=case,
            what="the balanced accuracy per square (where defined)",
            atol=1e-6,
            dtype=True,
            mistakes=mistakes,
            hint="(TPR + TNR) / 2 per square, NaN where a square has no positives or no negatives.",
        )
    check.passed()


# --- Exercise 9.7 ------------------------------------------------------------------------------


def check_edit_vector(edit_vector) -> None:
    check = Check("Exercise 9.7 — edit_vector")
    check.expect_callable(edit_vector, "edit_vector")
    for d, s, square, frm, to, scale, seed in [
        (8, 5, 2, 1, 2, 3.0, 0),
        (6, 36, 30, 2, 1, 0.5, 1),
        (4, 7, 0, 0, 2, 10.0, 2),
    ]:
        W = cases.probe_case(d, 1, s, 3, seed)[0]
        case = f"W [{d}, {s}, 3], square {square}, class {frm} -> {to}, scale {scale}"
        got = check.call(edit_vector, W, square, frm, to, scale, case=case, what="edit_vector")
        expected = ref.edit_vector(W, square, frm, to, scale)
        raw = W[:, square, to] - W[:, square, frm]
        check.compare(
            got,
            expected,
            case=case,
            what="the edit vector",
            atol=1e-5,
            dtype=True,
            mistakes={
                "the direction from to_class to from_class (reversed)": -expected,
                "not normalising the direction": scale * raw,
                "forgetting the scale": raw / raw.norm(),
                "W[:, square, to_class] alone (no difference)": scale
                * F.normalize(W[:, square, to], dim=0),
            },
            hint="scale * d / d.norm() with d = W[:, square, to_class] - W[:, square, from_class].",
        )
    check.passed()


# --- Exercise 9.8 ------------------------------------------------------------------------------


def check_logits_with_edit(logits_with_edit) -> None:
    check = Check("Exercise 9.8 — logits_with_edit")
    check.expect_callable(logits_with_edit, "logits_with_edit")
    for name, hook_name, n, pos, seed in [
        ("2 layers, d_model 16", "blocks.0.hook_resid_post", 3, 9, 0),
        ("3 layers, d_model 12", "blocks.2.hook_resid_pre", 4, 6, 1),
        ("2 layers, d_model 16", "blocks.1.hook_resid_post", 2, 12, 2),
    ]:
        model = cases.model(name)
        d = model.cfg.d_model
        tokens = torch.randint(0, 37, (n, pos), generator=gen(seed))
        vectors = torch.randn(n, d, generator=gen(20 + seed)) * 3
        case = f"random model ({name}), edit at {hook_name}, {n} games of {pos} tokens"
        got = check.call(
            logits_with_edit, model, tokens, hook_name, vectors, case=case, what="logits_with_edit"
        )
        if model.hook_dict[hook_name].fwd_hooks:
            model.reset_hooks()
            check.fail(
                "your hook is still attached to the model after the call.",
                case=case,
                hint="use model.run_with_hooks(...) or `with model.hooks(...)`, which remove it.",
            )
        expected = ref.logits_with_edit(model, tokens, hook_name, vectors)

        def mistakes(model=model, tokens=tokens, hook_name=hook_name, vectors=vectors):
            every = lambda r, hook: r + vectors[:, None, :]
            first = lambda r, hook: (
                r + torch.nn.functional.pad(vectors[:, None, :], (0, 0, 0, r.shape[1] - 1))
            )
            with torch.no_grad():
                return {
                    "adding the vector at every position (not only the last)": model.run_with_hooks(
                        tokens, fwd_hooks=[(hook_name, every)]
                    )[:, -1],
                    "adding the vector at the first position": model.run_with_hooks(
                        tokens, fwd_hooks=[(hook_name, first)]
                    )[:, -1],
                    "no edit at all": model(tokens)[:, -1],
                }

        check.compare(
            got,
            expected,
            case=case,
            what="the last position's logits",
            atol=1e-4,
            mistakes=mistakes,
            hint="in the hook: resid = resid.clone(); resid[:, -1] += vectors; return resid.",
        )
    check.passed()


# --- Exercise 9.9 ------------------------------------------------------------------------------


def check_top_n_errors(top_n_errors) -> None:
    check = Check("Exercise 9.9 — top_n_errors")
    check.expect_callable(top_n_errors, "top_n_errors")
    batch = cases.games(2, 8)
    real = batch.legal[batch.valid]
    for case, legal, peaked, seed in [
        ("legal moves of 2 real games, random logits", real, 0.0, 0),
        ("legal moves of 2 real games, logits favouring them", real, 1.5, 1),
        (
            "8 rows of 10 squares, one row with no legal move",
            torch.rand(8, 10, generator=gen(9)) < 0.3,
            0.5,
            2,
        ),
    ]:
        if legal.shape[1] == 10:
            legal = legal.clone()
            legal[0] = False
        logits = torch.randn(legal.shape, generator=gen(seed)) + peaked * legal.float()
        got = check.call(top_n_errors, logits, legal, case=case, what="top_n_errors")
        expected = ref.top_n_errors(logits, legal)

        def mistakes(logits=logits, legal=legal):
            n = legal.sum(-1)
            order = logits.argsort(-1).argsort(-1)  # ascending ranks
            bottom = order < n[:, None]
            top_rank = logits.argsort(-1, descending=True).argsort(-1) < n[:, None]
            return {
                "the n lowest logits instead of the highest": (bottom & ~legal).sum(-1),
                "counting the legal moves in the top n (hits, not errors)": (top_rank & legal).sum(
                    -1
                ),
                "counting legal moves outside the top n as well": (top_rank ^ legal).sum(-1),
                "the top n + 1 (one square too many)": (
                    (logits.argsort(-1, descending=True).argsort(-1) <= n[:, None]) & ~legal
                ).sum(-1),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the errors per row",
            dtype=True,
            mistakes=mistakes,
            hint="n = legal.sum(-1); take the n largest logits of each row; count the illegal ones.",
        )
    check.passed()


# --- Exercise 9.10 -----------------------------------------------------------------------------


def check_neuron_correlation(neuron_correlation) -> None:
    check = Check("Exercise 9.10 — neuron_correlation")
    check.expect_callable(neuron_correlation, "neuron_correlation")
    g = gen(11)
    feature = (torch.rand(40, generator=g) < 0.3).float()
    related = (
        torch.randn(40, 5, generator=g)
        + torch.tensor([2.0, -1.0, 0.0, 0.5, 0.0]) * feature[:, None]
    )
    related[:, 2] = 1.5  # a constant neuron
    for case, acts, f in [
        ("5 neurons, a binary feature, one neuron constant", related, feature),
        (
            "7 random neurons, a random feature",
            torch.randn(25, 7, generator=g),
            torch.randn(25, generator=g),
        ),
        (
            "3 neurons with large offsets",
            10 + torch.randn(30, 3, generator=g) * 3,
            torch.randn(30, generator=g),
        ),
    ]:
        got = check.call(neuron_correlation, acts, f, case=case, what="neuron_correlation")
        expected = ref.neuron_correlation(acts, f)

        def mistakes(acts=acts, f=f):
            a, ff = acts.double(), f.double()
            cov = ((a - a.mean(0)) * (ff - ff.mean())[:, None]).mean(0)
            cos = (a * ff[:, None]).sum(0) / (a.norm(dim=0) * ff.norm())
            return {
                "the covariance (not divided by the standard deviations)": cov.float(),
                "not centring: the cosine similarity": cos.float(),
            }

        check.compare(
            got,
            expected,
            case=case,
            what="the correlations",
            atol=1e-5,
            dtype=True,
            mistakes=mistakes,
            hint="centre both, divide the dot product by the product of the norms; 0 if constant.",
        )
    check.passed()


# --- Exercise 9.11 -----------------------------------------------------------------------------


def check_logits_with_neuron_set(logits_with_neuron_set) -> None:
    check = Check("Exercise 9.11 — logits_with_neuron_set")
    check.expect_callable(logits_with_neuron_set, "logits_with_neuron_set")
    for name, layer, neuron, value, n, pos, seed in [
        ("2 layers, d_model 16", 0, 5, 0.0, 3, 8, 0),
        ("3 layers, d_model 12", 2, 20, 1.5, 2, 10, 1),
        ("2 layers, d_model 16", 1, 31, -0.5, 4, 5, 2),
    ]:
        model = cases.model(name)
        tokens = torch.randint(0, 37, (n, pos), generator=gen(30 + seed))
        case = f"random model ({name}), layer {layer} neuron {neuron} set to {value}"
        got = check.call(
            logits_with_neuron_set,
            model,
            tokens,
            layer,
            neuron,
            value,
            case=case,
            what="logits_with_neuron_set",
        )
        if any(h.fwd_hooks for h in model.hook_dict.values()):
            model.reset_hooks()
            check.fail(
                "a hook is still attached to the model after the call.",
                case=case,
                hint="use model.run_with_hooks(...), which removes its hooks.",
            )
        expected = ref.logits_with_neuron_set(model, tokens, layer, neuron, value)

        def mistakes(model=model, tokens=tokens, layer=layer, neuron=neuron, value=value):
            def pre(post, hook):
                post = post.clone()
                post[..., neuron] = value
                return post

            with torch.no_grad():
                return {
                    "editing mlp.hook_pre (before the activation), not hook_post": model.run_with_hooks(
                        tokens, fwd_hooks=[(f"blocks.{layer}.mlp.hook_pre", pre)]
                    ),
                    "setting the neuron to 0 instead of value": ref.logits_with_neuron_set(
                        model, tokens, layer, neuron, 0.0
                    ),
                    "no change at all": model(tokens),
                }

        check.compare(
            got,
            expected,
            case=case,
            what="the logits",
            atol=1e-4,
            mistakes=mistakes,
            hint="a hook on f'blocks.{layer}.mlp.hook_post' that writes value into [..., neuron].",
        )
    check.passed()
