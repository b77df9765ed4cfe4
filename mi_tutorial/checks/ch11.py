"""Self-checks for chapter 11, SAEs at scale.

The trusted answers come from `mi_tutorial.checks._keys.sae_scaling`, written another way
(pairwise comparisons where the chapter sorts, the detach trick where it writes autograd
Functions, a grid and golden-section search where it zooms a grid). The shuffling buffer is
checked by properties: every row out exactly once, whole batches, rows held at any time,
mixing across chunks, and the generator it is given.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mi_tutorial.checks._cases_ch11 import (
    STORE_CASES,
    CountingChunks,
    _gen,
    firing_case,
    frontier_cases,
    power_law_cases,
    tagged_chunks,
)
from mi_tutorial.checks._core import Check
from mi_tutorial.checks._keys import sae_scaling as ref
from mi_tutorial.checks._ste_ch11 import _check_ste, _kernel

# --- Exercise 11.1 ------------------------------------------------------------------------------


def check_shuffled_batches(shuffled_batches) -> None:
    check = Check("Exercise 11.1 — shuffled_batches")
    check.expect_callable(shuffled_batches, "shuffled_batches")
    learner = check.recorded(shuffled_batches)
    for index, (sizes, d, buffer_size, batch_size) in enumerate(STORE_CASES):
        chunks = tagged_chunks(sizes, d, index)
        total = sum(sizes)
        case = f"chunks of {sizes} rows, d {d}, buffer_size {buffer_size}, batch_size {batch_size}"

        def run(chunks, seed, buffer_size=buffer_size, batch_size=batch_size):
            source = CountingChunks(chunks)
            out, held, emitted = [], [], 0
            for batch in learner(source, buffer_size, batch_size, _gen(seed)):
                held.append(source.read - emitted)
                out.append(batch)
                emitted += len(batch) if isinstance(batch, Tensor) else 0
            return out, held, source.passes

        out, held, passes = check.call(run, chunks, 0, case=case, what="shuffled_batches")
        for i, batch in enumerate(out):
            if not isinstance(batch, Tensor) or batch.ndim != 2 or batch.shape[1] != d:
                check.fail(f"batch {i} is not a [rows, {d}] tensor: got {batch!r:.80}.", case=case)
            check.expect_dtype(batch, torch.float32, case=case, what=f"batch {i}")
        sizes_out = [len(b) for b in out]
        if any(s != batch_size for s in sizes_out[:-1]) or not 0 < sizes_out[-1] <= batch_size:
            check.fail(
                f"batch sizes {sizes_out}: every batch but the last must have batch_size = "
                f"{batch_size} rows, and the last 1 to {batch_size}.",
                case=case,
                hint="hand out buffer_size // 2 // batch_size whole batches per refill.",
            )
        rows = torch.cat(out)
        ids = rows[:, 0].long()
        if len(rows) < total or len(set(ids.tolist())) < total:
            check.fail(
                f"{total} rows went in, {len(set(ids.tolist()))} distinct rows came out "
                f"({len(rows)} in all): some rows never came out.",
                case=case,
                hint="when the chunks run out, shuffle what is left in the buffer and yield it too.",
            )
        if len(rows) > total:
            check.fail(
                f"{total} rows went in, {len(rows)} came out: some rows came out twice.",
                case=case,
                hint="keep only the rows you have not yet handed out (buffer = buffer[n_out:]).",
            )
        check.compare(
            rows[ids.argsort()],
            torch.cat(chunks),
            case=case,
            what="the rows handed out (sorted back into stream order)",
        )
        limit = buffer_size + max(sizes)
        if passes != 1 or max(held) > limit:
            read_all_first = passes != 1 or held[0] >= total
            check.fail(
                f"your store held up to {max(held)} rows (read minus handed out) when a batch "
                f"came out; a stream holds at most one buffer plus one chunk ({limit}).",
                case=case,
                hint="read the chunks one at a time in a `for` loop and yield as soon as the "
                "buffer is full: no list(chunks), no collecting everything first."
                if read_all_first
                else "after each chunk, keep refilling while the buffer holds at least "
                "buffer_size rows (a `while`, not an `if`): otherwise the leftover grows with "
                "every chunk.",
            )
        reach, fill = 0, 0
        while fill < buffer_size and reach < len(sizes):
            fill, reach = fill + sizes[reach], reach + 1
        n_out = min(buffer_size // 2 // batch_size * batch_size, total)
        if torch.equal(ids[:n_out], torch.arange(n_out)):
            check.fail(
                f"the first {n_out} rows came out in stream order: nothing was shuffled.",
                case=case,
                hint="buffer = buffer[torch.randperm(len(buffer), generator=generator)].",
            )
        if reach >= 2 and fill >= buffer_size and (reach - 1) not in rows[:n_out, 1].tolist():
            check.fail(
                f"the first {n_out} rows handed out hold no row of chunk {reach - 1}, though "
                f"the buffer held chunks 0 to {reach - 1} when it was first full: the shuffle "
                "does not mix the chunks.",
                case=case,
                hint="shuffle the whole buffer, not each chunk as it arrives.",
            )
        again, _, _ = check.call(run, chunks, 0, case=case, what="shuffled_batches")
        other, _, _ = check.call(run, chunks, 1, case=case, what="shuffled_batches")
        if not torch.equal(torch.cat(again), rows):
            check.fail(
                "two runs with generators seeded alike gave different batches.",
                case=case,
                hint="draw every permutation with generator=generator.",
            )
        if torch.equal(torch.cat(other), rows):
            check.fail(
                "generators seeded 0 and 1 gave the same batches: the shuffle does not use "
                "the generator it is given (the global RNG, which a check restores, or none).",
                case=case,
                hint="torch.randperm(len(buffer), generator=generator).",
            )
    check.passed()


# --- Exercise 11.2 ------------------------------------------------------------------------------


def _loglog(x: Tensor, loss: Tensor) -> Tensor:
    """The curve of a pure power law (no floor) fitted by a line in log-log space."""
    lx, ly = x.double().log(), loss.double().log()
    slope = ((lx - lx.mean()) * (ly - ly.mean())).sum() / ((lx - lx.mean()) ** 2).sum()
    return (ly.mean() + slope * (lx - lx.mean())).exp()


def _coarse(x: Tensor, loss: Tensor) -> Tensor:
    """The curve of the best exponent on a 41-point grid over (0, 4] only (no zooming in)."""
    grid = torch.linspace(1e-3, 4.0, 41).tolist()
    best = min(grid, key=lambda b: ref._best_ac(x.double(), loss.double(), b)[2])
    a, c, _ = ref._best_ac(x.double(), loss.double(), best)
    return ref.power_law_curve(x, a, best, c)


def check_fit_power_law(fit_power_law) -> None:
    check = Check("Exercise 11.2 — fit_power_law")
    check.expect_callable(fit_power_law, "fit_power_law")
    for case, x, loss, exact in power_law_cases():
        got = check.call(fit_power_law, x, loss, case=case, what="fit_power_law")
        check.expect_type(got, tuple, case=case, what="the fit")
        if len(got) != 3:
            check.fail(f"return (a, b, c), three numbers; got {len(got)}.", case=case)
        for name, value in zip("abc", got):
            check.expect_type(value, float, case=case, what=f"{name}")
        a, b, c = got
        ka, kb, kc = ref.fit_power_law(x, loss)
        if ref.rss(x, loss, a, b, c) <= ref.rss(x, loss, ka, kb, kc) * (1 + 1e-9) + 1e-18:
            curve, expected = ref.power_law_curve(x, ka, kb, kc), ref.power_law_curve(x, ka, kb, kc)
        else:
            curve, expected = ref.power_law_curve(x, a, b, c), ref.power_law_curve(x, ka, kb, kc)
        check.compare(
            curve,
            expected,
            case=case,
            what="your fitted curve a x^-b + c at the data's x",
            rtol=1e-4,
            atol=1e-9,
            mistakes=lambda x=x, loss=loss: {
                "a straight line in log-log space (a pure power law, no floor c)": _loglog(x, loss),
                "the best exponent of a coarse grid, not refined": _coarse(x, loss),
            },
            hint="minimise the squared error of the loss itself; for each b solve a and c "
            "exactly (lstsq), and refine b around the best grid point.",
        )
        if exact is not None:
            check.compare(
                torch.tensor([a, b, c], dtype=torch.float64),
                torch.tensor(exact, dtype=torch.float64),
                case=case,
                what="(a, b, c) on data that follow the law exactly",
                rtol=1e-3,
                atol=1e-5,
            )
    check.passed()


# --- Exercise 11.3 ------------------------------------------------------------------------------


def check_pareto_frontier(pareto_frontier) -> None:
    check = Check("Exercise 11.3 — pareto_frontier")
    check.expect_callable(pareto_frontier, "pareto_frontier")
    for case, compute, loss in frontier_cases():
        got = check.call(pareto_frontier, compute, loss, case=case, what="pareto_frontier")
        c, l = compute[:, None], loss[:, None]
        others = ~torch.eye(len(compute), dtype=torch.bool)

        def mistakes(c=c, l=l, others=others):
            return {
                "calling a point dominated by an exact duplicate of itself": ~(
                    (c.T <= c) & (l.T <= l) & others
                ).any(1),
                "dominated only by a point better in both (ties dominate nothing)": ~(
                    (c.T < c) & (l.T < l)
                ).any(1),
                "the reverse: the dominated points": ref.pareto_frontier(
                    c[:, 0], l[:, 0]
                ).logical_not(),
            }

        check.compare(
            got,
            ref.pareto_frontier(compute, loss),
            case=case,
            what="the frontier mask",
            dtype=True,
            mistakes=mistakes,
            hint="a point is off the frontier when another has compute <= and loss <=, with "
            "at least one of them strictly smaller.",
        )
    check.passed()


# --- Exercise 11.4 ------------------------------------------------------------------------------


def check_detection_scores(detection_scores) -> None:
    check = Check("Exercise 11.4 — detection_scores")
    check.expect_callable(detection_scores, "detection_scores")
    for batch, d_sae, p, seed in [(50, 8, 0.2, 0), (300, 30, 0.05, 1), (40, 5, 0.5, 2)]:
        fires, label = firing_case(batch, d_sae, p, seed)
        case = f"{batch} tokens, {d_sae} latents (latent 0 never fires)"
        got = check.call(detection_scores, fires, label, case=case, what="detection_scores")
        check.expect_type(got, tuple, case=case, what="the scores")
        if len(got) != 2:
            check.fail(f"return (precision, recall); got {len(got)} things.", case=case)
        precision, recall = ref.detection_scores(fires, label)
        hits = (fires & label[:, None]).sum(0).float()
        for what, value, expected in (("precision", got[0], precision), ("recall", got[1], recall)):
            check.compare(
                value,
                expected,
                case=case,
                what=what,
                dtype=True,
                mistakes={
                    "swapping precision and recall": recall if what == "precision" else precision,
                    "dividing the hits by the number of tokens": hits / batch,
                },
                hint="precision = hits / (times the latent fires), 0 for a latent that never "
                "fires; recall = hits / (labelled tokens); float32.",
            )
    check.passed()


# --- Exercise 11.5 ------------------------------------------------------------------------------


def check_child_coverage(child_coverage) -> None:
    check = Check("Exercise 11.5 — child_coverage")
    check.expect_callable(child_coverage, "child_coverage")
    for batch, d_sae, n_groups, children, seed in [
        (60, 6, 3, [1, 4], 0),
        (200, 12, 5, [0, 3, 7, 11], 1),
        (30, 4, 4, [2], 2),  # group 3 is empty
    ]:
        g = _gen(20 + seed)
        fires = torch.rand(batch, d_sae, generator=g) < 0.3
        groups = torch.randint(-1, n_groups, (batch,), generator=g)
        if seed == 2:
            groups[groups == 3] = -1
        case = f"{batch} tokens, {n_groups} groups, children {children}"
        got = check.call(
            child_coverage, fires, groups, children, n_groups, case=case, what="child_coverage"
        )
        hits = (
            ref.child_coverage(fires, groups, children, n_groups)
            * torch.stack([(groups == i).sum() for i in range(n_groups)]).float()
        )
        fired = fires[:, children].sum(0).float()[:, None]
        check.compare(
            got,
            ref.child_coverage(fires, groups, children, n_groups),
            case=case,
            what="the coverage [children, n_groups]",
            dtype=True,
            mistakes={
                "dividing by the times the child fires (its precision per group, not coverage)": (
                    hits / fired.clamp_min(1)
                ),
                "dividing by all the concept's tokens, not the group's": hits
                / (groups >= 0).sum().float(),
            },
            hint="entry [i, g]: of the tokens with groups == g, the fraction on which latent "
            "children[i] fires; 0 for an empty group.",
        )
    check.passed()


# --- Exercise 11.6 ------------------------------------------------------------------------------


def _per_row_topk(pre: Tensor, k: int) -> Tensor:
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())


def check_batch_topk(batch_topk) -> None:
    check = Check("Exercise 11.6 — batch_topk")
    check.expect_callable(batch_topk, "batch_topk")
    for batch, d_sae, k, shift, seed in [
        (6, 10, 2, 0.0, 0),
        (16, 40, 5, 0.5, 1),
        (4, 8, 3, -1.5, 2),
    ]:
        pre = (torch.randn(batch, d_sae, generator=_gen(30 + seed)) + shift).requires_grad_()
        case = f"batch {batch}, d_sae {d_sae}, k {k}" + (
            ", mostly negative pre-activations" if shift < 0 else ""
        )
        got = check.call(batch_topk, pre, k, case=case, what="batch_topk")
        expected = ref.batch_topk(pre, k)
        flat = pre.detach().flatten()
        top = flat.topk(k * batch).indices
        no_relu = torch.zeros_like(flat).scatter(0, top, flat[top]).view_as(pre)
        only_k = flat.topk(k).indices
        check.compare(
            got,
            expected,
            case=case,
            what="the BatchTopK code",
            dtype=True,
            mistakes={
                "a TopK per row (k per token, not k x batch over the batch)": _per_row_topk(
                    pre.detach(), k
                ),
                "forgetting the ReLU on the kept values": no_relu,
                "keeping k entries in the whole batch, not k x batch": torch.zeros_like(flat)
                .scatter(0, only_k, flat[only_k].relu())
                .view_as(pre),
            },
            hint="flatten, keep the k * batch largest entries of the whole batch (ReLU'd), zero "
            "the rest, and reshape back.",
        )
        check.compare_gradients(got, expected, wrt={"pre": pre}, case=case, what="the code")
    check.passed()


# --- Exercise 11.7 ------------------------------------------------------------------------------


def check_batchtopk_threshold(batchtopk_threshold) -> None:
    check = Check("Exercise 11.7 — batchtopk_threshold")
    check.expect_callable(batchtopk_threshold, "batchtopk_threshold")
    for n_batches, batch, d_sae, k, seed in [(3, 8, 12, 2, 0), (5, 16, 30, 4, 1), (1, 4, 6, 3, 2)]:
        codes = [
            ref.batch_topk(torch.randn(batch, d_sae, generator=_gen(40 + seed + 10 * i)), k)
            for i in range(n_batches)
        ]
        case = f"{n_batches} batches of {batch} codes, d_sae {d_sae}, k {k}"
        got = check.call(batchtopk_threshold, codes, case=case, what="batchtopk_threshold")
        check.expect_type(got, float, case=case, what="the threshold")
        positive = torch.cat([c[c > 0] for c in codes])
        check.compare(
            torch.tensor(got),
            torch.tensor(ref.batchtopk_threshold(codes)),
            case=case,
            what="the threshold",
            mistakes={
                "the minimum over all entries, zeros included": torch.tensor(0.0),
                "the mean of all the positive activations": positive.mean(),
                "the smallest positive activation of all batches together": positive.min(),
            },
            hint="for each batch, the smallest positive entry; then the mean over batches.",
        )
    check.passed()


JUMP_CASES = [(6, 5, 0.5, 0), (20, 12, 0.1, 1), (9, 3, 1.0, 2)]


def check_jumprelu(jumprelu) -> None:
    check = Check("Exercise 11.8 — jumprelu")
    check.expect_callable(jumprelu, "jumprelu")

    def values(pre, threshold):
        return {
            "a ReLU shifted by the threshold (pre - threshold where it fires)": (
                (pre - threshold) * (pre > threshold)
            ),
            "a plain ReLU (threshold ignored)": pre.relu(),
        }

    def grads(pre, threshold, bandwidth, right, wide, key):
        return {
            "no gradient to the threshold (a plain forward, no estimator)": torch.zeros_like(key),
            "the step's pseudo-derivative -(1/bandwidth) K, without the factor threshold": (
                -right / bandwidth
            ),
            "a kernel twice as wide (|pre - threshold| < bandwidth)": (
                -threshold / bandwidth * wide
            ),
            "the opposite sign": -key,
            "forgetting to multiply by grad_output (the chain rule)": -threshold
            / bandwidth
            * _kernel(pre, threshold, bandwidth).sum(0),
            "the mean over the batch, not the sum": key / pre.shape[0],
        }

    _check_ste(
        check,
        jumprelu,
        "jumprelu",
        JUMP_CASES,
        values,
        grads,
        pre_grad_zero=False,
        grad_hint="in backward, the threshold's gradient is grad_output * -(threshold / bandwidth)"
        " * K((pre - threshold) / bandwidth), K(u) = 1 for -1/2 < u < 1/2, summed over the "
        "batch (dim 0): the chain rule, then one entry per latent.",
    )


def check_step_l0(step_l0) -> None:
    check = Check("Exercise 11.9 — step_l0")
    check.expect_callable(step_l0, "step_l0")

    def values(pre, threshold):
        fires = (pre > threshold).float()
        return {
            "the sum over the whole batch, not the mean per token": fires.sum(),
            "the mean over every entry (a firing fraction, not a count per token)": fires.mean(),
            "counting pre > 0 instead of pre > threshold": (pre > 0).float().sum(-1).mean(),
        }

    def grads(pre, threshold, bandwidth, right, wide, key):
        n = pre.shape[0]
        return {
            "no gradient to the threshold (a plain forward, no estimator)": torch.zeros_like(key),
            "JumpReLU's pseudo-derivative (with the factor threshold)": -threshold
            / bandwidth
            * right
            / n,
            "a kernel twice as wide (|pre - threshold| < bandwidth)": -wide / bandwidth / n,
            "the opposite sign": -key,
            "the sum over the batch, not the mean (no division by the batch size)": key * n,
        }

    _check_ste(
        check,
        step_l0,
        "step_l0",
        JUMP_CASES,
        values,
        grads,
        pre_grad_zero=True,
        grad_hint="per entry, grad_output * -(1 / bandwidth) * K((pre - threshold) / bandwidth),"
        " K(u) = 1 for -1/2 < u < 1/2; then the mean over the batch, as in the forward (let "
        "autograd do it: apply the step per entry, then .sum(-1).mean()).",
    )


# --- Exercise 11.10 -----------------------------------------------------------------------------


def check_absorption_rate(absorption_rate) -> None:
    check = Check("Exercise 11.10 — absorption_rate")
    check.expect_callable(absorption_rate, "absorption_rate")
    for batch, d_sae, general, specific, seed in [
        (80, 6, 0, [2, 3], 0),
        (300, 10, 4, [1, 5, 7, 9], 1),
        (50, 5, 2, [0], 2),
    ]:
        g = _gen(60 + seed)
        label = torch.rand(batch, generator=g) < 0.4
        fires = (torch.rand(batch, d_sae, generator=g) < 0.35) & label[:, None]
        fires |= torch.rand(batch, d_sae, generator=g) < 0.05
        case = f"{batch} tokens, general latent {general}, specific latents {specific}"
        got = check.call(
            absorption_rate, fires, label, general, specific, case=case, what="absorption_rate"
        )
        check.expect_type(got, float, case=case, what="the absorption rate")
        silent, caught = ~fires[:, general], fires[:, specific].any(1)
        n = label.sum().float()
        check.compare(
            torch.tensor(got),
            torch.tensor(ref.absorption_rate(fires, label, general, specific)),
            case=case,
            what="the absorption rate",
            mistakes={
                "dividing by the labelled tokens where the general latent is silent": (
                    (label & silent & caught).sum() / (label & silent).sum()
                ).float(),
                "counting tokens where the general latent fires too": (
                    (label & caught).sum() / n
                ).float(),
                "the fraction where the general latent is silent (absorbed or not)": (
                    (label & silent).sum() / n
                ).float(),
                "dividing by every token, labelled or not": (
                    (label & silent & caught).sum() / batch
                ).float(),
            },
            hint="over the labelled tokens: general silent AND at least one specific latent fires.",
        )
    check.passed()


# --- Exercise 11.11 -----------------------------------------------------------------------------

COST_KEYS = ("parameters", "decoder_bytes", "activation_bytes", "train_flops", "accelerator_hours")


def check_frontier_costs(frontier_costs) -> None:
    check = Check("Exercise 11.11 — frontier_costs")
    check.expect_callable(frontier_costs, "frontier_costs")
    for args in [
        (2**24, 4096, 32, 40e9, 2, 4e14),
        (1024, 128, 16, 1.2e6, 4, 3e10),
        (4096, 768, 64, 1e9, 2, 1e14),
    ]:
        n, d, k, tokens, nbytes, rate = args
        case = f"n {n}, d_model {d}, k {k}, {tokens:.3g} tokens, {nbytes} bytes, {rate:.3g} FLOP/s"
        got = check.call(frontier_costs, *args, case=case, what="frontier_costs")
        check.expect_type(got, dict, case=case, what="the costs")
        if sorted(got) != sorted(COST_KEYS):
            check.fail(
                f"the dict's keys should be {list(COST_KEYS)}, got {sorted(got)}.", case=case
            )
        for key in COST_KEYS:
            check.expect_type(got[key], float, case=case, what=f"costs[{key!r}]")
        expected = ref.frontier_costs(*args)
        flops = expected["train_flops"]
        wrong = {
            "parameters": {"no biases (2 n d only)": 2.0 * n * d, "one matrix only": n * d + n + d},
            "decoder_bytes": {
                "both matrices (encoder and decoder)": 2.0 * n * d * nbytes,
                "a count of numbers, not bytes": float(n * d),
            },
            "activation_bytes": {
                "tokens x bytes, without d_model": tokens * nbytes,
                "float32 whatever bytes_per_value says": tokens * d * 4.0,
            },
            "train_flops": {
                "a dense decoder (6 x 2 d n per token, as for ReLU)": tokens * 12.0 * d * n,
                "the forward pass only (2 d n + 2 d k per token)": tokens
                * (2.0 * d * n + 2.0 * d * k),
            },
            "accelerator_hours": {
                "seconds, not hours": flops / rate,
                "minutes, not hours": flops / rate / 60,
            },
        }
        for key in COST_KEYS:
            check.compare(
                torch.tensor(got[key], dtype=torch.float64),
                torch.tensor(expected[key], dtype=torch.float64),
                case=case,
                what=f"costs[{key!r}]",
                rtol=1e-6,
                mistakes={m: torch.tensor(v, dtype=torch.float64) for m, v in wrong[key].items()},
            )
    check.passed()
