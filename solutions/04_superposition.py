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
# # Chapter 04 — Superposition
#
# A network with `m` neurons can only have `m` orthogonal directions. Yet the features
# researchers find in language models far outnumber their neurons, and single neurons often
# respond to several unrelated things. *Toy Models of Superposition* (Elhage et al., 2022)
# offers an explanation: when features are **sparse** — rarely active at the same time — a
# network can store more features than it has dimensions, as *almost*-orthogonal
# directions, and pay for it with a little interference. In this chapter you build the
# paper's toy model, train a few hundred copies of it on your CPU, and reproduce its
# headline findings yourself: the pentagon, the sticky fractions of feature
# dimensionality, the phase change, and what correlation does to the picture.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - write the toy model `x' = ReLU(WᵀW x + b)`, its sparse data and its importance-weighted
#   loss, and train a whole batch of models with different sparsities in one tensor;
# - read superposition off the weights: `WᵀW`, feature norms, interference, and the
#   geometry of the features in the hidden space;
# - compute each feature's *dimensionality* and see it stick at fractions like 1/2 and 2/5;
# - predict, from a three-line calculation, when a model will drop a feature, give it a
#   dimension of its own, or superpose it — and check the prediction against a phase diagram;
# - say how correlated and anti-correlated features change the arrangement.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong. Stuck for longer than the budget? The solution is in `solutions/` — read it, then
# close it and write it yourself.
#
# **Shapes.** We train many small models at once, so every tensor has an `instance` axis
# (one entry per model). The other names: `batch` (samples), `feature` (the `n` input
# features) and `d_hidden` (the `m` hidden dimensions). `W` has shape
# `[instance, d_hidden, feature]`: its column `W[k, :, i]`, written `W_i`, is the direction
# in which instance `k` stores feature `i`.

# %%
import math

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from mi_tutorial import checks, plotting, train

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
torch.manual_seed(0)

NORM_THRESHOLD = 0.5  # ||W_i|| below this: feature i is "not represented" (trained norms sit near 0 or near 1)

# %% [markdown]
# ## Part 1 — The toy model
#
# The data are `n` features `x_1 … x_n`. Each is **present** with probability `p` (its
# *density*; the paper writes the *sparsity* `S = 1 - p`) and then uniform on `[0, 1]`, and
# zero otherwise. Feature `i` also has an **importance** `I_i`: how much the loss cares
# about getting it right.
#
# The model squeezes the `n` features into `m < n` hidden dimensions with a matrix `W`
# (`m × n`) and reads them back out with its transpose, plus a bias and a ReLU:
#
# ```
# h  = W x                      (m numbers)
# x' = ReLU(Wᵀ h + b) = ReLU(WᵀW x + b)
# ```
#
# A linear model could at best keep the `m` most important features and drop the rest
# (that is PCA). The ReLU is what makes superposition possible: it can filter out a
# *small negative* interference, so two features can share directions if they are rarely
# active together.

# %% [markdown]
# ### Exercise 4.1 — Sparse features
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Return a batch of features of shape `[batch, instance, feature]`: entry `[b, k, i]` is
# present with probability `feature_probability[k, i]` and then uniform on `[0, 1]`;
# otherwise it is 0. Every entry is drawn independently. Draw with `torch.rand` (so that
# `torch.manual_seed` makes a run repeatable); broadcasting a `[instance, feature]`
# tensor against a `[batch, instance, feature]` one does the rest.

# %%
def generate_features(
    feature_probability: Float[Tensor, "instance feature"], batch_size: int
) -> Float[Tensor, "batch instance feature"]:
    """Sparse features: each present with its probability, then uniform on [0, 1]; else 0."""
    ### BEGIN SOLUTION
    shape = (batch_size, *feature_probability.shape)
    present = torch.rand(shape) < feature_probability  # [batch instance feature], broadcast over batch
    return torch.rand(shape) * present
    ### END SOLUTION


checks.ch04.check_generate_features(generate_features)

# %% [markdown]
# ### Exercise 4.2 — The toy model
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Write the forward pass, `ReLU(WᵀW x + b_final)`, for every instance at once. Instance `k`
# uses only its own `W[k]` and `b_final[k]`: the models share nothing but the tensor they
# live in. You can go through the hidden layer (`h = W x`, then `Wᵀ h`) or form `WᵀW`
# first (`[instance, feature, feature]`, faster here since `n` is small); either way,
# `einops.einsum` with named axes keeps the instance axis straight.

# %%
class ToyModel(nn.Module):
    def __init__(self, n_instances: int, n_features: int, d_hidden: int):
        super().__init__()
        scale = math.sqrt(2 / (n_features + d_hidden))  # Xavier-normal, per instance
        self.W = nn.Parameter(torch.randn(n_instances, d_hidden, n_features) * scale)
        self.b_final = nn.Parameter(torch.zeros(n_instances, n_features))

    def forward(self, features: Float[Tensor, "batch instance feature"]) -> Float[Tensor, "batch instance feature"]:
        """x' = ReLU(WᵀW x + b_final), each instance with its own weights."""
        ### BEGIN SOLUTION
        WtW = einops.einsum(self.W, self.W, "instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")
        out = einops.einsum(features, WtW, "batch instance f_j, instance f_i f_j -> batch instance f_i")
        return torch.relu(out + self.b_final)
        ### END SOLUTION


checks.ch04.check_toy_model(ToyModel)

# %% [markdown]
# ### Exercise 4.3 — The importance-weighted loss
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# The paper's loss is the squared error of each feature, weighted by its importance and
# summed over features: `L = Σ_i I_i (x_i - x'_i)²`, averaged over the batch. Return one
# loss per instance (shape `[instance]`): do not add the instances together here.

# %%
def importance_weighted_loss(
    out: Float[Tensor, "batch instance feature"],
    features: Float[Tensor, "batch instance feature"],
    importance: Float[Tensor, "instance feature"],
) -> Float[Tensor, "instance"]:
    """Mean over the batch of sum_i I_i (x_i - x'_i)^2, for each instance."""
    ### BEGIN SOLUTION
    squared_error = (features - out) ** 2  # [batch instance feature]
    return (importance * squared_error).sum(dim=-1).mean(dim=0)
    ### END SOLUTION


checks.ch04.check_importance_weighted_loss(importance_weighted_loss)

# %% [markdown]
# ### Training a batch of models
#
# We train every instance at once with the course's training loop (`train.train`, from
# chapter 01). The loss it minimizes is the **sum** of the instances' losses. Since no
# parameter is shared, the gradient of that sum with respect to instance `k`'s weights is
# the gradient of instance `k`'s own loss, and Adam scales every weight separately: each
# instance trains exactly as it would alone. Yet 100 instances trained together take a
# small fraction of the time of 100 separate runs: models this small spend most of each
# step on the per-operation overhead, which the batch shares.
#
# A small model can get stuck in a local minimum — for instance, leaving a feature
# unrepresented although storing it would lower the loss. The paper trains several times
# and keeps the best run, and so do we: each setting gets `RESTARTS` instances from
# different random starts, and `best_restarts` picks, for each setting, the instance with
# the lowest loss on one fixed, large batch.

# %%
RESTARTS = 3


def train_toy_models(model, make_features, importance, *, steps, batch_size=512, lr=1e-2, seed=0, desc="toy models"):
    """Train every instance of `model`; make_features(batch_size) draws a batch."""
    return train.train(
        model,
        make_batch=lambda step: make_features(batch_size),
        loss_fn=lambda model, features: importance_weighted_loss(model(features), features, importance).sum(),
        steps=steps,
        lr=lr,
        seed=seed,
        desc=desc,
    )


@torch.no_grad()
def best_restarts(model, features, importance, restarts=RESTARTS) -> tuple[Int[Tensor, "setting"], Float[Tensor, "setting"]]:
    """For each group of `restarts` consecutive instances, the index and the loss of the best one."""
    losses = importance_weighted_loss(model(features), features, importance)  # [instance]
    by_setting = einops.rearrange(losses, "(setting restart) -> setting restart", restart=restarts)
    best_loss, best = by_setting.min(dim=-1)
    return torch.arange(len(best)) * restarts + best, best_loss


def seeded(fn, seed, *args):
    """fn(*args) with torch's RNG seeded, and the RNG state afterwards as it was before."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return fn(*args)


# %% [markdown]
# Our first batch: `n = 5` features in `m = 2` dimensions, the importance falling
# geometrically (`I_i = 0.9^i`, so feature 0 matters most), at five sparsities.

# %%
N_FEATURES, D_HIDDEN = 5, 2
DENSITIES = torch.tensor([1.0, 0.3, 0.1, 0.05, 0.02])  # sparsity S = 1 - density: 0, 0.7, 0.9, 0.95, 0.98
SPARSITY_NAMES = [f"S = {1 - d:.2f}" for d in DENSITIES.tolist()]
n_models = len(DENSITIES) * RESTARTS
importance = einops.repeat(0.9 ** torch.arange(N_FEATURES), "feature -> instance feature", instance=n_models)
feature_probability = einops.repeat(DENSITIES, "setting -> (setting restart) feature", restart=RESTARTS, feature=N_FEATURES)

torch.manual_seed(0)
model = ToyModel(n_models, N_FEATURES, D_HIDDEN)
history = train_toy_models(
    model, lambda batch: generate_features(feature_probability, batch), importance, steps=1000, desc="n=5, m=2"
)
chosen, losses = best_restarts(model, seeded(generate_features, 1, feature_probability, 20_000), importance)
print(f"trained {n_models} models (5 sparsities x {RESTARTS} restarts) in {history.seconds:.1f} s")
for name, loss in zip(SPARSITY_NAMES, losses):
    print(f"{name}: loss of the best restart {loss:.4f}")

# %% [markdown]
# ## Part 2 — What superposition looks like
#
# `WᵀW` (`n × n`) says it all: its diagonal entry `i` is `‖W_i‖²`, how strongly feature `i`
# is written and read back; its off-diagonal entry `(i, j)` is `W_i · W_j`, how much of
# feature `j` leaks into the reconstruction of feature `i`. An identity block means
# features with dimensions of their own; off-diagonal entries mean superposition.
#
# Two numbers per feature summarize it, as in the paper's bar charts:
# - its **norm** `‖W_i‖`: about 1 if the feature is represented, about 0 if not;
# - its **interference** `Σ_{j≠i} (Ŵ_i · W_j)²`, where `Ŵ_i = W_i / ‖W_i‖`: how much the
#   other features project onto feature `i`'s direction. 0 means `W_i` has a direction to
#   itself.

# %% [markdown]
# ### Exercise 4.4 — Norms and interference
# Difficulty 2/5 · Importance 4/5 · ~15 minutes
#
# Return `(norms, interference)`, each `[instance, feature]`. A feature whose column is all
# zero has no direction: give it interference 0, not NaN — divide by
# `‖W_i‖.clamp(min=1e-8)`. Leave out `j = i` (which would add `‖W_i‖²`).

# %%
def norms_and_interference(
    W: Float[Tensor, "instance d_hidden feature"],
) -> tuple[Float[Tensor, "instance feature"], Float[Tensor, "instance feature"]]:
    """(||W_i||, sum over j != i of (W_i-hat . W_j)^2) for every instance and feature."""
    ### BEGIN SOLUTION
    norms = W.norm(dim=1)  # [instance feature]
    W_hat = W / norms.clamp(min=1e-8).unsqueeze(1)  # unit columns; a zero column stays zero
    overlaps = einops.einsum(W_hat, W, "instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")
    off_diagonal = 1 - torch.eye(W.shape[-1])  # leave out j = i
    interference = (overlaps**2 * off_diagonal).sum(dim=-1)
    return norms, interference
    ### END SOLUTION


checks.ch04.check_norms_and_interference(norms_and_interference)

# %% [markdown]
# Now look. First `WᵀW` for each sparsity (blue positive, red negative):

# %%
W = model.W.detach()[chosen]  # [setting d_hidden feature], the best restart of each sparsity
WtW = einops.einsum(W, W, "instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")
plotting.imshow_grid(WtW, titles=SPARSITY_NAMES, xlabel="feature j", ylabel="feature i", title="WᵀW of each instance",
                    color_label="W_i · W_j")

# %% [markdown]
# Then each feature's norm, coloured by its interference (the paper's bar charts), and the
# five columns `W_i` drawn in the 2D hidden space:

# %%
norms, interference = norms_and_interference(W)
plotting.bars(
    norms, color=interference, titles=SPARSITY_NAMES, xlabel="feature", ylabel="‖W_i‖", color_label="interference",
    title="Feature norms, coloured by interference",
)
plotting.vectors_2d(W.transpose(1, 2), titles=SPARSITY_NAMES, title="Where each feature lives in the hidden space")
represented = norms > NORM_THRESHOLD  # [instance feature]
for name, row, count, inter in zip(SPARSITY_NAMES, norms, represented.sum(-1), interference):
    print(f"{name}: {count} of 5 represented; norms {[round(v, 2) for v in row.tolist()]}; "
          f"interference {[round(v, 2) for v in inter.tolist()]}")

# %% [markdown]
# What you should see, and what the assertions below check:
# - **Dense features (S = 0)**: exactly `m = 2` features are represented, orthogonally —
#   the most important ones, as PCA would choose. The rest are dropped: with every feature
#   always active, sharing a direction would always cost.
# - **S = 0.7**: at least 4 of the 5 features are represented in 2 dimensions, as
#   **antipodal pairs**, `W_j ≈ -W_i`: when one feature of a pair is active, the other's
#   read-out is negative and the ReLU removes it.
# - **S = 0.9 and sparser**: at least 4, and in the sparsest instances all 5, with equal
#   norms at the corners of a regular **pentagon** (neighbours 72° apart).
#
# (Look at the restarts we did not pick, too: `norms_and_interference(model.W)` shows all
# 15 instances. Does any keep a less important feature instead of a more important one, or
# leave a feature dead?)

# %%
n_represented = represented.sum(-1)
W_unit = W / W.norm(dim=1, keepdim=True).clamp(min=1e-8)
cosines = einops.einsum(W_unit, W_unit, "setting d_hidden f_i, setting d_hidden f_j -> setting f_i f_j")
dense_cosines = cosines[0][represented[0]][:, represented[0]]  # among the represented features
print(f"S = 0: cosines between the represented features\n{dense_cosines}")
# each represented feature's most opposite partner (+2 on the diagonal keeps a feature from being its own)
most_opposite = (cosines[1] + 2 * torch.eye(N_FEATURES)).min(dim=-1).values[represented[1]]
print(f"S = 0.7: cosine of each represented feature with its most opposite one: "
      f"{[round(v, 2) for v in most_opposite.tolist()]}")
assert n_represented[0] == D_HIDDEN and represented[0, :D_HIDDEN].all(), "dense: the m most important features"
assert (dense_cosines - torch.eye(D_HIDDEN)).abs().max() < 0.1, "dense: the represented features should be orthogonal"
assert n_represented[1] >= 4 and (most_opposite < -0.95).all(), "at S = 0.7: at least 4 features, in antipodal pairs"
assert n_represented[2] >= 4, "at S = 0.9, at least 4 of the 5 features should be represented"


def neighbour_angles(W2: Float[Tensor, "d_hidden feature"]) -> Float[Tensor, "feature"]:
    """Angles in degrees between each feature and the next one around the circle (m = 2)."""
    angles = torch.atan2(W2[1], W2[0]).sort().values
    gaps = torch.diff(angles, append=angles[:1] + 2 * math.pi)
    return torch.rad2deg(gaps)


for k in (3, 4):
    gaps = neighbour_angles(W[k])
    print(f"{SPARSITY_NAMES[k]}: angles between neighbouring features {[round(a) for a in gaps.tolist()]} degrees")
    assert n_represented[k] == 5 and ((gaps - 72).abs() < 10).all(), "the pentagon did not form"
    assert norms[k].max() < 1.1 * norms[k].min(), "the pentagon's features should have equal norms"

# %% [markdown]
# ## Part 3 — Geometry: how many dimensions does a feature get?
#
# In the pentagon, five features share two dimensions: 2/5 of a dimension each. The paper
# makes this precise with the **feature dimensionality**
#
# ```
# D_i = ‖W_i‖² / Σ_j (Ŵ_i · W_j)²        (the sum includes j = i)
# ```
#
# The numerator is how much of feature `i` the model stores; the denominator, how much of
# *everything* lies along feature `i`'s direction. A feature alone in its direction has
# `D_i = 1`; each of an antipodal pair has `1/2`; a pentagon gives `2/5`; a dropped
# feature has `D_i ≈ 0`.

# %% [markdown]
# ### Exercise 4.5 — Feature dimensionality
# Difficulty 3/5 · Importance 4/5 · ~15 minutes
#
# Return `D_i` for every instance and feature. Normalize only `W_i` (not `W_j`), keep
# `j = i` in the sum, and give a feature whose column is all zero `D_i = 0` (not NaN).

# %%
def feature_dimensionality(W: Float[Tensor, "instance d_hidden feature"]) -> Float[Tensor, "instance feature"]:
    """D_i = ||W_i||^2 / sum_j (W_i-hat . W_j)^2; 0 where W_i = 0."""
    ### BEGIN SOLUTION
    squared_norms = (W**2).sum(dim=1)  # [instance feature]
    W_hat = W / squared_norms.sqrt().clamp(min=1e-8).unsqueeze(1)
    overlaps = einops.einsum(W_hat, W, "instance d_hidden f_i, instance d_hidden f_j -> instance f_i f_j")
    denominator = (overlaps**2).sum(dim=-1)  # j = i contributes ||W_i||^2, so this is 0 only for a zero column
    return squared_norms / denominator.clamp(min=1e-12)
    ### END SOLUTION


checks.ch04.check_feature_dimensionality(feature_dimensionality)

# %% [markdown]
# ### Exercise 4.6 — Dimensions per feature
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# The paper also summarizes a whole model by its **dimensions per feature**,
# `D* = m / ‖W‖_F²`: the hidden dimensions divided by (roughly) the number of features
# stored, since a represented feature contributes `‖W_i‖² ≈ 1` to the squared Frobenius norm.
# Return it for every instance.

# %%
def dimensions_per_feature(W: Float[Tensor, "instance d_hidden feature"]) -> Float[Tensor, "instance"]:
    """m / ||W||_F^2 for each instance (m = d_hidden)."""
    ### BEGIN SOLUTION
    d_hidden = W.shape[1]
    return d_hidden / (W**2).sum(dim=(1, 2))
    ### END SOLUTION


checks.ch04.check_dimensions_per_feature(dimensions_per_feature)

# %% [markdown]
# The pentagon first: each of its features should get 2/5 of a dimension. (`D*` comes out
# lower there: the pentagon's norms are above 1 — look back at Part 2 — and `D*` counts
# every `‖W_i‖²`, while `D_i` divides the norm out.)

# %%
D_small = feature_dimensionality(W)
D_star_small = dimensions_per_feature(W)
for name, row, d_star in zip(SPARSITY_NAMES, D_small, D_star_small):
    print(f"{name}: D_i {[round(v, 2) for v in row.tolist()]}, dimensions per feature {d_star:.2f}")
assert ((D_small[3:] - 2 / 5).abs() < 0.05).all(), "pentagon: every D_i should be close to 2/5"
assert (norms[3:] > 1).all() and (D_star_small[3:] < 2 / 5).all(), "pentagon: norms above 1, so D* below 2/5"

# %% [markdown]
# Now a larger model: `n = 20` equally important features in `m = 5` dimensions, at 16
# sparsities from dense (`1/(1-S) = 1`) to 92% sparse (`1/(1-S) ≈ 12.6`), closely spaced
# where the action is. The paper plots `D*` against `1/(1-S)`, the number of samples per
# occurrence of a feature. If a feature could get any share of a dimension, the
# dimensionalities would slide down smoothly as sparsity grows. They do not.

# %%
N_BIG, D_BIG = 20, 5
big_densities = torch.logspace(0, -1.1, 16)  # 1 ... 0.08, each 18% sparser than the last
big_probability = einops.repeat(big_densities, "instance -> instance feature", feature=N_BIG)
big_importance = torch.ones(len(big_densities), N_BIG)

torch.manual_seed(0)
big_model = ToyModel(len(big_densities), N_BIG, D_BIG)
history = train_toy_models(
    big_model, lambda batch: generate_features(big_probability, batch), big_importance, steps=1000, desc="n=20, m=5"
)
W_big = big_model.W.detach()
D_big = feature_dimensionality(W_big)  # [instance feature]
d_star = dimensions_per_feature(W_big)  # [instance]
inverse_density = 1 / big_densities  # = 1 / (1 - S)
print(f"trained {len(big_densities)} models in {history.seconds:.1f} s")
big_represented = W_big.norm(dim=1) > NORM_THRESHOLD  # [instance feature]
for x, d, row, keep in zip(inverse_density, d_star, D_big, big_represented):
    shown = sorted(round(v, 2) for v in row[keep].tolist())
    print(f"1/(1-S) = {x:5.1f}: D* = {d:.3f}; D_i of the {len(shown)} represented features: {shown}")

fig = plotting.scatter(
    einops.repeat(inverse_density, "instance -> (instance feature)", feature=N_BIG),
    D_big.flatten(),
    xlabel="1 / (1 - S)",
    ylabel="dimensionality",
    title="Feature dimensionality D_i (dots) and dimensions per feature D* (line)",
    show=False,
)
fig.add_scatter(x=inverse_density, y=d_star, mode="lines+markers", name="D* = m / ‖W‖²")
for fraction in (1, 1 / 2, 2 / 5):
    fig.add_hline(y=fraction, line_dash="dot", annotation_text=f"{fraction:.2g}")
fig.update_xaxes(type="log")
plotting.show(fig)

# %% [markdown]
# `D*` starts at 1: with dense features `W` is a projection onto a 5-dimensional subspace,
# one feature's worth of weight per dimension (with equal importances that subspace need
# not line up with individual features, so their `D_i` are scattered). Then the
# dimensionality **sticks at 1/2**: over a stretch of sparsities the model stores exactly
# `2m = 10` features, as five antipodal pairs, drops the other ten, and every stored
# feature has `D_i = 1/2` (`D*` joins them once the norms reach 1). Only past that stretch
# do more features squeeze in. The paper found more such sticky values (2/5 for
# pentagons, 3/4 for tetrahedra, 3/8, …) and explained them with the geometry of *uniform
# polytopes*. In this small model 1/2 is not the only long one: past it, sixteen features
# share the five dimensions with `D_i` near `5/16` (= m / 16) over about as many sparsities
# (the cell below measures both stretches).

# %%
pair_levels = [
    k
    for k in range(len(big_densities))
    if big_represented[k].sum() == 2 * D_BIG and ((D_big[k][big_represented[k]] - 1 / 2).abs() < 0.05).all()
]
print(f"exactly {2 * D_BIG} features stored, all with D_i within 0.05 of 1/2, at 1/(1-S) = "
      f"{[round(v, 2) for v in inverse_density[pair_levels].tolist()]} (D* there: {[round(v, 2) for v in d_star[pair_levels].tolist()]})")
assert (d_star[0] - 1).abs() < 0.1, "dense: D* should be about 1"
assert len(pair_levels) >= 3 and pair_levels == list(range(pair_levels[0], pair_levels[-1] + 1)), (
    "the 1/2 plateau: at least three consecutive sparsities with exactly 2m features, all in antipodal pairs"
)
assert d_star[-1] < 0.3, "at the highest sparsity, each feature should get well under half a dimension"
sixteen_levels = [
    k
    for k in range(len(big_densities))
    if big_represented[k].sum() == 16 and ((D_big[k][big_represented[k]] - 5 / 16).abs() < 0.03).all()
]
print(f"16 features stored, all with D_i within 0.03 of 5/16, at 1/(1-S) = "
      f"{[round(v, 2) for v in inverse_density[sixteen_levels].tolist()]}")
assert abs(len(sixteen_levels) - len(pair_levels)) <= 1, "the text says the 5/16 plateau holds about as long as 1/2's"

# %% [markdown]
# ## Part 4 — The phase change
#
# When does a model superpose a feature at all? The paper's smallest case: `n = 2`
# features in `m = 1` dimension. Feature 0 has importance 1; the **extra** feature 1 has
# importance `I`; both have density `p`. With one dimension there are only three sensible
# solutions:
#
# | solution | `W` | `b` | the loss comes from |
# |---|---|---|---|
# | extra feature **not represented** | `[1, 0]` | `[0, p/2]` | missing the extra feature |
# | extra feature gets a **dedicated dimension** | `[0, 1]` | `[p/2, 0]` | missing feature 0 |
# | **superposition** | `[1, -1]` | `[0, 0]` | both present at once |
#
# A dropped feature is best guessed by its mean, `E[x] = p/2`, and then costs its variance,
# `E[x²] - E[x]² = p/3 - p²/4` (a feature is uniform on [0, 1] with probability `p`, so
# `E[x²] = p/3`). In superposition, the read-outs are `ReLU(x_0 - x_1)` and `ReLU(x_1 - x_0)`:
# exact when only one feature is present, and when both are (probability `p²`), each
# feature loses `min(x_0, x_1)²`, whose mean for two uniform numbers is `1/6`.

# %% [markdown]
# ### Exercise 4.7 — The theory: each solution's loss
# Difficulty 3/5 · Importance 3/5 · ~15 minutes
#
# From the table and the facts under it, return the expected loss per sample of each
# solution, stacked as `[not represented, dedicated, superposition]` along a new first
# axis. `importance` and `density` have the same shape (a grid, below); weight each
# feature's squared error by its importance, as the loss does.

# %%
def regime_losses(importance: Float[Tensor, "*grid"], density: Float[Tensor, "*grid"]) -> Float[Tensor, "3 *grid"]:
    """Expected loss of [not represented, dedicated, superposition] for n=2, m=1."""
    ### BEGIN SOLUTION
    variance = density / 3 - density**2 / 4  # the loss of a feature replaced by its mean
    not_represented = importance * variance
    dedicated = 1.0 * variance  # feature 0, importance 1, is dropped
    superposition = density**2 * (1 + importance) / 6
    return torch.stack([not_represented, dedicated, superposition])
    ### END SOLUTION


checks.ch04.check_regime_losses(regime_losses)

# %% [markdown]
# ### Exercise 4.8 — Which regime did a model choose?
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# Classify feature `extra` of each instance: `0` if it is not represented
# (`‖W_extra‖ < norm_threshold`), else `1` if it has a dimension to itself (its
# interference, as in Exercise 4.4, is below `interference_threshold`), else `2`
# (superposition). Return integer codes, one per instance.

# %%
REGIMES = ["not represented", "dedicated", "superposition"]


def classify_regime(
    W: Float[Tensor, "instance d_hidden feature"],
    extra: int,
    norm_threshold: float = NORM_THRESHOLD,
    interference_threshold: float = 0.1,
) -> Int[Tensor, "instance"]:
    """0 not represented, 1 dedicated dimension, 2 superposition, for feature `extra`."""
    ### BEGIN SOLUTION
    norms, interference = norms_and_interference(W)
    codes = torch.full((W.shape[0],), 2, dtype=torch.long)
    codes[interference[:, extra] < interference_threshold] = 1
    codes[norms[:, extra] < norm_threshold] = 0  # last: a dropped feature has no interference either
    return codes
    ### END SOLUTION


checks.ch04.check_classify_regime(classify_regime)

# %% [markdown]
# The theory first: for each point of a grid of importances and densities, the solution
# with the lowest expected loss.

# %%
PHASE_IMPORTANCES = torch.logspace(-1, 1, 6)  # 0.1 ... 10, skipping I = 1, where two solutions tie
PHASE_DENSITIES = torch.logspace(0, -2, 6)  # 1 ... 0.01
grid_density, grid_importance = torch.meshgrid(PHASE_DENSITIES, PHASE_IMPORTANCES, indexing="ij")  # [density importance]
theory = regime_losses(grid_importance, grid_density).argmin(dim=0)  # [density importance]
importance_labels = [f"{v:.2g}" for v in PHASE_IMPORTANCES.tolist()]
density_labels = [f"{v:.2g}" for v in PHASE_DENSITIES.tolist()]
print("theory (rows: density 1 ... 0.01; columns: importance 0.1 ... 10; 0 not represented, 1 dedicated, 2 superposition)")
print(theory)

# %% [markdown]
# Now the experiment: one setting per grid point, each trained from `RESTARTS` random
# starts, keeping the best. That is 6 × 6 × 3 = 108 models — still one tensor.

# %%
n_cells = grid_density.numel()
phase_probability = einops.repeat(grid_density.flatten(), "cell -> (cell restart) feature", restart=RESTARTS, feature=2)
phase_importance = torch.stack([torch.ones(n_cells), grid_importance.flatten()], dim=-1)  # [cell feature]
phase_importance = einops.repeat(phase_importance, "cell feature -> (cell restart) feature", restart=RESTARTS)

torch.manual_seed(0)
phase_model = ToyModel(n_cells * RESTARTS, 2, 1)
history = train_toy_models(
    phase_model,
    lambda batch: generate_features(phase_probability, batch),
    phase_importance,
    steps=1000,
    batch_size=256,  # 2 features per model: a smaller batch suffices, and halves the time
    desc="phase diagram",
)
chosen, _ = best_restarts(phase_model, seeded(generate_features, 2, phase_probability, 20_000), phase_importance)
found = classify_regime(phase_model.W.detach()[chosen], extra=1).reshape(grid_density.shape)
print(f"trained {n_cells * RESTARTS} models in {history.seconds:.1f} s")

fig = plotting.imshow_grid(
    torch.stack([found, theory]),
    titles=["trained models (best of 3)", "theory (lowest expected loss)"],
    x=importance_labels,
    y=density_labels,
    xlabel="importance of the extra feature",
    ylabel="density",
    title="What happens to the extra feature",
    color_label="solution",
    diverging=False,
    show=False,
)
fig.update_coloraxes(cmin=0, cmax=2, colorbar={"tickvals": [0, 1, 2], "ticktext": REGIMES})
plotting.show(fig)

# %% [markdown]
# The phase diagram has three regions, as in the paper. Dense features never share: the
# more important of the two takes the dimension, and the other is dropped. As features get
# sparser, a wedge of **superposition** opens up around `I = 1`, widening towards both
# sides: the rarer the collisions, the more lopsided a pair can be and still be worth
# storing together. The change is sharp — a *phase change*: move across a boundary and
# the optimal solution jumps from one discrete arrangement to another. And the three-line
# theory predicts the experiment in almost every cell. Where they differ (printed below),
# look at the cell: either it sits next to a boundary, where two solutions' losses are
# nearly equal (and the theory's `b = 0` for superposition is a slight underestimate of
# what training finds), or training itself fell short — at density 0.01 a feature is
# present in 1% of the samples, and an unimportant one gives the optimizer little signal.

# %%
agreement = (found == theory).float().mean()
print(f"trained models agree with the theory in {agreement:.0%} of the {n_cells} cells")
for d, i in (found != theory).nonzero().tolist():
    print(f"  differ at density {density_labels[d]}, importance {importance_labels[i]}: "
          f"trained {REGIMES[found[d, i]]}, theory {REGIMES[theory[d, i]]}")
more_important = (PHASE_IMPORTANCES > 1).long()  # 1: the extra feature wins the dimension, 0: feature 0 does
superposed_per_row = (theory == 2).sum(dim=-1)  # [density]
print(f"superposed cells per density, in theory: {superposed_per_row.tolist()}")
assert (found[0] == more_important).all(), "dense: the more important feature should take the dimension"
assert superposed_per_row[0] == 0 and (superposed_per_row.diff() >= 0).all(), "the wedge should widen as density falls"
assert (found[-1] == 2).sum() >= 4, "at the lowest density, the features should mostly be superposed"
assert agreement >= 0.8, "the experiment should mostly agree with the theory"

# %% [markdown]
# ## Part 5 — Correlated and anti-correlated features
#
# So far every feature was independent. Real features are not: "this is French" and
# "this is about cheese" co-occur; "this token is a digit" and "this token is a verb" never
# do. Superposition's cost is interference *when features are active together*, so
# correlation should change the arrangement.

# %% [markdown]
# ### Exercise 4.9 — Paired features
# Difficulty 3/5 · Importance 3/5 · ~15 minutes
#
# Generate `[batch, instance, 2 * n_pairs]` features in pairs: features `2k` and `2k + 1`
# form pair `k`. Each feature is present with probability `feature_probability[instance]`,
# uniform on [0, 1] when present (each with its own value), and the pairs are independent
# of each other. Within a pair:
# - **correlated** (`anti=False`): the two are always present together (draw once whether
#   the pair is on, with probability `p`);
# - **anti-correlated** (`anti=True`): never together. Turn the pair on with probability
#   `2p`, then pick one of its two features with a fair coin — so each is present with
#   probability `p`, as before. (This needs `p ≤ 1/2`.)
#
# `einops.repeat(pair_on, "batch instance pair -> batch instance (pair two)", two=2)` copies
# each pair's draw to both of its features.

# %%
def generate_paired_features(
    feature_probability: Float[Tensor, "instance"], n_pairs: int, batch_size: int, anti: bool
) -> Float[Tensor, "batch instance feature"]:
    """Features in pairs (2k, 2k+1) that always (anti=False) or never (anti=True) co-occur."""
    ### BEGIN SOLUTION
    n_instances = feature_probability.shape[0]
    pair_shape = (batch_size, n_instances, n_pairs)
    p = feature_probability[:, None]  # [instance 1], broadcasts over pairs
    if anti:
        pair_on = torch.rand(pair_shape) < 2 * p
        first = torch.rand(pair_shape) < 0.5  # which of the two is present
        present = torch.stack([pair_on & first, pair_on & ~first], dim=-1)  # [batch instance pair two]
        present = einops.rearrange(present, "batch instance pair two -> batch instance (pair two)")
    else:
        pair_on = torch.rand(pair_shape) < p
        present = einops.repeat(pair_on, "batch instance pair -> batch instance (pair two)", two=2)
    return torch.rand(batch_size, n_instances, 2 * n_pairs) * present
    ### END SOLUTION


checks.ch04.check_generate_paired_features(generate_paired_features)

# %% [markdown]
# Two pairs (4 features) in 2 dimensions, all equally important, in three setups:
# correlated pairs at density 0.05, anti-correlated pairs at density 0.05, and correlated
# pairs at density 0.3. These models are tiny, so each setup gets 10 restarts: you will see
# below why the anti-correlated one needs them.

# %%
SETUPS = ["correlated, p = 0.05", "anti-correlated, p = 0.05", "correlated, p = 0.3"]
PAIR_RESTARTS = 10


def make_pairs(batch_size):
    """[batch, (setup restart), 4]: the setups in the order of SETUPS, each PAIR_RESTARTS times."""
    sparse, dense = torch.full((PAIR_RESTARTS,), 0.05), torch.full((PAIR_RESTARTS,), 0.3)
    return torch.cat(
        [
            generate_paired_features(sparse, 2, batch_size, anti=False),
            generate_paired_features(sparse, 2, batch_size, anti=True),
            generate_paired_features(dense, 2, batch_size, anti=False),
        ],
        dim=1,
    )


n_pair_models = len(SETUPS) * PAIR_RESTARTS
pair_importance = torch.ones(n_pair_models, 4)
torch.manual_seed(0)
pair_model = ToyModel(n_pair_models, 4, 2)
history = train_toy_models(pair_model, make_pairs, pair_importance, steps=1000, desc="paired features")
chosen, _ = best_restarts(pair_model, seeded(make_pairs, 3, 20_000), pair_importance, restarts=PAIR_RESTARTS)
W_pairs = pair_model.W.detach()[chosen]  # [setup d_hidden feature]
plotting.vectors_2d(
    W_pairs.transpose(1, 2),
    titles=SETUPS,
    labels=["pair 0, a", "pair 0, b", "pair 1, a", "pair 1, b"],
    title="Two pairs of features in two dimensions",
)

# %%
def mean_cosine_within_pairs(W: Float[Tensor, "instance d_hidden 4"]) -> Float[Tensor, "instance"]:
    """The cosine between features 0 and 1 (pair 0) and between 2 and 3 (pair 1), averaged."""
    W_unit = W / W.norm(dim=1, keepdim=True)
    pair_0 = (W_unit[:, :, 0] * W_unit[:, :, 1]).sum(dim=-1)
    pair_1 = (W_unit[:, :, 2] * W_unit[:, :, 3]).sum(dim=-1)
    return (pair_0 + pair_1) / 2


W_unit = W_pairs / W_pairs.norm(dim=1, keepdim=True)
cosines = einops.einsum(W_unit, W_unit, "setup d_hidden f_i, setup d_hidden f_j -> setup f_i f_j")
within_pair = mean_cosine_within_pairs(W_pairs)  # [setup]
for name, cos, row in zip(SETUPS, within_pair, W_pairs.norm(dim=1)):
    print(f"{name}: mean cosine within a pair {cos:+.2f}; norms {[round(v, 2) for v in row.tolist()]}")
assert within_pair[1] < -0.9, "anti-correlated features should be antipodal"
assert within_pair[0].abs() < 0.2, "sparse correlated features should be orthogonal"
assert within_pair[2] > 0.9, "denser correlated features should collapse onto one direction"
partner_in_other_pair = cosines[0, :2, 2:].min(dim=-1).values  # for each feature of pair 0, sparse correlated setup
print(f"correlated, p = 0.05: cosine of each pair-0 feature with its most opposite pair-1 feature "
      f"{[round(v, 2) for v in partner_in_other_pair.tolist()]}")
assert (partner_in_other_pair < -0.9).all(), "sparse correlated pairs should be antipodal to each other"
anti_within = mean_cosine_within_pairs(pair_model.W.detach()[PAIR_RESTARTS : 2 * PAIR_RESTARTS])  # every anti restart
print(f"anti-correlated: {(anti_within < -0.9).sum()} of {PAIR_RESTARTS} restarts found the antipodal arrangement")
collapsed_norms = W_pairs[2].norm(dim=0)
assert ((collapsed_norms > 0.5) & (collapsed_norms < 0.9)).all(), "collapsed features should have norms well below 1"

# %% [markdown]
# Three arrangements, as in the paper:
# - **Anti-correlated** features sit **antipodally**. They never fire together, so sharing
#   a direction costs nothing at all. Only some restarts find this (the count is printed
#   above); the others put each feature opposite a feature of the *other* pair, which
#   costs only a little more — features of different pairs collide with probability `p²`,
#   0.25% of samples — so training rarely leaves it. The lowest loss is the antipodal one.
# - **Correlated** features, sparse, sit **orthogonally** to each other: when one fires,
#   so does its partner, and any overlap would always interfere. Instead each feature sits
#   opposite a feature of the *other* pair, which rarely fires at the same time: the model
#   builds a small orthogonal basis per group of correlated features and superposes the
#   groups.
# - **Correlated and denser**: the pair **collapses** onto one direction, with norms well
#   below 1 (`1/√2 ≈ 0.71` each when the two share it equally). The model no longer stores
#   the two features but (a multiple of) their sum, the pair's principal component, and
#   reads a value proportional to it back for both — what PCA would do.

# %% [markdown]
# ## Summary
#
# - The toy model `ReLU(WᵀW x + b)` stores **more features than it has dimensions** once
#   features are sparse: the ReLU filters out the small negative interference that
#   superposition causes.
# - Dense features get `m` orthogonal directions and the rest are dropped; as sparsity
#   grows, features are stored as antipodal pairs and then as a pentagon in 2D.
# - Feature dimensionality `D_i` does not slide smoothly with sparsity: it **sticks** at
#   fractions such as 1/2 and 2/5, the signatures of specific geometric arrangements.
# - Whether a feature is dropped, given a dimension, or superposed is a **phase change**,
#   and comparing the expected losses of the three candidate solutions predicts the
#   phase diagram.
# - Correlation matters: anti-correlated features share directions antipodally; correlated
#   ones prefer orthogonality, or collapse onto their sum.
#
# This is why we cannot simply read a model's neurons: in superposition, a feature is a
# direction that is not a neuron, and a neuron takes part in several features. Chapter 05
# trains **sparse autoencoders** to recover such feature directions from activations.
#
# ## Questions: predict, then run
# 1. Remove the ReLU from `ToyModel.forward` and retrain the 5-feature batch. Predict how
#    many features each sparsity level represents, and why.
# 2. In the pentagon, what does the model output for feature 0 when feature 0 alone is
#    present with value 1? When features 0 and 1 are both present? Compute it by hand from
#    the angles, then run the model.
# 3. Give the 5-feature model `m = 3` hidden dimensions. Which arrangement do you expect at
#    high sparsity, and what `D_i`?
# 4. Make the importances all equal in Part 2. What changes at `S = 0`, and why is the
#    answer no longer unique?
# 5. The phase diagram's theory ignores that a superposed model can also learn a bias.
#    Would a negative bias make superposition win *more* or *less* often? Test it by
#    evaluating the loss of `W = [1, -1]` with `b = [-0.05, -0.05]` at one grid point.
# 6. The bias of a dropped feature in Part 4 should be `p/2`. Check it in `phase_model`.
# 7. Anti-correlated features are perfectly antipodal here. Predict what happens to them at
#    density 0.4 (pairs on 80% of the time), then try it.
# 8. Past the 1/2 plateau of Part 3, count the represented features at each sparsity and
#    look at their `D_i`. Does the count grow smoothly? What `D_i` would 16 features sharing
#    5 dimensions equally have?
# 9. Sparse autoencoders (chapter 05) assume each activation is a sparse combination of
#    feature directions. Which of this chapter's findings would make that hard?
