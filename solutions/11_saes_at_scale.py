# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 11 — SAEs at scale: scaling laws, new architectures, and the cost of a frontier SAE
#
# Chapter 05 trained one SAE of 512 latents. The field's SAEs have millions: Templeton et
# al. (2024), *Scaling Monosemanticity*, trained up to 34M latents on Claude 3 Sonnet, and
# Gao et al. (2024), *Scaling and evaluating sparse autoencoders*, 16M on GPT-4. At that
# scale new questions matter. How much better does a dictionary get with more latents, or
# a larger k — is there a law? What happens to the features when the dictionary grows
# (they *split*)? Which architecture should you use: BatchTopK (Bussmann, Leask & Nanda,
# 2024), JumpReLU (Rajamanoharan et al., 2024), Matryoshka (Bussmann et al. 2025; Nabeshima
# 2025)? Does a general feature go silent where a specific one takes over (*absorption*,
# Chanin et al., 2024)? And what does a frontier SAE cost?
#
# You will answer each question with measurements on `tinyworld-lm`, where the generator
# tells us what the features are. Most SAEs here were trained by the course's recipe
# (`python -m mi_tutorial.course.recipes.sae_sweep`, about 22 CPU-minutes) and shipped as
# a table of measurements; the notebook retrains a few of them live and asserts that they
# agree. Every number below is measured in this notebook or read from that table.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - write an activation store that streams activations through a shuffling buffer, and
#   measure what it saves against caching;
# - fit loss = a·n^(−b) + c to an SAE sweep, read the exponent and the floor, and find the
#   compute frontier;
# - follow one concept across dictionary widths and score its children with ground truth;
# - write BatchTopK and JumpReLU (with its straight-through estimator), and compare five
#   architectures on one L0 / explained-variance frontier;
# - measure feature absorption, per architecture;
# - cost a 16M-latent SAE on a d_model 4,096 model from your own measurements.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong.
#
# **Shapes.** `batch` counts activation vectors (tokens), `d` or `d_model` is their width
# (128 here), `d_sae` (or n) the number of latents, `k` the active latents per token.

# %%
import math
import time
from collections.abc import Iterable, Iterator

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from mi_tutorial import checks, models, plotting, sae as sae_lib, train
from mi_tutorial.course.recipes import sae_sweep as recipe
from mi_tutorial.data import tinyworld

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)

# %% [markdown]
# ## Part 1 — An activation store
#
# Chapter 05 *cached* its activations: run the model once over the text, keep every vector
# in memory, and train the SAE on the cache for as many passes as it likes. At scale that
# cannot work. Gao et al.'s 16M-latent SAE saw 40 billion tokens of a model with d_model in
# the thousands: at 2 bytes a number that is hundreds of terabytes (Part 6 computes it).
# SAELens's `ActivationsStore` *streams* instead: it runs the model on a few batches of
# text, puts their activations in a buffer, shuffles the buffer, hands out half of it as
# training batches, refills, and so on. The SAE sees each vector once, memory stays at one
# buffer, and the price is a forward pass of the model for every training token.
#
# Why shuffle? Consecutive activations come from the same sequence: the same topic, the
# same names. A batch of them is a biased sample, and the SAE would chase each document in
# turn. A buffer of many sequences, shuffled, gives batches that look like the whole
# distribution.

# %% [markdown]
# ### Exercise 11.1 — A shuffling buffer
# Difficulty 3/5 · Importance 4/5 · ~20 minutes
#
# Write a generator that reads activation chunks (each [rows, d], any number of rows) from
# the iterable `chunks` and yields training batches:
#
# - append each chunk's rows to a buffer;
# - after each chunk, as long as the buffer holds at least `buffer_size` rows (a `while`,
#   not an `if`: one chunk can fill it more than once), shuffle it with
#   `torch.randperm(len(buffer), generator=generator)`, yield `buffer_size // 2 //
#   batch_size` batches of `batch_size` rows from its front, and keep the rest;
# - when `chunks` runs out, shuffle what is left and yield it in batches of `batch_size`
#   (the last one may be smaller).
#
# You may assume `batch_size <= buffer_size // 2`. Every row comes out exactly once. Read
# the chunks lazily (a `for` loop over `chunks`, no `list(chunks)`): the check counts how
# many rows you hold at any time, and it must stay within one buffer plus one chunk. Don't
# change the chunks in place.


# %%
def shuffled_batches(
    chunks: Iterable[Float[Tensor, "rows d"]],
    buffer_size: int,
    batch_size: int,
    generator: torch.Generator,
) -> Iterator[Float[Tensor, "batch d"]]:
    """Batches of rows from `chunks`, shuffled through a buffer of `buffer_size` rows."""
    ### BEGIN SOLUTION
    buffer = None
    n_out = buffer_size // 2 // batch_size * batch_size  # rows handed out per refill
    for chunk in chunks:
        buffer = chunk if buffer is None else torch.cat([buffer, chunk])
        while len(buffer) >= buffer_size:
            buffer = buffer[torch.randperm(len(buffer), generator=generator)]
            yield from buffer[:n_out].split(batch_size)
            buffer = buffer[n_out:]
    if buffer is not None and len(buffer):
        yield from buffer[torch.randperm(len(buffer), generator=generator)].split(batch_size)
    ### END SOLUTION


checks.ch11.check_shuffled_batches(shuffled_batches)

# %% [markdown]
# ### Caching against streaming, measured
#
# The cache first: the recipe's training text is 2,048 sequences of 64 tokens; we keep the
# residual stream at `blocks.2.hook_resid_pre` (chapter 05's site) of positions 1 to 63.
# We time the forward passes (CPU time, one thread) and count the bytes.

# %%
model = models.load_toy_model(recipe.MODEL)
train_corpus, test_corpus = recipe.corpora()
cpu = time.process_time()
train_acts = recipe.residuals(model, train_corpus.tokens)  # [129024 d_model]
cache_cpu = time.process_time() - cpu
test_acts = recipe.residuals(model, test_corpus.tokens)  # [16128 d_model], held out
D_MODEL = train_acts.shape[1]
cache_bytes = train_acts.numel() * train_acts.element_size()
forward_rate = len(train_acts) / cache_cpu
print(
    f"cache: {len(train_acts):,} vectors x {D_MODEL} float32 = {cache_bytes / 2**20:.1f} MiB, "
    f"made in {cache_cpu:.1f} CPU-s ({forward_rate:,.0f} tokens/s of forward pass)"
)

# %% [markdown]
# Now stream: the model runs on 64 sequences at a time (4,032 vectors a chunk), your buffer
# holds 16,384 rows, and a TopK SAE (1,024 latents, k = 16) takes one Adam step per batch
# of 4,096. We count the rows the store holds after each chunk it reads, and time the whole
# loop — forward passes included — against the same number of steps on the cache.

# %%
STREAM_SEQS, SEQS_PER_CHUNK, BUFFER, BATCH = 512, 64, 16384, 4096


store = {"read": 0, "emitted": 0, "peak": 0}  # rows the store has read, handed out, held at most


def stream_chunks(tokens: Int[Tensor, "batch pos"]):
    """The residual stream of `tokens`, SEQS_PER_CHUNK sequences at a time; counts the rows the
    store holds (read minus handed out) each time it reads a chunk."""
    for part in tokens.split(SEQS_PER_CHUNK):
        chunk = recipe.residuals(model, part)
        store["read"] += len(chunk)
        store["peak"] = max(store["peak"], store["read"] - store["emitted"])
        yield chunk


def sae_steps(batches) -> tuple[float, int]:
    """Train a fresh TopK SAE one Adam step per batch; (CPU seconds, tokens)."""
    sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=D_MODEL, d_sae=1024, architecture="topk", k=16))
    optimizer = torch.optim.Adam(sae.parameters(), lr=4e-3)
    cpu, tokens = time.process_time(), 0
    for x in batches:
        loss = (sae(x) - x).pow(2).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sae.normalize_decoder()
        tokens += len(x)
        store["emitted"] += len(x)
    return time.process_time() - cpu, tokens


stream_tokens = train_corpus.tokens[:STREAM_SEQS]
batches = shuffled_batches(stream_chunks(stream_tokens), BUFFER, BATCH, torch.Generator().manual_seed(0))
stream_cpu, streamed = sae_steps(batches)
n_steps = -(-streamed // BATCH)
peak_rows = store["peak"]
order = torch.randperm(len(train_acts), generator=torch.Generator().manual_seed(0))
cached_cpu, _ = sae_steps(train_acts[order[: n_steps * BATCH]].split(BATCH))
print(
    f"streaming: {streamed:,} tokens in {n_steps} steps, {stream_cpu:.1f} CPU-s "
    f"({streamed / stream_cpu:,.0f} tokens/s), at most {peak_rows:,} rows held "
    f"({peak_rows * D_MODEL * 4 / 2**20:.1f} MiB)"
)
print(
    f"cached:    {n_steps * BATCH:,} tokens in {cached_cpu:.1f} CPU-s "
    f"({n_steps * BATCH / cached_cpu:,.0f} tokens/s), {cache_bytes / 2**20:.1f} MiB held"
)
assert BUFFER <= peak_rows <= BUFFER + SEQS_PER_CHUNK * 63, "one buffer + one chunk at most"
assert cache_bytes > 5 * peak_rows * D_MODEL * 4, "streaming should need far less memory"
assert stream_cpu > 1.3 * cached_cpu, "streaming pays a forward pass per token"
sae_rate = n_steps * BATCH / cached_cpu
assert 1 / 3 < forward_rate / sae_rate < 3, "a forward pass costs about as much as an SAE step"

# %% [markdown]
# The trade is as expected, and it is lopsided in both directions. Streaming held a fixed
# buffer — about 20,000 rows whatever the length of the run — while the cache grows with
# every token (here already more than five times the buffer, for a run of just 129,024
# vectors). Streaming is slower per token, because every training token costs a forward
# pass of the model, which for `tinyworld-lm` costs about as much as the SAE step itself
# (the printed rates; which of the two is faster changes from run to run on a busy
# machine). Streaming is what makes large runs possible at all, so SAELens streams; people
# cache when the data fits. Here it does, so the rest of the chapter trains on the cache.
#
# ## Part 2 — Scaling laws
#
# The recipe trained TopK SAEs (k = 16) of 256 to 8,192 latents, and 1,024-latent SAEs with
# k from 4 to 64, each for 300 steps of 4,096 vectors (1.2M tokens, about nine passes over
# the cache), and measured each on the held-out text. The loss is Gao et al.'s *normalized
# MSE*: the squared error divided by that of always predicting the mean vector, i.e.
# 1 − explained variance.
#
# First, two of the table's rows retrained here, with the recipe's own function: they must
# agree with the shipped table (the recipe is deterministic; the tolerance covers a
# library change of summation order since it ran).

# %%
sweep = recipe.load_sweep()
print(
    f"the sweep: {len(sweep['rows'])} SAEs, {sweep['cpu_seconds'] / 60:.1f} CPU-minutes "
    f"(one thread), {sweep['command']}"
)
for width, steps in recipe.LIVE:
    row = recipe.spec("topk", width, steps, k=recipe.K)
    live_sae, live_run = recipe.train_row(row, train_acts)
    live = recipe.measure(live_sae, test_acts)
    shipped = recipe.find_row(sweep, **row)
    print(
        f"{width} latents, {steps} steps: live nmse {live['nmse']:.4f} "
        f"({live_run.cpu_seconds:.1f} CPU-s), table {shipped['nmse']:.4f}"
    )
    assert math.isclose(live["nmse"], shipped["nmse"], rel_tol=recipe.LIVE_TOLERANCE)
    assert live["l0"] == shipped["l0"] == recipe.K

# %%
widths = [r for r in sweep["rows"] if r["architecture"] == "topk" and r["k"] == recipe.K
          and r["steps"] == recipe.STEPS]
widths.sort(key=lambda r: r["d_sae"])
ks = [r for r in sweep["rows"] if r["architecture"] == "topk" and r["d_sae"] == recipe.K_WIDTH
      and r["steps"] == recipe.STEPS]
ks.sort(key=lambda r: r["k"])
for r in widths:
    print(f"n {r['d_sae']:5d}: nmse {r['nmse']:.4f}, dead {r['dead_fraction']:.1%}")
for r in ks:
    print(f"k {r['k']:5d}: nmse {r['nmse']:.4f}")
fig = plotting.line(
    {"k = 16": [r["nmse"] for r in widths]},
    x=[r["d_sae"] for r in widths],
    title="Held-out normalized MSE against the number of latents (TopK, k = 16)",
    xlabel="latents n",
    ylabel="normalized MSE",
    log_y=True,
    show=False,
)
fig.update_xaxes(type="log")
plotting.show(fig)

# %% [markdown]
# ### Exercise 11.2 — Fit a power law with a floor
# Difficulty 3/5 · Importance 5/5 · ~20 minutes
#
# Scaling laws are usually written loss = a·n^(−b) + c: a power law that decays towards an
# *irreducible* loss c. Fit `a`, `b`, `c` by least squares on the loss itself (minimise
# Σ (a·xᵢ^(−b) + c − lossᵢ)²), with 0 < b ≤ 4. A hint: for a fixed b the model is linear in
# a and c, so `torch.linalg.lstsq` solves them exactly; search over b (a grid, then a finer
# one around the best). Return three Python floats. Work in float64.


# %%
def fit_power_law(
    x: Float[Tensor, " n"], loss: Float[Tensor, " n"]
) -> tuple[float, float, float]:
    """Least-squares (a, b, c) of loss ~ a * x**-b + c, with 0 < b <= 4."""
    ### BEGIN SOLUTION
    x, loss = x.double(), loss.double()

    def solve(b: float) -> tuple[float, float, float]:
        design = torch.stack([x.pow(-b), torch.ones_like(x)], dim=1)  # [n 2]
        (a, c) = torch.linalg.lstsq(design, loss[:, None]).solution[:, 0].tolist()
        return a, c, ((design @ torch.tensor([a, c], dtype=torch.float64) - loss) ** 2).sum().item()

    lo, hi = 1e-3, 4.0
    for _ in range(6):  # each round: 41 exponents between lo and hi, then zoom in on the best
        grid = torch.linspace(lo, hi, 41, dtype=torch.float64).tolist()
        best = min(range(41), key=lambda i: solve(grid[i])[2])
        lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, 40)]
    b = grid[best]
    a, c, _ = solve(b)
    return a, b, c
    ### END SOLUTION


checks.ch11.check_fit_power_law(fit_power_law)

# %% [markdown]
# Now fit the width sweep and the k sweep:

# %%
n_fit = fit_power_law(torch.tensor([float(r["d_sae"]) for r in widths]),
                      torch.tensor([r["nmse"] for r in widths]))
k_fit = fit_power_law(torch.tensor([float(r["k"]) for r in ks]), torch.tensor([r["nmse"] for r in ks]))
for name, (a, b, c), rows_ in (("n", n_fit, widths), ("k", k_fit, ks)):
    x = "d_sae" if name == "n" else "k"
    worst = max(abs(a * r[x] ** -b + c - r["nmse"]) / r["nmse"] for r in rows_)
    print(f"loss = {a:.3g} {name}^-{b:.3f} {c:+.4f}   (worst relative misfit {worst:.1%})")
    assert worst < 0.05, "the law should fit every point of its sweep within 5%"
b_n, c_n = n_fit[1], n_fit[2]
b_k = k_fit[1]
print(f"floor c = {c_n:.4f}: {c_n / widths[-1]['nmse']:.0%} of the widest SAE's loss")
assert 0 < c_n < widths[-1]["nmse"] and b_n > 0 and b_k > 0
assert c_n > 0.8 * widths[-1]["nmse"], "at this budget the floor is most of the widest's loss"
assert k_fit[2] < 0.5 * c_n, "the k law's floor is far below the width law's"
assert abs(k_fit[2]) < 0.5 * ks[-1]["nmse"], "the k law's floor is about zero"
dead = [r["dead_fraction"] for r in widths]
assert dead == sorted(dead) and dead[-1] > 0.5, "dead latents grow with width"

# %% [markdown]
# The width law fits every point within a few per cent, and so does the k law. But read
# the parameters: the floor c is most of the widest SAE's loss — going from 256 to 8,192
# latents buys less and less, and most of the 8,192 latents never fire on held-out text
# (the dead fractions above grow steadily with width). The k law, by contrast, has no
# floor to speak of (its fitted c is about zero, even slightly negative): more active
# latents per token keep paying. How do the exponents
# compare with Gao et al.'s? On GPT-4 and GPT-2 small they fit the loss *at convergence*
# (each SAE trained long enough that more tokens would not help), jointly in n and k —
# L(n, k) = exp(α + β_k log k + β_n log n + γ log k log n) + exp(ζ + η log k), a power law in
# each with an interaction, plus an irreducible term that depends on k — and they report the
# fit holding over orders of magnitude of n. Look up their fitted values beside ours (their
# paper's scaling-law section); three reasons our numbers are not theirs, and should not be:
#
# - **Not at convergence.** Every SAE here saw the same 1.2M tokens. A wider SAE needs more
#   tokens to converge (Gao et al. find the tokens to convergence grow with n), so at a fixed
#   budget the wide ones are undertrained: that flattens the curve at large n, pushes the
#   floor c up, and makes b here a *fixed-budget* exponent. The dead fractions in the table
#   (growing with width) are part of the same story.
# - **A tiny world.** TinyWorld has a vocabulary of 324 words and a few dozen templates: the
#   number of things worth a latent is small, so the loss approaches a floor sooner than on
#   web text, where new, rarer features keep paying for more latents.
# - **A small residual stream.** d_model 128: 8,192 latents is 64 times the width, while a
#   16M-latent SAE on GPT-4 is ~4,000 times the width of a much richer space.
#
# The lesson to keep is the *form*: a power law plus a floor describes both sweeps well, and
# that is what lets people extrapolate before they spend the compute (Part 6 does).

# %% [markdown]
# ### Exercise 11.3 — The compute frontier
# Difficulty 2/5 · Importance 4/5 · ~15 minutes
#
# Which SAE should you train for a given compute budget? Put every point of every training
# curve on one plot, loss against training FLOPs, and keep the points nobody beats: the
# **frontier**. A point is *dominated* when another point has compute ≤ and loss ≤ its own,
# with at least one of the two strictly smaller; the frontier is the points that are not
# dominated (two identical points are both on it). Return a boolean mask.


# %%
def pareto_frontier(compute: Float[Tensor, " n"], loss: Float[Tensor, " n"]) -> Bool[Tensor, " n"]:
    """True for the points that no other point dominates."""
    ### BEGIN SOLUTION
    order = sorted(range(len(compute)), key=lambda i: (compute[i].item(), loss[i].item()))
    keep = torch.zeros(len(compute), dtype=torch.bool)
    best, previous = float("inf"), None
    for i in order:
        point = (compute[i].item(), loss[i].item())
        if point[1] < best or point == previous:  # better than all cheaper points, or a twin
            keep[i] = True
            best = min(best, point[1])
        previous = point if keep[i] else previous
    return keep
    ### END SOLUTION


checks.ch11.check_pareto_frontier(pareto_frontier)

# %%
points = [
    (r["d_sae"], r["flops_per_token"] * recipe.BATCH * (step + 1), nmse)
    for r in widths
    for step, nmse in zip(r["curve_step"], r["curve_nmse"])
    if step > 0
]
mask = pareto_frontier(torch.tensor([p[1] for p in points], dtype=torch.float64),
                       torch.tensor([p[2] for p in points]))
frontier = sorted((p for p, m in zip(points, mask) if m), key=lambda p: p[1])
fig = plotting.line(
    {f"n {r['d_sae']}": [nmse for s, nmse in zip(r["curve_step"], r["curve_nmse"]) if s > 0]
     for r in widths},
    show=False, title="Training curves against compute: the frontier is their lower envelope",
    xlabel="training FLOPs", ylabel="normalized MSE (training batches)", log_y=True,
)
fig.update_xaxes(type="log")
for trace, r in zip(fig.data, widths):
    trace.x = [r["flops_per_token"] * recipe.BATCH * (s + 1) for s in r["curve_step"] if s > 0]
plotting.show(fig)
on_frontier = [n for n, _, _ in frontier]
print("width on the frontier, from the smallest budget to the largest:", on_frontier)
firsts = list(dict.fromkeys(on_frontier))  # each width, where it first joins the frontier
print("the order in which they join it:", firsts)
assert on_frontier[0] == widths[0]["d_sae"] and on_frontier[-1] == widths[-1]["d_sae"]
assert firsts == sorted(firsts), "each wider SAE joins the frontier at a larger budget"

# %% [markdown]
# At the smallest budgets the smallest SAE is on the frontier, and as the budget grows the
# frontier passes to wider ones, each joining it at a larger budget than the one before
# (with a short back-and-forth between the two narrowest at the start, while their curves
# cross): the compute-optimal width grows with compute, the pattern
# Templeton et al. and Gao et al. describe (they go on to fit how fast; with six widths and
# one token budget we can only see the direction).
#
# ## Part 3 — Feature splitting
#
# Templeton et al. followed one concept through SAEs of 1M, 4M and 34M latents: a single
# "San Francisco" latent in the small SAE became several in the larger ones, each covering
# part of what the parent covered. TinyWorld has its own Golden Gate bridge, and the
# generator labels every token of a bridge-topic segment. The recipe shipped TopK SAEs of
# 256, 1,024 and 4,096 latents (k = 16); read their latents on the held-out text.

# %%
saes = recipe.load_saes()
test_tokens = test_corpus.tokens[:, 1:].reshape(-1)  # the token of each row of test_acts
bridge = test_corpus.topics[:, 1:].reshape(-1) == tinyworld.TOPIC_NAMES.index("bridge")
BRIDGE_WORDS = sorted(w for w, t in tinyworld.topic_of_word().items() if t == "bridge")
word_group = {tinyworld.TOKEN_ID[w]: i for i, w in enumerate(BRIDGE_WORDS)}
GROUP_NAMES = [*BRIDGE_WORDS, "(frame words)"]  # the topic's own words, then "the", "was", ...
groups = torch.tensor(
    [word_group.get(t, len(BRIDGE_WORDS)) if b else -1 for t, b in zip(test_tokens.tolist(), bridge.tolist())]
)
with torch.no_grad():
    fires = {width: saes[f"width-{width}"].encode(test_acts) > 0 for width in recipe.SHIPPED_WIDTHS}
print(f"{bridge.sum().item()} bridge-topic tokens of {len(bridge)}; the topic's words: {', '.join(BRIDGE_WORDS)}")

# %% [markdown]
# ### Exercise 11.4 — A latent as a detector, for every latent at once
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Chapter 05 scored one latent against a label. Score all of them: for each latent,
# precision = P(label | fires) and recall = P(fires | label). Return `(precision, recall)`,
# two float32 tensors of shape [d_sae]; a latent that never fires has precision 0.


# %%
def detection_scores(
    fires: Bool[Tensor, "batch d_sae"], label: Bool[Tensor, " batch"]
) -> tuple[Float[Tensor, " d_sae"], Float[Tensor, " d_sae"]]:
    """Per latent, (precision, recall) of `fires` as a detector of `label`."""
    ### BEGIN SOLUTION
    hits = (fires & label[:, None]).sum(0).float()  # [d_sae]
    n_fires = fires.sum(0).float()
    precision = torch.where(n_fires > 0, hits / n_fires.clamp_min(1), 0.0)
    recall = hits / label.sum().clamp_min(1).float()
    return precision, recall
    ### END SOLUTION


checks.ch11.check_detection_scores(detection_scores)

# %%
MIN_PRECISION = 0.5  # a "bridge latent": at least half its firings are on the bridge topic
children, best_recall, best_precision, union = {}, {}, {}, {}
for width, f in fires.items():
    precision, recall = detection_scores(f, bridge)
    mine = (precision >= MIN_PRECISION).nonzero().squeeze(1)
    children[width] = mine[recall[mine].argsort(descending=True)].tolist()
    union[width] = (f[:, children[width]].any(1) & bridge).sum().item() / bridge.sum().item()
    best = children[width][0]
    best_recall[width] = recall[best].item()
    best_precision[width] = precision[best].item()
    print(
        f"{width:5d} latents: {len(children[width]):2d} bridge latents; the best covers "
        f"{recall[best]:.0%} of the topic's tokens (precision {precision[best]:.0%}); together "
        f"they cover {union[width]:.0%}"
    )
narrow, wide = recipe.SHIPPED_WIDTHS[0], recipe.SHIPPED_WIDTHS[-1]
assert best_precision[narrow] < 0.7, "the parent is a loose detector"
assert len(children[narrow]) <= 2 and best_recall[narrow] > 0.7, "one latent holds the topic"
assert len(children[wide]) >= 10 * len(children[narrow]) and best_recall[wide] < 0.5
assert all(union[w] > union[narrow] - 0.05 for w in union), "together, as much as the parent"

# %% [markdown]
# The concept splits. At 256 latents one latent fires on most of the bridge topic's
# tokens, and it is a loose detector (about half its firings are elsewhere: a "topic
# segment" latent more than a bridge one). At 1,024 and 4,096 latents no latent covers more
# than about a third of the topic, but dozens of latents are mostly-bridge, and together
# they cover about as much of it as the parent did. What does each child cover?

# %% [markdown]
# ### Exercise 11.5 — What each child covers
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# To see *how* the concept split, break its tokens into groups — here each of the topic's
# own words (`fog`, `cables`, `Golden`, ...) is a group, and the frame words of its sentences
# (`the`, `was`, `.`) one more — and ask, for each child latent, which groups it covers.
# `groups[t]` is token t's group (0 to n_groups − 1), or −1 outside the concept. Return
# `coverage` [len(children), n_groups], float32: `coverage[i, g]` = the fraction of group g's
# tokens on which latent `children[i]` fires (0 for an empty group).


# %%
def child_coverage(
    fires: Bool[Tensor, "batch d_sae"], groups: Int[Tensor, " batch"], children: list[int], n_groups: int
) -> Float[Tensor, "children n_groups"]:
    """coverage[i, g]: the fraction of the tokens of group g on which latent children[i] fires."""
    ### BEGIN SOLUTION
    coverage = torch.zeros(len(children), n_groups)
    for g in range(n_groups):
        members = groups == g
        if members.any():
            coverage[:, g] = fires[members][:, children].float().mean(0)
    return coverage
    ### END SOLUTION


checks.ch11.check_child_coverage(child_coverage)

# %%
def describe(width: int, n: int = 6) -> list[tuple[int, list[str]]]:
    """The first n children of `width` and the groups each covers best (more than 30%)."""
    coverage = child_coverage(fires[width], groups, children[width][:n], len(GROUP_NAMES))
    out = []
    for latent, row in zip(children[width][:n], coverage):
        top = [f"{GROUP_NAMES[g]} {row[g]:.0%}" for g in row.argsort(descending=True)[:3] if row[g] > 0.3]
        out.append((latent, top))
        print(f"  latent {latent:4d}: {', '.join(top) or '(no group over 30%)'}")
    return out


described = {}
for width in recipe.SHIPPED_WIDTHS:
    print(f"{width} latents:")
    described[width] = describe(width)
tops = {top[0].split()[0] for _, top in described[wide] if top}
print(f"the {len(described[wide])} largest children at {wide} latents lead with {len(tops)} different groups")
assert len(tops) >= 3, "the children should divide the topic between them"
parent = child_coverage(fires[narrow], groups, children[narrow][:1], len(GROUP_NAMES))[0]
print(f"the parent at {narrow} latents fires on {parent.min():.0%} to {parent.max():.0%} of each group")
assert parent.min() > 0.7, "the parent covers every group"
VERBS = {"covered", "crossed", "faced", "hid", "over", "rose"}
middle = [{t.split()[0] for t in top} for _, top in described[recipe.SHIPPED_WIDTHS[1]]]
assert sum(bool(t) and t <= VERBS for t in middle) >= 2, "two children of the verbs"
assert any({"Golden", "Gate"} <= t for t in middle), "a child of the name Golden Gate"

# %% [markdown]
# The parent fired on most tokens of every group of the topic; the children divide them.
# Some follow a name (`Golden` and `Gate`), some a *slot* of the sentence frames — at 1,024
# latents two children cover only verbs (`crossed`, `rose over`; `hid`, `covered`) — and
# others mixes of nouns. This is what Templeton et
# al. saw at the scale of Claude: splitting follows the structure of the data, and which
# split you get depends on the width. Here the generator's labels let us say exactly what
# each child covers; on a real model that takes an interpretability pipeline.

# %% [markdown]
# ## Part 4 — The architectures that replaced ReLU and TopK
#
# Chapter 05's two SAEs have known faults. The L1 penalty of the ReLU SAE shrinks every
# activation towards 0, and does not control L0 directly. TopK fixes the L0 at exactly k for
# *every* token, but tokens differ: a `.` may need two latents, a name in an IOI sentence
# twenty. Three answers are in use today:
#
# - **BatchTopK** (Bussmann, Leask & Nanda, 2024): keep the k × batch largest activations of
#   the *whole batch*, so the average L0 is k but each token takes what it needs. At
#   inference there is no batch: use a single threshold θ estimated in training (the mean,
#   over batches, of the smallest activation kept), and fire where pre > θ.
# - **JumpReLU** (Rajamanoharan et al., 2024): f = pre · H(pre − θ), a ReLU that jumps at a
#   learned threshold θ per latent, trained with an L0 penalty. Neither H nor the L0 has a
#   useful gradient with respect to θ (zero almost everywhere), so they use a
#   *straight-through estimator*: in the backward pass, a pseudo-derivative from a kernel of
#   width ε (the bandwidth) around the threshold.
# - **Matryoshka** (Bussmann et al., 2025; Nabeshima, 2025): nested dictionaries. The loss is
#   the sum of the reconstruction losses of the first 64, the first 256, ..., all latents:
#   the first latents must reconstruct well on their own, so they learn general features,
#   and later latents add detail without stealing them. The library has it as an option
#   (`SAEConfig(matryoshka_prefixes=...)`).

# %% [markdown]
# ### Exercise 11.6 — BatchTopK
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Keep the `k * batch` largest entries of `pre` over the whole batch (after a ReLU, so a
# kept negative value is 0), zero the rest, same shape. Training goes through this: the kept
# values must carry gradient.


# %%
def batch_topk(pre: Float[Tensor, "batch d_sae"], k: int) -> Float[Tensor, "batch d_sae"]:
    """The k * batch largest entries of the batch, ReLU'd; 0 elsewhere."""
    ### BEGIN SOLUTION
    flat = pre.flatten()
    top = flat.topk(k * pre.shape[0], sorted=False)
    return torch.zeros_like(flat).scatter(0, top.indices, top.values.relu()).view_as(pre)
    ### END SOLUTION


checks.ch11.check_batch_topk(batch_topk)

# %% [markdown]
# ### Exercise 11.7 — BatchTopK's inference threshold
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# Given the BatchTopK codes of several training batches, return θ: for each batch the
# smallest *positive* activation kept, averaged over the batches, as a Python float.


# %%
def batchtopk_threshold(codes: list[Float[Tensor, "batch d_sae"]]) -> float:
    """Mean over batches of the smallest positive entry of each batch's code."""
    ### BEGIN SOLUTION
    return sum(code[code > 0].min().item() for code in codes) / len(codes)
    ### END SOLUTION


checks.ch11.check_batchtopk_threshold(batchtopk_threshold)

# %% [markdown]
# ### Exercise 11.8 — JumpReLU, with its straight-through estimator
# Difficulty 4/5 · Importance 4/5 · ~25 minutes
#
# Forward: `pre * (pre > threshold)` (threshold [d_sae], broadcast over the batch). Backward,
# Rajamanoharan et al.'s pseudo-derivatives, with the rectangle kernel K(u) = 1 for
# −½ < u < ½ and 0 elsewhere, u = (pre − θ) / ε:
#
# - with respect to pre: H(pre − θ) (the ordinary derivative: 1 where it fires);
# - with respect to θ: −(θ / ε) · K((pre − θ) / ε).
#
# In `backward`, multiply each by `grad_output` (the chain rule), and sum the threshold's
# over the batch (dim 0), since one θ serves every row.
#
# Write it as a `torch.autograd.Function` (`forward(ctx, pre, threshold, bandwidth)`,
# `backward(ctx, grad_output)` returning one gradient per input, `None` for the bandwidth)
# and return `JumpReLUFunction.apply(pre, threshold, bandwidth)`. The check compares both
# gradients with an independent formulation.


# %%
def jumprelu(pre: Float[Tensor, "batch d_sae"], threshold: Float[Tensor, " d_sae"], bandwidth: float) -> Float[Tensor, "batch d_sae"]:
    """pre * H(pre - threshold), with the straight-through estimator for the threshold."""
    ### BEGIN SOLUTION
    class JumpReLUFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, pre, threshold, bandwidth):
            ctx.save_for_backward(pre, threshold)
            ctx.bandwidth = bandwidth
            return pre * (pre > threshold)

        @staticmethod
        def backward(ctx, grad_output):
            pre, threshold = ctx.saved_tensors
            u = (pre - threshold) / ctx.bandwidth
            kernel = ((u > -0.5) & (u < 0.5)).to(pre.dtype)
            grad_pre = (pre > threshold) * grad_output
            grad_threshold = (-(threshold / ctx.bandwidth) * kernel * grad_output).sum(0)
            return grad_pre, grad_threshold, None

    return JumpReLUFunction.apply(pre, threshold, bandwidth)
    ### END SOLUTION


checks.ch11.check_jumprelu(jumprelu)

# %% [markdown]
# ### Exercise 11.9 — The L0 penalty, with its straight-through estimator
# Difficulty 3/5 · Importance 4/5 · ~15 minutes
#
# The L0 of a batch: the number of entries with pre > θ, per token, averaged over the batch
# (a 0-d tensor). Its pseudo-derivative with respect to θ is −(1/ε) · K((pre − θ)/ε) per
# entry (then the mean over the batch, as in the forward); with respect to pre it is 0 —
# the L0 trains the thresholds only, and pre learns from the reconstruction.


# %%
def step_l0(pre: Float[Tensor, "batch d_sae"], threshold: Float[Tensor, " d_sae"], bandwidth: float) -> Float[Tensor, ""]:
    """Mean over the batch of the number of entries above threshold, with the step's estimator."""
    ### BEGIN SOLUTION
    class StepFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, pre, threshold, bandwidth):
            ctx.save_for_backward(pre, threshold)
            ctx.bandwidth = bandwidth
            return (pre > threshold).to(pre.dtype)

        @staticmethod
        def backward(ctx, grad_output):
            pre, threshold = ctx.saved_tensors
            u = (pre - threshold) / ctx.bandwidth
            kernel = ((u > -0.5) & (u < 0.5)).to(pre.dtype)
            return torch.zeros_like(pre), (-(kernel / ctx.bandwidth) * grad_output).sum(0), None

    return StepFunction.apply(pre, threshold, bandwidth).sum(-1).mean()
    ### END SOLUTION


checks.ch11.check_step_l0(step_l0)

# %% [markdown]
# ### Your JumpReLU, trained
#
# Your two functions are all a JumpReLU SAE needs beyond chapter 05's: 512 latents, the
# thresholds learned as θ = exp(log θ) (positive by construction) from θ = 0.1, where about
# a quarter of the latents fire on each token; bandwidth ε = 0.05; loss = MSE + λ · L0 with
# λ = 1; 60 Adam steps of 2,048 vectors. The thresholds get gradient only through your
# estimators. One lesson of trying: Adam moves each parameter by about its learning rate per
# step whatever the gradient's size, so with the weights' 4e-3, log θ could grow by at most
# 0.24 in 60 steps (θ × 1.3) and the L0 penalty, capped, barely mattered; the thresholds get
# their own learning rate, 0.1. (The paper trains for 100,000s of steps and needs no such
# thing.)

# %%
BANDWIDTH, L0_COEFFICIENT, JUMP_STEPS, JUMP_BATCH = 0.05, 1.0, 60, 2048
THRESHOLD_LR = 0.1  # Adam moves log θ by about this per step: see the text
jump = sae_lib.SAE(sae_lib.SAEConfig(d_in=D_MODEL, d_sae=512), seed=0)
log_threshold = torch.nn.Parameter(torch.full((512,), math.log(0.1)))
with torch.no_grad():
    jump.b_dec.copy_(train_acts.mean(0))
optimizer = torch.optim.Adam(
    [{"params": list(jump.parameters())}, {"params": [log_threshold], "lr": THRESHOLD_LR}], lr=4e-3
)
order = torch.randperm(len(train_acts), generator=torch.Generator().manual_seed(0))
history = []
for step in range(JUMP_STEPS):
    x = train_acts[order[step * JUMP_BATCH : (step + 1) * JUMP_BATCH]]
    pre = jump.pre_acts(x)
    recon = jump.decode(jumprelu(pre, log_threshold.exp(), BANDWIDTH))
    mse = (recon - x).pow(2).sum(-1).mean()
    l0 = step_l0(pre, log_threshold.exp(), BANDWIDTH)
    optimizer.zero_grad()
    (mse + L0_COEFFICIENT * l0).backward()
    optimizer.step()
    jump.normalize_decoder()
    history.append((l0.item(), 1 - mse.item() / (x - x.mean(0)).pow(2).sum(-1).mean().item()))
with torch.no_grad():
    test_pre = jump.pre_acts(test_acts)
    test_code = jumprelu(test_pre, log_threshold.exp(), BANDWIDTH)
    jump_l0 = (test_code > 0).sum(-1).float().mean().item()
    jump_ev = 1 - (jump.decode(test_code) - test_acts).pow(2).sum() / (test_acts - test_acts.mean(0)).pow(2).sum()
print(
    f"L0 {history[0][0]:.0f} at step 0 -> {history[-1][0]:.1f} at step {JUMP_STEPS - 1}; "
    f"thresholds from 0.10 to a median of {log_threshold.exp().median():.2f}; "
    f"held out: L0 {jump_l0:.1f}, explained variance {jump_ev:.3f}"
)
assert 0.15 < history[0][0] / 512 < 0.35, "at θ = 0.1 about a quarter of the latents fire"
assert history[-1][0] < 0.5 * history[0][0], "the L0 penalty should switch latents off"
assert log_threshold.exp().median() > 0.5, "the thresholds should have risen"
assert jump_ev > 0.85

# %% [markdown]
# ### One sweep, five architectures
#
# The recipe trained 512-latent SAEs (chapter 05's width) of every architecture on the same
# data for the same 300 steps, three settings each, chosen so that their L0s overlap: ReLU
# with L1 coefficients 2, 4 and 8; TopK, BatchTopK and Matryoshka BatchTopK (prefixes 64,
# 256, 512) with k = 8, 16 and 32; JumpReLU with L0 coefficients 0.25, 1 and 4 (the
# library's trainer, with its own JumpReLU and BatchTopK). The cell prints the settings it
# read. First, the shipped middle setting of each, re-measured here from its float16
# weights, must agree with the table:

# %%
ARCH_NAMES = {"standard": "ReLU + L1", "topk": "TopK", "batchtopk": "BatchTopK",
              "jumprelu": "JumpReLU", "matryoshka": "Matryoshka"}
arch_rows = {
    arch: sorted((recipe.find_row(sweep, **recipe.spec(arch, recipe.ARCH_WIDTH, recipe.STEPS, **s))
                  for s in settings), key=lambda r: r["l0"])
    for arch, settings in recipe.ARCH_SETTINGS.items()
}
print(f"{recipe.ARCH_WIDTH} latents, {recipe.STEPS} steps; Matryoshka prefixes "
      f"{recipe.MATRYOSHKA_PREFIXES}; settings {recipe.ARCH_SETTINGS}")
for arch in recipe.ARCH_SETTINGS:
    shipped_row = recipe.find_row(sweep, **sweep["shipped"][f"arch-{arch}"])
    again = recipe.measure(saes[f"arch-{arch}"], test_acts)
    assert math.isclose(again["nmse"], shipped_row["nmse"], rel_tol=0.02), (arch, again, shipped_row)
    assert math.isclose(again["l0"], shipped_row["l0"], rel_tol=0.05, abs_tol=0.5), (arch, again)
fig = plotting.line({ARCH_NAMES[a]: [1 - r["nmse"] for r in rs] for a, rs in arch_rows.items()},
                    show=False, xlabel="L0 (active latents per token)", ylabel="explained variance",
                    title=f"The sparsity / reconstruction frontier of five architectures ({recipe.ARCH_WIDTH} latents)")
for trace, rs in zip(fig.data, arch_rows.values()):
    trace.x = [r["l0"] for r in rs]
    trace.mode = "lines+markers"
plotting.show(fig)


def ev_at(rs: list[dict], l0: float) -> float:
    """Explained variance at this L0, interpolated linearly in log L0 between the sweep's points."""
    xs, ys = [math.log(r["l0"]) for r in rs], [1 - r["nmse"] for r in rs]
    x = min(max(math.log(l0), xs[0]), xs[-1])
    i = max(j for j in range(len(xs) - 1) if xs[j] <= x) if x > xs[0] else 0
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


at16 = {a: ev_at(rs, 16) for a, rs in arch_rows.items()}
for a, rs in arch_rows.items():
    print(f"{ARCH_NAMES[a]:>10}: " + ", ".join(f"L0 {r['l0']:.1f} EV {1 - r['nmse']:.3f}" for r in rs)
          + f"   -> EV at L0 16: {at16[a]:.3f}")
sparse_family = [at16[a] for a in ("topk", "batchtopk", "jumprelu", "matryoshka")]
assert at16["standard"] < min(sparse_family) - 0.05, "ReLU + L1 is far behind at L0 16"
assert max(sparse_family) - min(sparse_family) < 0.02, "the four others are close"
assert all(abs(at16[a] - at16["topk"]) < 0.01 for a in ("batchtopk", "jumprelu")), "no clear gain"
assert at16["matryoshka"] < at16["batchtopk"], "Matryoshka pays for its nested losses"
assert all(r["l0"] < r["k"] for r in arch_rows["batchtopk"]), "BatchTopK's threshold keeps < k"

# %% [markdown]
# The ReLU SAE is far behind, as in chapter 05. The four others lie within about 0.01 of
# explained variance of each other at L0 16: on this model, at this budget, the choice
# between TopK, BatchTopK, JumpReLU and Matryoshka is not made by the frontier (Bussmann et
# al. and Rajamanoharan et al. report gains of BatchTopK and JumpReLU over TopK on larger
# models; here BatchTopK and JumpReLU differ from TopK by less than 0.01). Two details worth
# seeing: BatchTopK's L0 at evaluation is *below* k (its threshold, estimated during
# training, is stricter on held-out text), and Matryoshka pays a little reconstruction for
# its nested losses, as its authors say it does. What the architectures differ in is what
# their latents mean — Part 5.

# %% [markdown]
# ## Part 5 — Feature absorption
#
# Chanin et al. (2024) found a failure that sparsity itself causes. Take a general feature
# ("starts with S") and a specific one ("the token `short`"). Wherever the specific latent
# fires, the general one is implied, and the sparsity penalty pays for two latents where one
# would do: so the specific latent *absorbs* the general direction into its own decoder row,
# and the general latent goes silent exactly there. A general latent that fails on a
# scattered set of tokens is worse than useless as a classifier: it looks reliable and is
# not.
#
# TinyWorld has such a hierarchy: "a name" (20 names, in IOI sentences) and each name. For
# each architecture, take as the *general* latent the one that detects "a name" best (the
# highest F1 of precision and recall), and as *specific* latents every other latent with
# precision ≥ 0.5 for one particular name.

# %% [markdown]
# ### Exercise 11.10 — The absorption rate
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Over the tokens where `label` is true, return the fraction on which the `general` latent
# does not fire **and** at least one of the `specific` latents does, as a Python float.


# %%
def absorption_rate(
    fires: Bool[Tensor, "batch d_sae"], label: Bool[Tensor, " batch"], general: int, specific: list[int]
) -> float:
    """Fraction of labelled tokens where `general` is silent and a `specific` latent fires."""
    ### BEGIN SOLUTION
    silent = ~fires[label, general]
    absorbed = fires[label][:, specific].any(1) if specific else torch.zeros_like(silent)
    return (silent & absorbed).float().mean().item()
    ### END SOLUTION


checks.ch11.check_absorption_rate(absorption_rate)

# %%
name_ids = torch.tensor([tinyworld.TOKEN_ID[n] for n in tinyworld.NAMES])
is_name = torch.isin(test_tokens, name_ids)


def absorption(sae) -> dict:
    with torch.no_grad():
        f = sae.encode(test_acts) > 0
    precision, recall = detection_scores(f, is_name)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-9)
    general = int(f1.argmax())
    # precision for each name at once (detection_scores per name, as one matmul): [names, d_sae]
    each_name = (test_tokens[:, None] == name_ids[None]).float()
    per_name = (each_name.T @ f.float()) / f.sum(0).clamp_min(1)
    specific = set((per_name >= 0.5).any(0).nonzero().squeeze(1).tolist()) - {general}
    return dict(general=general, recall=recall[general].item(), precision=precision[general].item(),
                n_specific=len(specific),
                rate=absorption_rate(f, is_name, general, sorted(specific)))


absorbed = {arch: absorption(saes[f"arch-{arch}"]) for arch in recipe.ARCH_SETTINGS}
for arch, a in absorbed.items():
    print(f"{ARCH_NAMES[arch]:>10}: general latent {a['general']:4d} fires on {a['recall']:.0%} of "
          f"the names (precision {a['precision']:.0%}); {a['n_specific']:2d} name-specific latents; "
          f"absorption rate {a['rate']:.1%}")
others = [a["recall"] for arch, a in absorbed.items() if arch != "matryoshka"]
assert absorbed["matryoshka"]["recall"] > 0.95 and 0.3 < min(others) and max(others) < 0.7
assert all(a["rate"] < 0.05 for a in absorbed.values()), "little to absorb at 512 latents"

# %% [markdown]
# At 512 latents there is almost nothing to absorb *into*: hardly any latent is specific to
# one name, so the absorption rate is near zero for every architecture. What differs is the
# general latent. In four architectures the best "name" latent fires on only 40 to 55% of
# the names — it misses the rest, without any specific latent taking over (those names are
# carried by latents mixing names with other tokens). Matryoshka's fires on every name: its
# first 64 latents must reconstruct on their own, and a latent for "a name" is worth having
# there (less precisely, though: more than half of its firings are on other tokens). That is
# the claim of its authors, seen from its good side: a general latent that stays general. Absorption proper needs specific latents, which appear as the dictionary
# grows — the TopK SAEs of Part 3:

# %%
by_width = {width: absorption(saes[f"width-{width}"]) for width in recipe.SHIPPED_WIDTHS}
for width, a in by_width.items():
    print(f"TopK, {width:5d} latents: general fires on {a['recall']:.0%} of the names; "
          f"{a['n_specific']:3d} name-specific latents; absorption rate {a['rate']:.0%}")
assert by_width[wide]["rate"] > 0.3 and by_width[wide]["rate"] > by_width[narrow]["rate"] + 0.2

# %% [markdown]
# With 4,096 latents, dozens of latents are specific to one name, and on a large share of
# name tokens the general latent is silent while one of them fires: absorption, as Chanin
# et al. found it, growing with the dictionary. Does Matryoshka absorb less? The recipe
# also trained a BatchTopK SAE (Matryoshka's base: the same code without the nested losses)
# and a Matryoshka SAE of 4,096 latents, k = 16, on the same data:

# %%
wide_absorbed = {"topk": by_width[wide]} | {
    arch: absorption(saes[f"wide-{arch}"]) for arch in recipe.ABSORPTION_ARCHITECTURES
}
for arch, a in wide_absorbed.items():
    print(f"{ARCH_NAMES[arch]:>10}, {wide} latents: general fires on {a['recall']:.0%} of the names; "
          f"{a['n_specific']:2d} name-specific latents; absorption rate {a['rate']:.0%}")
m = wide_absorbed["matryoshka"]
assert all(a["n_specific"] >= 10 for a in wide_absorbed.values()), "specific latents in all three"
assert m["rate"] < 0.5 * min(wide_absorbed[a]["rate"] for a in ("topk", "batchtopk"))
assert m["recall"] > 2 * max(wide_absorbed[a]["recall"] for a in ("topk", "batchtopk"))
wide_dead = {arch: recipe.find_row(sweep, **sweep["shipped"][f"wide-{arch}"])["dead_fraction"]
             for arch in recipe.ABSORPTION_ARCHITECTURES}
print(f"dead on held-out text: BatchTopK {wide_dead['batchtopk']:.0%}, Matryoshka {wide_dead['matryoshka']:.0%}")
assert wide_dead["matryoshka"] > wide_dead["batchtopk"] + 0.1

# %% [markdown]
# The claim holds here. All three wide SAEs have name-specific latents (a couple of dozen or
# more), but the Matryoshka SAE's general latent still fires on most names, and it is silent
# while a specific latent fires on only about a tenth of the name tokens — under half the
# rate of BatchTopK, its own base, and of TopK. Its first 64 latents must reconstruct on
# their own, so "a name" is learned there and the specific latents add to it instead of
# replacing it. The price is the one Part 4 measured: a little reconstruction, and (see the
# cell's last line) many more dead latents at this budget.

# %% [markdown]
# ## Part 6 — What a frontier SAE costs
#
# Gao et al. trained a TopK SAE with 16M (2²⁴) latents, k = 32, on GPT-4's residual stream
# for 40 billion tokens. Cost one like it on a model with d_model 4,096, line by line, from
# the formulas of this course: you know every term.

# %% [markdown]
# ### Exercise 11.11 — The bill
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# Return a dict of Python floats:
#
# - `parameters`: W_enc, W_dec, b_enc and b_dec of an SAE with `d_sae` latents on `d_model`;
# - `decoder_bytes`: the decoder matrix alone, at `bytes_per_value` bytes a number;
# - `activation_bytes`: caching `tokens` activation vectors of width `d_model`, at
#   `bytes_per_value` bytes a number;
# - `train_flops`: `tokens` × the FLOPs of one TopK training step per token, as the library
#   counts them (`sae_lib.train_flops_per_token`): encoder forward and its weight gradient,
#   2 × 2·d_model·d_sae, and the k-sparse decoder forward and backward, 3 × 2·d_model·k;
# - `accelerator_hours`: `train_flops` at `flops_per_second`, in hours.


# %%
def frontier_costs(
    d_sae: int, d_model: int, k: int, tokens: float, bytes_per_value: int, flops_per_second: float
) -> dict[str, float]:
    """Parameters, decoder bytes, activation bytes, training FLOPs and accelerator-hours."""
    ### BEGIN SOLUTION
    flops = float(tokens) * (4 * d_model * d_sae + 6 * d_model * k)
    return {
        "parameters": float(2 * d_sae * d_model + d_sae + d_model),
        "decoder_bytes": float(d_sae * d_model * bytes_per_value),
        "activation_bytes": float(tokens * d_model * bytes_per_value),
        "train_flops": flops,
        "accelerator_hours": flops / flops_per_second / 3600,
    }
    ### END SOLUTION


checks.ch11.check_frontier_costs(frontier_costs)

# %% [markdown]
# The rate: an H100's dense bf16 peak is about 989 TFLOP/s; SAE training reaches perhaps 40%
# of it (a TopK step is dominated by one large matmul, but also does a top-k and scatters),
# so we take 4 × 10¹⁴ FLOP/s — a stated assumption, change it and rerun. Our own rate is
# measured: the sweep's CPU seconds against its FLOPs, on one core.

# %%
N_FRONTIER, D_FRONTIER, K_FRONTIER, TOKENS_FRONTIER = 2**24, 4096, 32, 40e9
ACCELERATOR_RATE = 0.4 * 989e12
assert sae_lib.train_flops_per_token(sae_lib.SAEConfig(d_in=128, d_sae=1024, architecture="topk", k=16)) \
    == frontier_costs(1024, 128, 16, 1, 2, 1.0)["train_flops"], "the count is the library's"
widest = widths[-1]
cpu_rate = widest["flops_per_token"] * widest["tokens"] / widest["cpu_seconds"]
costs = frontier_costs(N_FRONTIER, D_FRONTIER, K_FRONTIER, TOKENS_FRONTIER, 2, ACCELERATOR_RATE)
a_n, b_n, c_n = n_fit
lines = [
    ("parameters", f"2 x {N_FRONTIER:,} x {D_FRONTIER:,} + biases", f"{costs['parameters']:.3g}"),
    ("decoder in bf16", "n x d x 2 bytes", f"{costs['decoder_bytes'] / 2**30:,.0f} GiB"),
    ("weights, gradients, Adam's 2 moments (fp32)", "4 x parameters x 4 bytes",
     f"{16 * costs['parameters'] / 2**40:.1f} TiB"),
    ("cached activations (bf16)", "tokens x d x 2 bytes", f"{costs['activation_bytes'] / 2**40:,.0f} TiB"),
    ("training FLOPs", "tokens x (4 d n + 6 d k)", f"{costs['train_flops']:.3g}"),
    ("accelerator time", "FLOPs / 4e14 FLOP/s", f"{costs['accelerator_hours']:,.0f} hours "
     f"({costs['accelerator_hours'] / 24:,.0f} accelerator-days)"),
    ("this laptop core", f"FLOPs / {cpu_rate:.3g} FLOP/s (measured, n {widest['d_sae']})",
     f"{(core_years := costs['train_flops'] / cpu_rate / 3.15e7):,.0f} years"),
    ("our law at n = 2^24, d 128", f"{a_n:.3g} n^-{b_n:.3f} {c_n:+.4f}",
     f"normalized MSE {a_n * N_FRONTIER**-b_n + c_n:.4f} (floor {c_n:.4f})"),
]
for what, how, value in lines:
    print(f"{what:<44} {how:<46} {value}")
assert costs["decoder_bytes"] > 80e9, "the decoder alone does not fit on one 80 GB accelerator"
assert costs["activation_bytes"] > 100e12, "caching 40B tokens is impossible: stream (Part 1)"
assert 1e3 < costs["accelerator_hours"] < 1e5
assert 1e4 < core_years < 3e4, "some twenty thousand years on one core"
assert a_n * N_FRONTIER**-b_n + c_n < 1.05 * c_n, "at 16M latents our law is at its floor"

# %% [markdown]
# Read the table from the top. The decoder alone, in bf16, is larger than one accelerator's
# memory, and with the encoder, fp32 weights, their gradients and Adam's two moments the
# training state is about 2 TiB: the SAE must be *sharded* over many accelerators (Gao et al. split the
# latents across devices). The activations of 40B tokens, hundreds of TiB, cannot be
# cached: they are streamed, as in Part 1, which adds the subject model's forward pass to
# every step. The FLOPs come almost entirely from the encoder's 4·d·n term, because a TopK
# decoder costs k, not n: thousands of accelerator-hours, against some twenty thousand years
# on the core this course ran on. And the last line is the warning of Part 2: extrapolated
# far past its data, our law says nothing but its floor — TinyWorld has run out of features
# long before 16M latents, while GPT-4 has not.
#
# ## Summary
#
# - An activation store streams the model's activations through a shuffling buffer: memory
#   of one buffer instead of the whole run, at the price of a forward pass per token.
# - At a fixed budget of 1.2M tokens, the held-out normalized MSE of TopK SAEs on
#   `tinyworld-lm` follows a·n^(−b) + c in the number of latents and a power law in k; the
#   compute frontier moves to wider SAEs as compute grows.
# - The bridge topic splits: one latent covers most of it at 256 latents, many children
#   cover parts of it, word by word, at 4,096.
# - BatchTopK, JumpReLU (trained through straight-through estimators) and Matryoshka are
#   each a few lines on top of chapter 05; one sweep puts them on one frontier.
# - At 512 latents the four sparse architectures are within 0.02 of explained variance of
#   each other at L0 16, ReLU far behind; Matryoshka's general "name" latent fires on every
#   name where the others' fire on about half. Absorption needs specific latents: near zero
#   at 512, about half of the name tokens at 4,096 for TopK and BatchTopK, and under half
#   that for Matryoshka.
# - A 16M-latent SAE is a distributed-systems problem: sharded weights, streamed
#   activations, thousands of accelerator-hours.
#
# ## Questions: predict, then run
# 1. Double `STREAM_SEQS` and halve `BUFFER`. Predict the peak rows held and the CPU time of
#    the streamed run; then check. What would a buffer of one chunk do to the batches?
# 2. Refit the width law without the 8,192-latent point. How much do b and c move? What
#    does that say about extrapolating a fit with a floor?
# 3. The sweep gave every width the same 1.2M tokens. Predict how b changes if each width
#    instead gets tokens in proportion to n (retrain two widths to check).
# 4. Fit the k law with the form a·k^(−b) only (no floor). Which fits better, and why would
#    the floor differ between the n and the k laws?
# 5. In Part 3, raise `MIN_PRECISION` to 0.8. How many bridge children does each width keep?
# 6. Train your JumpReLU with `THRESHOLD_LR = 4e-3`. Predict the final L0 before you run it.
# 7. Train a JumpReLU SAE of 4,096 latents (`recipe.train_row`, about two CPU-minutes) and
#    measure its absorption. Predict first: nearer TopK's rate or Matryoshka's?
# 8. Redo the bill for a 1M-latent SAE on GPT-2 small (d_model 768, k 32, 8B tokens). Could
#    it be trained on one accelerator? On this laptop?
