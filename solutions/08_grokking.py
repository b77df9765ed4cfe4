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
# # Chapter 08 — Grokking: reverse-engineer modular addition
#
# Train a small transformer on `a + b mod p` with a third of all pairs, and it learns its
# training set in a few hundred steps, with test accuracy at chance. Keep training, with
# weight decay, and thousands of steps later test accuracy shoots to 100%: the network
# **groks** (Power et al., 2022). Nanda, Chan, Lieberum, Smith & Steinhardt (2023),
# *Progress measures for grokking via mechanistic interpretability*, reverse-engineered the
# algorithm the network finds — it adds by *rotating*: it writes a and b as angles ωa and
# ωb for a few frequencies ω, combines them with trigonometric identities, and reads off the
# c for which cos(ω(a + b − c)) is largest — and used that understanding to define
# **progress measures** that show the circuit forming long before test accuracy moves.
#
# This course trains that model itself (`mi-tutorial train grokking`), with snapshots of
# the weights along the run, and you will redo the analysis on it: every number below is
# measured in this notebook.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - train a one-layer transformer that memorises, and read memorisation and generalisation
#   from train/test curves and the weight norm;
# - write the Fourier basis of Z_p and find a model's key frequencies from its embedding;
# - show that neurons and logits are built from cos/sin of the key frequencies, and measure
#   how much of the logits that form explains;
# - compute restricted loss, excluded loss and Fourier sparsity over training, and place
#   memorisation, circuit formation and clean-up from them;
# - confirm the circuit causally by ablating frequencies in the neuron-to-logit map.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong.
#
# **Shapes.** `p` is the modulus (59 here: a prime), `batch` counts examples `a b =`,
# `d_mlp` the MLP's neurons. A frequency `k` (1 ≤ k ≤ (p − 1)/2) stands for the angle
# ω_k = 2πk/p.

# %%
import math

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from mi_tutorial import checks, models, plotting, train
from mi_tutorial.course.recipes import grokking as recipe
from mi_tutorial.data import modular

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)
P = recipe.P
TOKENS, LABELS = modular.all_pairs(P)  # row a * P + b is `a b =`, label (a + b) % P

# %% [markdown]
# ## Part 1 — Memorisation, then generalisation
#
# The data: every pair (a, b) with 0 ≤ a, b < p, written `a b =` (the `=` token has id p),
# labelled (a + b) mod p. A fixed random 30% of the pairs is the training set, the rest the
# test set. The model is the one of the paper: one layer, four attention heads, a ReLU MLP
# with 512 neurons, no LayerNorm. The answer is read at the last position (`=`), and the
# loss is computed there only.

# %%
print(recipe.CONFIG)
train_rows, test_rows = modular.train_test_split(
    P, recipe.TRAIN_FRACTION, seed=recipe.CONFIG["seed"]
)
print(
    f"{P * P} pairs: {len(train_rows)} train, {len(test_rows)} test; "
    f"chance accuracy 1/{P} = {1 / P:.3f}"
)
print("example:", TOKENS[train_rows[0]].tolist(), "->", LABELS[train_rows[0]].item())

# %% [markdown]
# ### Exercise 8.1 — The loss at the last position
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# Return the mean cross-entropy of the model's logits **at the last position** against
# `labels`: a 0-d float32 tensor that training can differentiate. The other two positions
# have no target.


# %%
def last_position_loss(
    model, tokens: Int[Tensor, "batch 3"], labels: Int[Tensor, " batch"]
) -> Float[Tensor, ""]:
    """Mean cross-entropy of model(tokens) at the last position against labels."""
    ### BEGIN SOLUTION
    logits = model(tokens)[:, -1, :]
    return F.cross_entropy(logits, labels)
    ### END SOLUTION


checks.ch08.check_last_position_loss(last_position_loss)

# %% [markdown]
# ### A live run that memorises
# Full-batch AdamW on the training pairs, the recipe's learning rate and weight decay, for
# 150 steps (about 15 s).

# %%
live = models.boot(recipe.CONFIG)
batch = (TOKENS[train_rows], LABELS[train_rows])
run = train.train(
    live,
    lambda step: batch,
    lambda m, b: last_position_loss(m, *b),
    steps=150,
    lr=recipe.LR,
    weight_decay=recipe.WEIGHT_DECAY,
    progress=False,
)


def accuracy(model, rows) -> float:
    with torch.no_grad():
        return (
            (recipe.last_logits(model, TOKENS[rows]).argmax(-1) == LABELS[rows])
            .float()
            .mean()
            .item()
        )


live_train, live_test = accuracy(live, train_rows), accuracy(live, test_rows)
print(
    f"after 150 steps ({run.seconds:.0f} s): train accuracy {live_train:.3f}, "
    f"test accuracy {live_test:.3f}"
)
assert live_train == 1.0 and live_test < 0.15  # memorised; test near chance (1/59 = 0.017)

# %% [markdown]
# The model has memorised: it gets every training pair right and almost no test pair.
# (`recipe.last_logits` computes `model(tokens)[:, -1]` faster, computing only the last
# position's MLP and unembedding; we use it to evaluate.) The recipe continues this run,
# with the same settings, for thousands of steps; load it and its snapshots.

# %%
model = models.load_toy_model("grokking")
snapshots, history = recipe.load_snapshots()
metrics = models.read_manifest()["grokking"]["metrics"]
steps = list(snapshots)
print(
    f"{len(snapshots)} snapshots, steps {steps[0]} to {steps[-1]}; manifest: memorised at step "
    f"{metrics['memorised_step']:.0f}, grokked at {metrics['grokking_step']:.0f}"
)
plotting.line(
    {"train loss": history["train_loss"], "test loss": history["test_loss"]},
    x=history["step"].tolist(),
    title="Loss over training (log scale)",
    xlabel="step",
    ylabel="loss",
    log_y=True,
)

# %%
steps_logged = history["step"].tolist()
memorised = next(s for s, a in zip(steps_logged, history["train_acc"].tolist()) if a == 1.0)
grokked = next(s for s, a in zip(steps_logged, history["test_acc"].tolist()) if a >= 0.99)
test_at_memorised = history["test_acc"][steps_logged.index(memorised)].item()
print(
    f"train accuracy 100% from step {memorised} (test accuracy then {test_at_memorised:.3f}); "
    f"test accuracy >= 99% from step {grokked}, {grokked / memorised:.0f}x later"
)
assert (memorised, grokked) == (metrics["memorised_step"], metrics["grokking_step"])
assert test_at_memorised < 0.15 and grokked >= 5 * memorised

# %% [markdown]
# ### Exercise 8.2 — Weight norm
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# Weight decay pulls every weight towards 0 at every step; memorising needs large weights.
# Return the L2 norm of all the tensors of a state dict together, √(Σ w²) over every entry,
# as a Python float.


# %%
def weight_norm(state_dict: dict[str, Tensor]) -> float:
    """The L2 norm of all entries of all tensors in state_dict, as one float."""
    ### BEGIN SOLUTION
    return math.sqrt(sum(value.double().pow(2).sum().item() for value in state_dict.values()))
    ### END SOLUTION


checks.ch08.check_weight_norm(weight_norm)

# %%
norms = [weight_norm(snapshots[s]) for s in steps]
plotting.line(
    {"weight norm": norms}, x=steps, title="Weight norm over training", xlabel="step", ylabel="norm"
)
peak = steps[max(range(len(norms)), key=norms.__getitem__)]
print(
    f"weight norm: {norms[0]:.1f} at init, peak {max(norms):.1f} at step {peak}, "
    f"{norms[-1]:.1f} at the end"
)
assert peak <= grokked and norms[-1] < 0.7 * max(norms)

# %% [markdown]
# ## Part 2 — The Fourier basis of Z_p
#
# A function of a residue x ∈ {0, …, p − 1} is a vector of p numbers. The **Fourier basis**
# writes it as a sum of waves: the constant, and cos(ω_k x), sin(ω_k x) for each frequency
# k = 1 … (p − 1)/2, ω_k = 2πk/p. These p vectors are orthogonal; normalised, they form an
# orthonormal basis.

# %% [markdown]
# ### Exercise 8.3 — The Fourier basis
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Return a [p, p] float32 tensor whose row 0 is the constant 1/√p, row 2k − 1 is
# cos(ω_k x) and row 2k is sin(ω_k x), each normalised to unit norm (for odd p).


# %%
def fourier_basis(p: int) -> Float[Tensor, "p p"]:
    """Orthonormal rows: constant, cos(w_1 x), sin(w_1 x), cos(w_2 x), ... for odd p."""
    ### BEGIN SOLUTION
    x = torch.arange(p, dtype=torch.float64)
    rows = [torch.ones(p, dtype=torch.float64)]
    for k in range(1, (p - 1) // 2 + 1):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return (basis / basis.norm(dim=1, keepdim=True)).float()
    ### END SOLUTION


checks.ch08.check_fourier_basis(fourier_basis)

# %%
basis = fourier_basis(P)
assert torch.allclose(basis @ basis.T, torch.eye(P), atol=1e-5)
plotting.imshow(
    basis[:9],
    title="The first Fourier basis vectors",
    xlabel="x",
    ylabel="basis vector",
    color_label="value",
)

# %% [markdown]
# ### Exercise 8.4 — How much of each frequency
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# `W` is [p, d]: one row per residue (the embedding of the numbers 0 … p − 1, say). Project
# it on the basis (`basis @ W`) and return, for each frequency k = 1 … (p − 1)/2, the norm
# of its two rows together, √(‖cos_k row‖² + ‖sin_k row‖²): a float32 tensor of (p − 1)/2
# entries, entry 0 for k = 1. The constant row is left out.


# %%
def frequency_norms(
    W: Float[Tensor, "p d"], basis: Float[Tensor, "p p"]
) -> Float[Tensor, " n_freq"]:
    """Norm of each frequency's cos and sin components of W (over its first axis)."""
    ### BEGIN SOLUTION
    coefficients = basis @ W
    return (coefficients[1::2].pow(2).sum(-1) + coefficients[2::2].pow(2).sum(-1)).sqrt()
    ### END SOLUTION


checks.ch08.check_frequency_norms(frequency_norms)

# %% [markdown]
# ### Exercise 8.5 — The key frequencies
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# Return, in increasing order, the frequencies k (1-based, Python ints) whose share of the
# total *squared* norm, norms[k − 1]² / Σ norms², is more than `threshold`.


# %%
def key_frequencies(norms: Float[Tensor, " n_freq"], threshold: float = 0.05) -> list[int]:
    """Frequencies (1-based) whose share of the squared norm exceeds threshold, ascending."""
    ### BEGIN SOLUTION
    share = norms.pow(2) / norms.pow(2).sum()
    return [k + 1 for k in range(len(norms)) if share[k] > threshold]
    ### END SOLUTION


checks.ch08.check_key_frequencies(key_frequencies)

# %%
W_E = model.W_E[:P].detach()  # the embeddings of the numbers (not of `=`)
embed_norms = frequency_norms(W_E, basis)
KEY = key_frequencies(embed_norms)
init_norms = frequency_norms(snapshots[0]["embed.weight"][:P], basis)
share_key = (embed_norms[[k - 1 for k in KEY]].pow(2).sum() / embed_norms.pow(2).sum()).item()
print(
    f"key frequencies {KEY}: {share_key:.0%} of the embedding's squared norm in {len(KEY)} of "
    f"{len(embed_norms)} frequencies; at init the same frequencies hold "
    f"{(init_norms[[k - 1 for k in KEY]].pow(2).sum() / init_norms.pow(2).sum()).item():.0%}"
)
plotting.line(
    {"trained": embed_norms, "init": init_norms},
    x=list(range(1, len(embed_norms) + 1)),
    title="Embedding norm per frequency",
    xlabel="frequency k",
    ylabel="norm",
)
assert 2 <= len(KEY) <= 8 and share_key > 0.6

# %% [markdown]
# ## Part 3 — The algorithm
#
# With a and b as angles, the trigonometric identities give
# cos(ω(a + b)) = cos ωa cos ωb − sin ωa sin ωb, and then
# cos(ω(a + b − c)) = cos(ω(a + b)) cos ωc + sin(ω(a + b)) sin ωc, which is largest (1)
# exactly when c = (a + b) mod p. The paper finds the attention and the MLP computing the
# products, each neuron mostly in one key frequency, and the unembedding reading out the
# cos(ω(a + b − c)) terms. Check it on the neurons first.

# %% [markdown]
# ### Exercise 8.6 — Neuron activations
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# Return the MLP's neuron activations (after the ReLU, hook `blocks.0.mlp.hook_post`) at
# the last position, [batch, d_mlp], using `run_with_cache`.


# %%
def neuron_activations(model, tokens: Int[Tensor, "batch 3"]) -> Float[Tensor, "batch d_mlp"]:
    """The MLP's post-ReLU activations at the last position."""
    ### BEGIN SOLUTION
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.mlp.hook_post")
    return cache["blocks.0.mlp.hook_post"][:, -1, :]
    ### END SOLUTION


checks.ch08.check_neuron_activations(neuron_activations)

# %% [markdown]
# ### Exercise 8.7 — A neuron's frequency
# Difficulty 3/5 · Importance 4/5 · ~15 minutes
#
# `acts` is [p, p, n]: neuron activations on the grid of all (a, b). Write each neuron's
# grid in the 2D Fourier basis, `basis @ grid @ basis.T`, and return for every neuron the
# share of its variance (all squared coefficients except the constant-constant one) that
# lies in the coefficients whose two indices are both in {constant, cos_k, sin_k}: a
# float32 tensor of n entries.


# %%
def frequency_fraction(
    acts: Float[Tensor, "p p n"], basis: Float[Tensor, "p p"], k: int
) -> Float[Tensor, " n"]:
    """Share of each neuron's variance over (a, b) in the 2D Fourier terms of frequency k."""
    ### BEGIN SOLUTION
    coefficients = torch.einsum("ia,abn,jb->ijn", basis, acts, basis).pow(2)
    coefficients[0, 0] = 0
    idx = [0, 2 * k - 1, 2 * k]
    return coefficients[idx][:, idx].sum((0, 1)) / coefficients.sum((0, 1))
    ### END SOLUTION


checks.ch08.check_frequency_fraction(frequency_fraction)

# %%
with torch.no_grad():
    acts = neuron_activations(model, TOKENS).reshape(P, P, -1)
fractions = torch.stack([frequency_fraction(acts, basis, k) for k in KEY])  # [key, d_mlp]
best_share, best_key = fractions.max(0)
alive = acts.reshape(P * P, -1).std(0) > 1e-3
clustered = (best_share > 0.8) & alive
print(
    f"{alive.sum().item()} of {acts.shape[-1]} neurons fire; {clustered.sum().item()} "
    "have more than 80% of "
    f"their variance in one key frequency; per key frequency: "
    + ", ".join(f"k={k}: {(clustered & (best_key == i)).sum().item()}" for i, k in enumerate(KEY))
)
assert clustered.sum() > 0.5 * alive.sum()
neuron = int(clustered.nonzero()[0])
plotting.imshow(
    acts[:, :, neuron],
    title=f"Neuron {neuron} over (a, b): frequency {KEY[best_key[neuron]]}",
    xlabel="b",
    ylabel="a",
    color_label="activation",
)

# %% [markdown]
# ### Exercise 8.8 — How much of the logits is cos(ω(a + b − c))?
# Difficulty 3/5 · Importance 5/5 · ~15 minutes
#
# `logits` is [p, p, p], indexed [a, b, c]. Fit it by least squares with a constant plus
# Σ_k α_k cos(ω_k(a + b − c)) over the frequencies in `freqs`, and return the fraction of
# its variance the fit explains, 1 − Σ(logits − fit)² / Σ(logits − mean)², as a float.
# These cos terms are orthogonal to each other and to the constant on the grid, so each
# α_k is a projection: α_k = ⟨logits, cos_k⟩ / ⟨cos_k, cos_k⟩.


# %%
def logit_variance_explained(logits: Float[Tensor, "p p p"], freqs: list[int]) -> float:
    """R^2 of logits fitted by a constant plus cos(w_k (a + b - c)) for k in freqs."""
    ### BEGIN SOLUTION
    p = logits.shape[0]
    x = torch.arange(p)
    a, b, c = x[:, None, None], x[None, :, None], x[None, None, :]
    centred = logits.double() - logits.double().mean()
    fit = torch.zeros_like(centred)
    for k in freqs:
        wave = torch.cos(2 * math.pi * k * (a + b - c) / p).double().expand_as(centred)
        fit = fit + (centred * wave).sum() / (wave * wave).sum() * wave
    return 1 - ((centred - fit) ** 2).sum().item() / (centred**2).sum().item()
    ### END SOLUTION


checks.ch08.check_logit_variance_explained(logit_variance_explained)

# %%
with torch.no_grad():
    logits = recipe.last_logits(model, TOKENS).reshape(P, P, P)
explained = logit_variance_explained(logits, KEY)
explained_other = logit_variance_explained(
    logits, [k for k in range(1, (P - 1) // 2 + 1) if k not in KEY][: len(KEY)]
)
print(
    f"cos(w_k(a + b - c)) over the {len(KEY)} key frequencies explains {explained:.1%} "
    "of the logits' variance; "
    f"as many other frequencies explain {explained_other:.1%}"
)
assert explained > 0.6 and explained_other < 0.05

# %% [markdown]
# On this model the form explains about two thirds of the logits' variance (the paper
# reports more for its model at p = 113): as many other frequencies' cos(ω(a + b − c))
# terms explain nothing (the printed 0.0%), so the rest lies in terms this fit does not
# contain. Question 9 asks you to find where.

# %% [markdown]
# ## Part 4 — Progress measures
#
# If the final network computes with the key frequencies, we can ask of every snapshot how
# much of that computation is there. The logits' dependence on (a, b) for each c splits into
# the part along cos(ω_k(a + b)) and sin(ω_k(a + b)) for the key k — where the algorithm
# writes — and the rest.
# - **Restricted loss**: keep only that part (plus each c's mean): the loss of the circuit
#   alone. We measure it on the test pairs.
# - **Excluded loss**: remove that part: the loss of everything *but* the circuit. We measure
#   it on the training pairs, where memorisation can still answer.
# - **Fourier sparsity**: the Gini coefficient of the embedding's frequency norms (0: spread
#   evenly; near 1: a few frequencies).

# %% [markdown]
# ### Exercise 8.9 — The key-frequency part of the logits
# Difficulty 3/5 · Importance 5/5 · ~15 minutes
#
# For each c, project the p × p grid `logits[:, :, c]` onto the directions cos(ω_k(a + b))
# and sin(ω_k(a + b)), k in `freqs` (orthogonal on the grid, each of squared norm p²/2),
# and return that projection, [p, p, p].


# %%
def frequency_component(logits: Float[Tensor, "p p p"], freqs: list[int]) -> Float[Tensor, "p p p"]:
    """The part of each c's (a, b) grid along cos/sin(w_k (a + b)), k in freqs."""
    ### BEGIN SOLUTION
    p = logits.shape[0]
    x = torch.arange(p)
    total = (x[:, None] + x[None, :]).double()
    part = torch.zeros_like(logits, dtype=torch.float64)
    for k in freqs:
        for wave in (
            torch.cos(2 * math.pi * k * total / p),
            torch.sin(2 * math.pi * k * total / p),
        ):
            coefficient = torch.einsum("abc,ab->c", logits.double(), wave) / (wave * wave).sum()
            part = part + wave[:, :, None] * coefficient
    return part.to(logits.dtype)
    ### END SOLUTION


checks.ch08.check_frequency_component(frequency_component)

# %% [markdown]
# ### Exercise 8.10 — Gini coefficient
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# Return the Gini coefficient of non-negative `x` [n] as a float: sort it ascending,
# then G = Σ_i (2i − n − 1) x_(i) / (n Σ x) with i = 1 … n. It is 0 when all entries are
# equal and (n − 1)/n when one entry holds everything.


# %%
def gini(x: Float[Tensor, " n"]) -> float:
    """The Gini coefficient of the non-negative entries of x."""
    ### BEGIN SOLUTION
    values = x.double().sort().values
    n = len(values)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return ((2 * i - n - 1) * values).sum().item() / (n * values.sum().item())
    ### END SOLUTION


checks.ch08.check_gini(gini)

# %%
net = models.boot(recipe.CONFIG)  # one model, each snapshot loaded into it in turn


def progress_measures(state_dict) -> dict[str, float]:
    net.load_state_dict(state_dict)
    with torch.no_grad():
        out = recipe.last_logits(net, TOKENS).reshape(P, P, P)
    part = frequency_component(out, KEY)
    restricted = out.mean((0, 1), keepdim=True) + part
    excluded = out - part

    def loss(grid, rows):
        return F.cross_entropy(grid.reshape(P * P, P)[rows], LABELS[rows]).item()

    return {
        "train loss": loss(out, train_rows),
        "test loss": loss(out, test_rows),
        "restricted loss (test)": loss(restricted, test_rows),
        "excluded loss (train)": loss(excluded, train_rows),
        "gini": gini(frequency_norms(state_dict["embed.weight"][:P], basis)),
    }


measures = {s: progress_measures(snapshots[s]) for s in steps}
curves = {name: [measures[s][name] for s in steps] for name in measures[steps[0]]}
plotting.line(
    {k: v for k, v in curves.items() if k != "gini"},
    x=steps,
    log_y=True,
    title="Progress measures (the key frequencies of the final model)",
    xlabel="step",
    ylabel="loss",
)
plotting.line(
    {"Fourier sparsity (Gini) of W_E": curves["gini"]},
    x=steps,
    title="Fourier sparsity",
    xlabel="step",
)

# %% [markdown]
# Read the three phases off these curves. We take **memorisation** to end at the first
# snapshot with train accuracy 100%, **circuit formation** to run until the restricted loss
# falls below the test loss's value at memorisation by a factor 10 while test accuracy is
# still below 99%, and **clean-up** from the grokking step until the Gini coefficient is
# within 10% of its final value.


# %%
def first(condition) -> int:
    return next(s for s in steps if condition(s))


memorised_snap = first(lambda s: s >= memorised)
formed = first(
    lambda s: measures[s]["restricted loss (test)"] < 0.1 * measures[memorised_snap]["test loss"]
)
clean = first(lambda s: s >= grokked and measures[s]["gini"] > 0.9 * curves["gini"][-1])
m0 = measures[memorised_snap]
print(
    f"memorised by step {memorised_snap}: test loss {m0['test loss']:.2f}, "
    f"restricted {m0['restricted loss (test)']:.2f}, "
    f"excluded {m0['excluded loss (train)']:.3f}, Gini {m0['gini']:.2f}"
)
print(
    f"circuit formed (restricted loss < 1/10 of that test loss) at step {formed}: test loss then "
    f"{measures[formed]['test loss']:.2f}; test accuracy >= 99% only at step {grokked}"
)
print(
    f"clean-up: Gini within 10% of its final {curves['gini'][-1]:.2f} at step {clean}; weight norm "
    f"{norms[steps.index(grokked - grokked % recipe.SNAPSHOT_STEPS)]:.1f} at grokking, "
    f"{norms[-1]:.1f} at the end"
)
assert memorised_snap < formed <= grokked <= clean
assert measures[formed]["restricted loss (test)"] < measures[formed]["test loss"]
assert max(curves["excluded loss (train)"]) > 10 * m0["excluded loss (train)"]

# %% [markdown]
# ## Part 5 — Causal confirmation
#
# The neuron-to-logit map W_logit = W_out W_U [d_mlp, p] says how each neuron votes for each
# answer c. If the network reads out cos/sin(ω_k c) for the key k only, removing those
# frequencies from W_logit's c axis should break it, and removing others should not.

# %% [markdown]
# ### Exercise 8.11 — Ablate frequencies in the neuron-to-logit map
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Return `W_logit` with the cos_k and sin_k components of its last axis removed for every
# k in `freqs`: project each row on the basis, zero those coefficients, and map back.


# %%
def ablate_frequencies(
    W_logit: Float[Tensor, "d_mlp p"], basis: Float[Tensor, "p p"], freqs: list[int]
) -> Float[Tensor, "d_mlp p"]:
    """W_logit without the cos/sin components of frequencies freqs along its output axis."""
    ### BEGIN SOLUTION
    coefficients = W_logit @ basis.T
    keep = torch.ones(basis.shape[0], dtype=W_logit.dtype)
    for k in freqs:
        keep[2 * k - 1] = keep[2 * k] = 0
    return (coefficients * keep) @ basis
    ### END SOLUTION


checks.ch08.check_ablate_frequencies(ablate_frequencies)

# %%
W_logit = (model.W_out[0] @ model.W_U).detach()
flat_acts = acts.reshape(P * P, -1)
others = [k for k in range(1, (P - 1) // 2 + 1) if k not in KEY]
control = others[:: max(1, len(others) // len(KEY))][: len(KEY)]


def test_loss_without(freqs) -> float:
    changed = logits.reshape(P * P, P) - flat_acts @ (
        W_logit - ablate_frequencies(W_logit, basis, freqs)
    )
    return F.cross_entropy(changed[test_rows], LABELS[test_rows]).item()


clean_loss = F.cross_entropy(logits.reshape(P * P, P)[test_rows], LABELS[test_rows]).item()
key_loss, control_loss = test_loss_without(KEY), test_loss_without(control)
print(
    f"test loss {clean_loss:.4f}; without the key frequencies {KEY} in W_logit: {key_loss:.2f} "
    f"(chance: ln {P} = {math.log(P):.2f}); without {control} instead: {control_loss:.4f}"
)
assert key_loss > math.log(P) / 2 and abs(control_loss - clean_loss) < 0.1 * clean_loss + 1e-3

# %% [markdown]
# ## Summary
#
# - A one-layer transformer on a + b mod 59 memorised its 30% training split in a few hundred
#   steps (test accuracy near chance), and generalised thousands of steps later, while weight
#   decay shrank its weights from their peak back towards their size at initialisation.
# - Its embedding lives in a handful of key frequencies of the Fourier basis of Z_p; its
#   neurons are mostly periodic in one of them; its logits are largely a sum of
#   cos(ω_k(a + b − c)) — the rotation algorithm of Nanda et al. (here two thirds of their
#   variance, measured; the paper's model shows more).
# - Progress measures built from that understanding move before the test accuracy does: the
#   restricted loss falls during what looks like a plateau, the excluded loss rises as the
#   circuit takes over from memorisation, and the embedding gets sparser during clean-up.
# - Removing the key frequencies from the neuron-to-logit map destroys performance; removing
#   as many other frequencies changes nothing.
#
# ## Questions: predict, then run
# 1. Retrain the live model with `weight_decay=0` for 1,000 steps. Predict the test
#    accuracy, then check. What does the weight norm do?
# 2. Why must p be prime for this algorithm (or what changes if it is not)?
# 3. The key frequencies differ from seed to seed. Which property of the task makes every
#    frequency equally usable?
# 4. The restricted loss uses the final model's key frequencies at every snapshot. What
#    would go wrong if you used each snapshot's own largest frequencies instead?
# 5. The excluded loss is measured on the training pairs. Why would it say little on the
#    test pairs?
# 6. Ablate only one key frequency from W_logit. Predict whether the test accuracy survives.
# 7. The paper trains on 30% of pairs. With 60%, would you expect grokking sooner or later,
#    and why? With 10%?
# 8. Is the final drop in weight norm a cause or an effect of the clean-up? Which experiment
#    would tell?
# 9. The cos(ω(a + b − c)) form explains two thirds of the logits' variance. Subtract each
#    (a, b)'s mean over c first (it cannot change the answer) and fit again: how much of
#    the rest was that?
