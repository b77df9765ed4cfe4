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
# # Chapter 05 — Sparse autoencoders
#
# Chapter 04 showed why we cannot read a model's neurons: in superposition, a network
# stores more features than it has dimensions, each as a *direction* shared out over many
# neurons. A **sparse autoencoder** (SAE) tries to undo this. It rewrites each activation
# vector as a sparse, non-negative combination of many learned directions — its *latents* —
# in the hope that each latent is one feature. This is the method of *Towards
# Monosemanticity* (Bricken et al., 2023) and *Scaling Monosemanticity* (Templeton et al.,
# 2024), whose "Golden Gate Claude" talked about the bridge whatever you asked it, and of
# *Scaling and evaluating sparse autoencoders* (Gao et al., 2024), which replaced the L1
# penalty with a TopK activation.
#
# You will write both kinds of SAE, check that one recovers features we planted ourselves,
# measure an SAE's health the way SAELens (the field's standard library) reports it, train
# SAEs on the course's language model `tinyworld-lm`, find latents for structures we know
# are in its training text, and steer the model with one of them.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - write a ReLU SAE with an L1 penalty (weighted by decoder norms) and a TopK SAE, and
#   their training step;
# - measure whether an SAE found the true features, when you know them, and say what goes
#   wrong with too small a dictionary or a badly chosen L1 coefficient;
# - report L0, explained variance, dead and dense latents and the CE loss recovered, with
#   SAELens's names and definitions, and revive dead latents with an auxiliary loss;
# - read a latent from its top-activating contexts, and score it as a detector against
#   ground-truth labels;
# - steer generation by clamping a latent, and measure the effect;
# - save an SAE in SAELens's folder layout and load it back.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong. Stuck for longer than the budget? The solution is in `solutions/` — read it, then
# close it and write it yourself.
#
# **Shapes.** `batch` counts activation vectors (tokens), `d_in` is their width (the
# residual stream's `d_model` here), `d_sae` the number of latents; `pos` is a position
# in a sequence.

# %%
import functools
import tempfile

import torch
from IPython.display import HTML, display
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from mi_tutorial import (
    checks,
    metrics,
    models,
    plotting,
    sae as sae_lib,
    toy_models,  # chapter 04's toy model
    train,
)
from mi_tutorial.data import tinyworld

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)

# %% [markdown]
# ## Part 1 — An SAE by hand
#
# An SAE has an encoder and a decoder. For an activation `x` (a vector of `d_in` numbers):
#
# ```
# pre = (x - b_dec) @ W_enc + b_enc        [d_sae]   the latents' pre-activations
# f   = ReLU(pre)                          [d_sae]   the latents' activations (sparse, >= 0)
# x̂   = f @ W_dec + b_dec                  [d_in]    the reconstruction
# ```
#
# Row `W_dec[i]` is latent `i`'s **direction**: `x̂` is `b_dec` plus a weighted sum of the
# directions of the latents that fire. We keep each direction at unit norm, so a latent's
# activation *is* how much of its direction the SAE puts in. Subtracting `b_dec` before the
# encoder (the *pre-encoder bias*) lets the encoder see `x` relative to the point the
# decoder starts from.
#
# Two ways to make `f` sparse:
# - **ReLU + L1** (Anthropic 2023): train with a penalty on `Σ_i f_i`, so that a latent
#   only fires when it is worth its cost;
# - **TopK** (Gao et al. 2024): keep the `k` largest pre-activations of each vector and
#   zero the rest. The sparsity is exactly `k`, with no penalty to tune.
#
# The parameter names and shapes are those of SAELens: `W_enc [d_in, d_sae]`,
# `b_enc [d_sae]`, `W_dec [d_sae, d_in]`, `b_dec [d_in]`.

# %% [markdown]
# ### Exercise 5.1 — The TopK activation
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Keep the `k` largest entries of each row of `pre` and set the others to 0. Then apply a
# ReLU to what you kept: if fewer than `k` pre-activations are positive, the negative ones
# among the kept must not fire either. `Tensor.topk` gives values and indices;
# `torch.zeros_like(...).scatter(-1, indices, values)` puts values back in place.

# %%
def topk_activation(pre: Float[Tensor, "batch d_sae"], k: int) -> Float[Tensor, "batch d_sae"]:
    """The k largest pre-activations of each row, ReLU'd, in place; zeros elsewhere."""
    ### BEGIN SOLUTION
    top = pre.topk(k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, top.indices, top.values.relu())
    ### END SOLUTION


checks.ch05.check_topk_activation(topk_activation)

# %% [markdown]
# ### Exercise 5.2 — The SAE
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# Write `encode`, `decode` and `normalize_decoder`. With `k=None` the SAE is a ReLU SAE;
# with an integer `k` it uses your `topk_activation` instead of the ReLU.
# `normalize_decoder` rescales every row of `W_dec` to unit norm, in place (under
# `torch.no_grad()`, since it is not part of the forward pass). Leave `__init__` as it is:
# it starts each latent's encoder column as a small copy of its decoder direction.

# %%
class SparseAutoencoder(nn.Module):
    def __init__(self, d_in: int, d_sae: int, k: int | None = None, seed: int = 0):
        super().__init__()
        self.d_in, self.d_sae, self.k = d_in, d_sae, k
        generator = torch.Generator().manual_seed(seed)
        W_dec = torch.randn(d_sae, d_in, generator=generator)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_enc = nn.Parameter(sae_lib.ENCODER_INIT_SCALE * W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(W_dec)
        self.b_dec = nn.Parameter(torch.zeros(d_in))

    def encode(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_sae"]:
        """Latent activations: ReLU (or TopK) of (x - b_dec) @ W_enc + b_enc."""
        ### BEGIN SOLUTION
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        return pre.relu() if self.k is None else topk_activation(pre, self.k)
        ### END SOLUTION

    def decode(self, f: Float[Tensor, "batch d_sae"]) -> Float[Tensor, "batch d_in"]:
        """The reconstruction f @ W_dec + b_dec."""
        ### BEGIN SOLUTION
        return f @ self.W_dec + self.b_dec
        ### END SOLUTION

    def forward(self, x: Float[Tensor, "batch d_in"]) -> Float[Tensor, "batch d_in"]:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Rescale each row of W_dec (a latent's direction) to unit norm, in place."""
        ### BEGIN SOLUTION
        self.W_dec /= self.W_dec.norm(dim=-1, keepdim=True)
        ### END SOLUTION


checks.ch05.check_sparse_autoencoder(SparseAutoencoder)

# %% [markdown]
# ### Exercise 5.3 — The ReLU SAE's loss
# Difficulty 2/5 · Importance 5/5 · ~10 minutes
#
# Return `(loss, mse, l1)`, three scalars:
# - `mse`: the squared reconstruction error `‖x - x̂‖²`, **summed** over `d_in` and
#   averaged over the batch;
# - `l1`: the sparsity penalty `Σ_i f_i ‖W_dec[i]‖`, averaged over the batch;
# - `loss = mse + l1_coefficient * l1`.
#
# Why weight each `f_i` by its decoder norm? Without it the SAE can cheat: halve `f_i` and
# double `W_dec[i]`, and the reconstruction is unchanged while the penalty halves — it
# would shrink every activation towards 0 and blow up the decoder. Keeping the decoder rows
# at unit norm (Exercise 5.4) blocks the cheat too; the weighted penalty (Anthropic's
# April 2024 recipe) blocks it even when they drift, and both give the same loss when the
# rows have norm 1.

# %%
def relu_sae_loss(
    sae: SparseAutoencoder, x: Float[Tensor, "batch d_in"], l1_coefficient: float
) -> tuple[Float[Tensor, ""], Float[Tensor, ""], Float[Tensor, ""]]:
    """(mse + l1_coefficient * l1, mse, l1) for the batch x."""
    ### BEGIN SOLUTION
    f = sae.encode(x)
    x_hat = sae.decode(f)
    mse = (x_hat - x).pow(2).sum(dim=-1).mean()
    l1 = (f * sae.W_dec.norm(dim=-1)).sum(dim=-1).mean()
    return mse + l1_coefficient * l1, mse, l1
    ### END SOLUTION


checks.ch05.check_relu_sae_loss(relu_sae_loss)

# %% [markdown]
# ### Exercise 5.4 — A training step
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# One step of training: compute the loss of Exercise 5.3 (a TopK SAE is trained with
# `l1_coefficient=0`: its loss is the MSE alone), take an optimizer step, and then bring
# every decoder row back to unit norm — the optimizer's update knows nothing of that
# constraint. Return the loss as a Python float.

# %%
def training_step(
    sae: SparseAutoencoder, x: Float[Tensor, "batch d_in"], optimizer: torch.optim.Optimizer, l1_coefficient: float
) -> float:
    """One optimizer step on the batch x, then renormalize the decoder; returns the loss."""
    ### BEGIN SOLUTION
    loss, _, _ = relu_sae_loss(sae, x, l1_coefficient)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    sae.normalize_decoder()
    return loss.item()
    ### END SOLUTION


checks.ch05.check_training_step(training_step)


# %% [markdown]
# A short loop around your step. It starts `b_dec` at the mean of the data (so the SAE only
# has to explain deviations from it) and draws a fresh random batch each step.

# %%
def fit(sae: SparseAutoencoder, data: Float[Tensor, "n d_in"], *, steps: int, l1_coefficient: float,
        batch_size: int = 1024, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Train `sae` on rows of `data` with your training_step; returns the losses."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.b_dec.copy_(data.mean(0))
    optimizer = torch.optim.Adam(sae.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        batch = data[torch.randint(0, len(data), (batch_size,), generator=generator)]
        losses.append(training_step(sae, batch, optimizer, l1_coefficient))
    return losses


# %% [markdown]
# ## Part 2 — Ground truth: features we planted
#
# Does an SAE find the *true* features? On a language model nobody knows them. On
# chapter 04's toy model we do: it stores `n` sparse features in `m < n` hidden dimensions,
# feature `i` along the column `W_i`, so its hidden activation `h = W x` is a sparse,
# non-negative combination of known directions — exactly what an SAE assumes.
#
# We train one toy model (40 features in 10 dimensions, each present 2.5% of the time) with
# chapter 04's toy model (`mi_tutorial.toy_models`), and collect its hidden activations.

# %%
N_FEATURES, D_HIDDEN, DENSITY = 40, 10, 0.025
feature_probability = torch.full((1, N_FEATURES), DENSITY)  # one instance
importance = torch.ones(1, N_FEATURES)

toy = nn.ParameterDict({
    "W": nn.Parameter(torch.randn(1, D_HIDDEN, N_FEATURES, generator=torch.Generator().manual_seed(0)) * 0.3),
    "b_final": nn.Parameter(torch.zeros(1, N_FEATURES)),
})
toy_history = train.train(
    toy,
    make_batch=lambda step: toy_models.generate_features(feature_probability, 512),
    loss_fn=lambda model, x: toy_models.importance_weighted_loss(
        toy_models.toy_model_forward(model["W"], model["b_final"], x), x, importance
    ).sum(),
    steps=1000,
    lr=1e-2,
    desc="toy model",
)
W_toy = toy["W"].detach()[0]  # [d_hidden feature]
represented = W_toy.norm(dim=0) > toy_models.NORM_THRESHOLD
true_directions = W_toy.T[represented]  # [feature d_hidden]: the features the model stores
features = toy_models.generate_features(feature_probability, 40_000, torch.Generator().manual_seed(1))[:, 0]
hidden = features @ W_toy.T  # [batch d_hidden]: the activations the SAE will see
print(f"toy model trained in {toy_history.seconds:.1f} s; it represents {int(represented.sum())} of "
      f"{N_FEATURES} features; a hidden vector holds {(features > 0).sum(-1).float().mean():.2f} features on average")
assert represented.sum() >= 36

# %% [markdown]
# ### Exercise 5.5 — Feature recovery
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# For each true feature, find the decoder direction closest to it (the largest cosine
# similarity with any row of `W_dec`), and return the mean of those best cosines over the
# true features. 1.0 means every feature has a latent pointing exactly its way. Compare
# *directions*: normalize both sets of vectors first.

# %%
def feature_recovery(W_dec: Float[Tensor, "d_sae d_in"], true_directions: Float[Tensor, "feature d_in"]) -> float:
    """Mean over true features of the max cosine similarity to any decoder row."""
    ### BEGIN SOLUTION
    dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
    true = true_directions / true_directions.norm(dim=-1, keepdim=True)
    cosines = true @ dec.T  # [feature d_sae]
    return cosines.max(dim=1).values.mean().item()
    ### END SOLUTION


checks.ch05.check_feature_recovery(feature_recovery)

# %% [markdown]
# Now train your SAE, with twice as many latents as there are features, on the hidden
# activations. The L1 coefficient sets the exchange rate between reconstruction and
# sparsity; 0.3 suits data of this scale (feature values are uniform on [0, 1]).

# %%
TOY_STEPS = 1000
torch.manual_seed(0)
toy_sae = SparseAutoencoder(D_HIDDEN, 2 * N_FEATURES)
fit(toy_sae, hidden, steps=TOY_STEPS, l1_coefficient=0.3)
recovery = feature_recovery(toy_sae.W_dec.detach(), true_directions)
toy_l0 = (toy_sae.encode(hidden) > 0).sum(-1).float().mean().item()
print(f"recovery {recovery:.3f}; the SAE uses {toy_l0:.2f} latents per vector "
      f"(the truth: {(features > 0).sum(-1).float().mean():.2f} features)")
assert recovery >= 0.95, "the SAE should recover the planted features"

# %% [markdown]
# How close is each feature's best latent? The matrix of cosines between true features and
# latents, with latents ordered by the feature they match best, should show one bright
# entry per row.

# %%
dec_unit = toy_sae.W_dec.detach() / toy_sae.W_dec.detach().norm(dim=-1, keepdim=True)
cos = (true_directions / true_directions.norm(dim=-1, keepdim=True)) @ dec_unit.T  # [feature d_sae]
order = cos.argmax(dim=0).argsort()  # latents sorted by the feature they resemble most
plotting.imshow(cos[:, order], xlabel="latent (sorted)", ylabel="true feature",
                title="Cosine between each true feature and each SAE latent", color_label="cosine")

# %% [markdown]
# What goes wrong when the settings are off? Three more SAEs, each with one thing changed:
# - a **dictionary too small**: 20 latents for 40 features;
# - an **L1 coefficient too small** (0.01): sparsity costs almost nothing;
# - an **L1 coefficient too large** (3.0): every activation costs more than it gains.

# %%
variants = {
    "80 latents, L1 0.3 (above)": (80, 0.3),
    "20 latents, L1 0.3": (20, 0.3),
    "80 latents, L1 0.01": (80, 0.01),
    "80 latents, L1 3.0": (80, 3.0),
}
variant_results = {}
for name, (d_sae, l1_coefficient) in variants.items():
    if d_sae == 80 and l1_coefficient == 0.3:
        sae = toy_sae
    else:
        sae = SparseAutoencoder(D_HIDDEN, d_sae)
        fit(sae, hidden, steps=TOY_STEPS, l1_coefficient=l1_coefficient)
    with torch.no_grad():
        f = sae.encode(hidden)
        ev = 1 - (sae.decode(f) - hidden).pow(2).sum() / (hidden - hidden.mean(0)).pow(2).sum()
    variant_results[name] = dict(recovery=feature_recovery(sae.W_dec.detach(), true_directions),
                                 l0=(f > 0).sum(-1).float().mean().item(), ev=ev.item())
    print(f"{name:28s} recovery {variant_results[name]['recovery']:.3f}   "
          f"L0 {variant_results[name]['l0']:5.2f}   explained variance {variant_results[name]['ev']:.3f}")
good, small, low, high = variant_results.values()
assert small["recovery"] < good["recovery"] - 0.15, "too few latents should recover fewer features"
assert low["l0"] > 2 * good["l0"] and low["recovery"] < good["recovery"] - 0.1, "a tiny L1 should give dense, mixed latents"
assert high["ev"] < good["ev"] - 0.2, "a huge L1 should wreck the reconstruction"
assert high["l0"] < 0.01 and high["recovery"] > 0.3, "the text below: a huge L1 kills every latent, recovery stays up"

# %% [markdown]
# Read the table:
# - **Too few latents**: the reconstruction can stay good, but each latent has to cover
#   several features at once — a latent pointing between two features is not either of
#   them, and the recovery drops.
# - **L1 too small**: nothing pushes the SAE to be sparse, so it reconstructs with many
#   small, mixed activations (the L0 rises far above the true number of active features)
#   and its latents are blends, not features.
# - **L1 too large**: the penalty wins outright: no latent fires at all (L0 0), the SAE
#   outputs only its decoder bias, and the reconstruction collapses. Its recovery is still
#   well above 0: recovery reads only the decoder's columns, which stay wherever they were
#   when the latents stopped firing (a dead latent gets no gradient). A recovery means
#   nothing without the L0 and the explained variance next to it.
#
# The last two show why you cannot pick the L1 coefficient by reconstruction error alone,
# nor by sparsity alone: you trade one for the other, and on real data there is no ground
# truth to tell you where the right trade is. That is why people compare SAEs on a
# *frontier* of sparsity against reconstruction (Part 4).

# %% [markdown]
# ## Part 3 — Health: the numbers everyone reports
#
# SAELens, the library most published SAEs come from, reports (names as it prints them):
# - **`l0`**: the mean number of latents active (> 0) per token. Lower is sparser.
# - **`explained_variance`**: `1 - Σ‖x - x̂‖² / Σ‖x - mean(x)‖²`, both sums over all tokens
#   and dimensions, `mean(x)` the mean activation vector. 1 is perfect; 0 is no better
#   than always outputting the mean.
# - **`feature_density`**: for each latent, the fraction of tokens on which it fires.
#   A **dead** latent never fires (SAELens's trainer counts `dead_features`: latents that
#   have not fired for a window of steps); a **dense** latent fires on more than ~10% of
#   tokens (Gao et al.'s threshold) — usually not a feature but a piece of the mean.
# - **`ce_loss_score`** (Part 4): how much of the model's loss the SAE preserves.

# %% [markdown]
# ### Exercise 5.6 — Explained variance
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Compute `explained_variance` as defined above: one number for the whole batch. Take care
# to pool the sums *before* dividing; averaging a ratio per token or per dimension gives a
# different number.

# %%
def explained_variance(x: Float[Tensor, "batch d_in"], x_hat: Float[Tensor, "batch d_in"]) -> float:
    """1 - sum of squared errors / sum of squared deviations from the mean vector."""
    ### BEGIN SOLUTION
    residual = (x - x_hat).pow(2).sum()
    total = (x - x.mean(dim=0)).pow(2).sum()
    return (1 - residual / total).item()
    ### END SOLUTION


checks.ch05.check_explained_variance(explained_variance)

# %% [markdown]
# ### Exercise 5.7 — Dead and dense latents
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# From the activations of a batch of tokens, return two boolean masks over the latents:
# dead (fires on no token) and dense (fires on more than `dense_threshold` of the tokens).

# %%
def dead_and_dense(
    f: Float[Tensor, "batch d_sae"], dense_threshold: float = 0.1
) -> tuple[Bool[Tensor, "d_sae"], Bool[Tensor, "d_sae"]]:
    """(latents that never fire, latents that fire on more than dense_threshold of the tokens)."""
    ### BEGIN SOLUTION
    density = (f > 0).float().mean(dim=0)  # feature_density
    return density == 0, density > dense_threshold
    ### END SOLUTION


checks.ch05.check_dead_and_dense(dead_and_dense)

# %% [markdown]
# ### Exercise 5.8 — Reviving dead latents: the auxiliary TopK loss
# Difficulty 3/5 · Importance 3/5 · ~20 minutes
#
# A dead latent gets no gradient: it never fires, so nothing flows back through it, and it
# stays dead. Large SAEs lose a big share of their latents this way. Two fixes:
# *resampling* (Anthropic 2023: re-initialize dead latents towards inputs the SAE
# reconstructs badly) and the **auxiliary TopK loss** (Gao et al. 2024), which you write.
#
# Give the dead latents a job: take the `k_aux` largest *pre*-activations among the dead
# latents only (the live ones must not be picked: set theirs to `-inf` before the topk),
# keep them as they are — **no ReLU**: a dead latent's pre-activations are often all
# negative, and a ReLU would leave it without a gradient again —, put them in place in a
# `[batch, d_sae]` tensor of zeros, decode **without** `b_dec`, and ask that this
# reconstruct the residual error `x - x̂` of the main SAE. Return the squared error summed
# over `d_in`, averaged over the batch. If fewer than `k_aux` latents are dead, use them
# all (asking topk for more would pick `-inf`s); if none are, return 0. The trainer adds
# this loss, times a small coefficient (1/32 in the paper), to the main loss.

# %%
def aux_k_loss(
    pre: Float[Tensor, "batch d_sae"],
    dead: Bool[Tensor, "d_sae"],
    residual: Float[Tensor, "batch d_in"],
    W_dec: Float[Tensor, "d_sae d_in"],
    k_aux: int,
) -> Float[Tensor, ""]:
    """How well the top-k_aux dead latents reconstruct the residual (0 if none is dead)."""
    ### BEGIN SOLUTION
    n_dead = int(dead.sum())
    if n_dead == 0:
        return pre.new_zeros(())
    dead_pre = pre.masked_fill(~dead, float("-inf"))  # live latents can never be picked
    top = dead_pre.topk(min(k_aux, n_dead), dim=-1)
    f_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values)  # no ReLU
    return (f_aux @ W_dec - residual).pow(2).sum(dim=-1).mean()
    ### END SOLUTION


checks.ch05.check_aux_k_loss(aux_k_loss)

# %% [markdown]
# ## Part 4 — SAEs on a language model
#
# Now the real thing, in miniature: `tinyworld-lm`, the course's 4-layer model trained on
# TinyWorld (see `docs/tinyworld.md`). We cache its residual stream in the middle, at
# `blocks.2.hook_resid_pre` (after two of its four layers), on 1,024 sequences of training
# text: 64,512 activation vectors of 128 numbers. We leave out position 0: it is always
# `<bos>`, its vector is the same in every sequence, and it is far larger than the others —
# SAELens can exclude such tokens too.

# %%
model = models.load_toy_model("tinyworld-lm")
HOOK = "blocks.2.hook_resid_pre"
D_MODEL = model.cfg.d_model


def residuals(tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream at HOOK (the forward pass stops right after it)."""
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=[HOOK], stop_at_layer=3)
    return cache[HOOK]


corpus = tinyworld.sample_corpus(1024, 64, seed=0, split="train")
train_acts = residuals(corpus.tokens)[:, 1:].reshape(-1, D_MODEL)  # [batch*63 d_model]
test_corpus = tinyworld.sample_corpus(128, 64, seed=1, split="test")
test_resid = residuals(test_corpus.tokens)  # [batch pos d_model]
test_acts = test_resid[:, 1:].reshape(-1, D_MODEL)
print(f"{len(train_acts):,} training activations; mean norm {train_acts.norm(dim=-1).mean():.1f}")

# %% [markdown]
# Training here uses the library's trainer, `sae_lib.train_sae`: the same loss and step as
# yours, with the decoder renormalized after every step, but written for speed (see
# `benchmarks/sae.py`): batches of 4,096 vectors, and for TopK a decoder that only touches
# the `k` active latents. `sae_lib.SAE` has your `SparseAutoencoder`'s parameters, with the
# SAELens config object `cfg` attached. 512 latents, 4× the width of the residual stream.
# One ReLU SAE with L1 coefficient 2, one TopK SAE with `k = 16`; each trains on 409,600
# activation vectors (100 steps of 4,096, about six passes over the cache).

# %%
D_SAE, LM_STEPS = 512, 100
LM_TRAIN = dict(steps=LM_STEPS, batch_size=4096, lr=4e-3)


def train_lm_sae(architecture: str, value: float) -> tuple[sae_lib.SAE, sae_lib.SAETrainResult]:
    """A ReLU SAE with L1 coefficient `value`, or a TopK SAE with k = `value`, trained on train_acts."""
    cfg = sae_lib.SAEConfig(
        d_in=D_MODEL, d_sae=D_SAE, architecture=architecture, k=int(value) if architecture == "topk" else None,
        model_name="tinyworld-lm", hook_name=HOOK, context_size=64,
    )
    sae = sae_lib.SAE(cfg, seed=0)
    if architecture == "topk":
        result = sae_lib.train_sae(sae, train_acts, aux_k_coefficient=1 / 32, **LM_TRAIN)
    else:
        result = sae_lib.train_sae(sae, train_acts, l1_coefficient=value, l1_warmup_steps=LM_STEPS // 10, **LM_TRAIN)
    return sae, result


relu_sae, relu_run = train_lm_sae("standard", 2.0)
print(f"ReLU SAE: {relu_run.tokens:,} vectors in {relu_run.seconds:.1f} s")

# %%
topk_sae, topk_run = train_lm_sae("topk", 16)
print(f"TopK SAE: {topk_run.tokens:,} vectors in {topk_run.seconds:.1f} s")
assert relu_run.seconds < 60 and topk_run.seconds < 60

# %% [markdown]
# Their health on held-out text, with your functions:

# %%
def health(sae, acts: Float[Tensor, "batch d_in"]) -> dict:
    with torch.no_grad():
        f = sae.encode(acts)
        dead, dense = dead_and_dense(f)
        return dict(l0=(f > 0).sum(-1).float().mean().item(), explained_variance=explained_variance(acts, sae.decode(f)),
                    dead=dead.float().mean().item(), dense=dense.float().mean().item())


relu_health, topk_health = health(relu_sae, test_acts), health(topk_sae, test_acts)
for name, h in (("ReLU, L1 2", relu_health), ("TopK, k 16", topk_health)):
    print(f"{name}: L0 {h['l0']:.1f}, explained variance {h['explained_variance']:.3f}, "
          f"dead {h['dead']:.1%}, dense {h['dense']:.1%}")
assert topk_health["explained_variance"] > 0.8 and relu_health["explained_variance"] > 0.8
assert relu_health["dense"] > 3 * topk_health["dense"]

# %% [markdown]
# The ReLU SAE needs several times more active latents for a similar explained variance,
# and many of its latents are *dense*: after 100 steps the L1 penalty has not yet switched
# off the latents that fire weakly on almost everything. TopK never has that problem: only
# 16 latents may fire, so each must earn its place.
#
# Few latents die in SAEs this small and this briefly trained (the "dead" ones above just
# did not fire on these 8,000 test tokens). To see your auxiliary loss at work, we kill
# half the latents on purpose — an encoder bias of -2 keeps them out of the top 16 — and
# train two TopK SAEs from that start, without and with the aux-k loss (coefficient 1/32,
# `k_aux = d_in / 2 = 64`, as in the paper). The trainer uses *your* `aux_k_loss`
# (`aux_k_loss=aux_k_loss`); if yours raises, it says so and uses the library's.

# %%
revival = {}
for aux_coefficient in (0.0, 1 / 32):
    sae = sae_lib.SAE(sae_lib.SAEConfig(d_in=D_MODEL, d_sae=D_SAE, architecture="topk", k=16), seed=0)
    with torch.no_grad():
        sae.b_enc[: D_SAE // 2] = -2.0
    sae_lib.train_sae(sae, train_acts, aux_k_coefficient=aux_coefficient, aux_k_loss=aux_k_loss, **LM_TRAIN)
    revival[aux_coefficient] = health(sae, test_acts)["dead"]
    print(f"aux-k coefficient {aux_coefficient:.3f}: {revival[aux_coefficient]:.0%} of the latents never fire on the test text")
assert revival[0.0] > 0.45 and revival[1 / 32] < revival[0.0] - 0.1, "the aux-k loss should revive dead latents"

# %% [markdown]
# ### Exercise 5.9 — CE loss recovered
# Difficulty 3/5 · Importance 5/5 · ~20 minutes
#
# Explained variance says how close `x̂` is to `x`, not whether the *model* still works on
# `x̂`. The test that matters: splice the SAE into the model — replace the activation at the
# hook by its reconstruction — and measure the next-token loss (`metrics.lm_loss`). Compare
# with the clean loss and with the loss when the activation is zeroed (zero-ablation, the
# "knows nothing" baseline):
#
# `ce_loss_score = (ce_loss_with_ablation - ce_loss_with_sae) / (ce_loss_with_ablation - ce_loss_without_sae)`
#
# 1 means the SAE loses nothing; 0 means it is as bad as deleting the activation. Replace
# (or zero) positions `1:` only: the SAE never saw `<bos>`, so position 0 keeps its clean
# value in every run. Return a dict with SAELens's four names, as Python floats.

# %%
def ce_loss_recovered(model, sae: nn.Module, tokens: Int[Tensor, "batch pos"], hook_name: str) -> dict[str, float]:
    """ce_loss_without_sae, ce_loss_with_sae, ce_loss_with_ablation and ce_loss_score."""
    ### BEGIN SOLUTION
    def splice(act, hook):
        act[:, 1:] = sae(act[:, 1:])
        return act

    def zero_ablate(act, hook):
        act[:, 1:] = 0.0
        return act

    with torch.no_grad():
        clean = metrics.lm_loss(model(tokens), tokens).item()
        with_sae = metrics.lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, splice)]), tokens).item()
        ablated = metrics.lm_loss(model.run_with_hooks(tokens, fwd_hooks=[(hook_name, zero_ablate)]), tokens).item()
    return {
        "ce_loss_without_sae": clean,
        "ce_loss_with_sae": with_sae,
        "ce_loss_with_ablation": ablated,
        "ce_loss_score": (ablated - with_sae) / (ablated - clean),
    }
    ### END SOLUTION


checks.ch05.check_ce_loss_recovered(ce_loss_recovered)

# %%
relu_ce = ce_loss_recovered(model, relu_sae, test_corpus.tokens, HOOK)
topk_ce = ce_loss_recovered(model, topk_sae, test_corpus.tokens, HOOK)
for name, ce in (("ReLU, L1 2", relu_ce), ("TopK, k 16", topk_ce)):
    print(f"{name}: loss clean {ce['ce_loss_without_sae']:.3f}, with the SAE {ce['ce_loss_with_sae']:.3f}, "
          f"zero-ablated {ce['ce_loss_with_ablation']:.3f}: ce_loss_score {ce['ce_loss_score']:.3f}")
assert relu_ce["ce_loss_score"] > 0.85 and topk_ce["ce_loss_score"] > 0.85

# %% [markdown]
# ### The frontier: ReLU against TopK
#
# Every SAE trades sparsity (L0) against reconstruction. To compare two *kinds* of SAE,
# train each at several settings and plot the curves: the kind whose curve lies up and to
# the left reconstructs better at the same sparsity. Two more ReLU SAEs (L1 coefficients 1
# and 4) and two more TopK SAEs (k = 8 and 32), trained exactly like the first two:

# %%
sweep = {("standard", 2.0): relu_sae, ("topk", 16): topk_sae}
for setting in [("standard", 1.0), ("standard", 4.0), ("topk", 8), ("topk", 32)]:
    sweep[setting], _ = train_lm_sae(*setting)
sweep_health = {setting: health(sae, test_acts) for setting, sae in sweep.items()}
frontier = {kind: sorted((h["l0"], h["explained_variance"]) for (architecture, _), h in sweep_health.items() if architecture == arch)
            for kind, arch in (("ReLU + L1", "standard"), ("TopK", "topk"))}
fig = plotting.line({kind: [ev for _, ev in points] for kind, points in frontier.items()}, show=False,
                    xlabel="L0 (active latents per token)", ylabel="explained variance",
                    title="Sparsity against reconstruction, 512-latent SAEs on tinyworld-lm's layer-2 residual")
for trace, points in zip(fig.data, frontier.values()):
    trace.x = [l0 for l0, _ in points]
    trace.mode = "lines+markers"
plotting.show(fig)
for kind, points in frontier.items():
    print(kind, ", ".join(f"L0 {l0:.1f}: EV {ev:.3f}" for l0, ev in points))

# %% [markdown]
# At this training budget TopK is clearly ahead: it reaches a given explained variance
# with far fewer active latents. Part of that is TopK's real advantage (Gao et al. find it
# on large models too: the L1 penalty *shrinks* every activation towards 0, costing
# reconstruction, while TopK's kept activations are free), and part is that an L1 SAE
# needs longer to sort out which latents should be off — try doubling `LM_STEPS`.

# %%
sparsest_relu_l0, sparsest_relu_ev = frontier["ReLU + L1"][0]
best_topk_ev = max(ev for l0, ev in frontier["TopK"] if l0 <= sparsest_relu_l0)
print(f"at L0 <= {sparsest_relu_l0:.1f}: best ReLU EV {sparsest_relu_ev:.3f}, best TopK EV {best_topk_ev:.3f}")
assert best_topk_ev > sparsest_relu_ev, "TopK should reconstruct better at no more active latents"

# %% [markdown]
# ## Part 5 — What do the latents mean?
#
# From here on we use the TopK SAE. The first tool: a latent's **top-activating contexts**,
# the tokens (with what comes before them) on which it fires hardest.

# %% [markdown]
# ### Exercise 5.10 — Top activations
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Given one latent's activations on a batch of sequences, `[batch, pos]`, return the `k`
# largest as `(values, rows, positions)`, largest first, where `rows[j], positions[j]` say
# where value `j` occurred. Flatten, `topk`, then turn each flat index back into a row and
# a position (`//` and `%`).

# %%
def top_activations(
    acts: Float[Tensor, "batch pos"], k: int
) -> tuple[Float[Tensor, "k"], Int[Tensor, "k"], Int[Tensor, "k"]]:
    """The k largest entries of acts: values, batch indices, positions; largest first."""
    ### BEGIN SOLUTION
    values, flat = acts.flatten().topk(k)
    n_pos = acts.shape[1]
    return values, flat // n_pos, flat % n_pos
    ### END SOLUTION


checks.ch05.check_top_activations(top_activations)

# %% [markdown]
# A small viewer: each context, its tokens shaded by the latent's activation, the token
# where it fired hardest in bold.

# %%
def show_contexts(latent: int, tokens: Int[Tensor, "batch pos"], latent_acts: Float[Tensor, "batch pos"],
                  k: int = 6, window: int = 10) -> None:
    values, rows, positions = top_activations(latent_acts, k)
    top = latent_acts.max().clamp_min(1e-8)
    lines = []
    for value, row, pos in zip(values.tolist(), rows.tolist(), positions.tolist()):
        cells = []
        for p in range(max(1, pos - window), min(tokens.shape[1], pos + 3)):
            word = tinyworld.VOCAB[int(tokens[row, p])]
            shade = float(latent_acts[row, p] / top)
            style = f"background: rgba(255, 140, 0, {shade:.2f}); padding: 0 2px;" + (" font-weight: bold;" if p == pos else "")
            cells.append(f'<span style="{style}">{word}</span>')
        lines.append(f"<div><code>{value:6.2f}</code>&nbsp; {' '.join(cells)}</div>")
    display(HTML(f"<div><b>latent {latent}</b>{''.join(lines)}</div>"))


with torch.no_grad():
    test_latents = topk_sae.encode(test_resid)  # [batch pos d_sae]
    test_latents[:, 0] = 0.0  # position 0 (<bos>) is not the SAE's business
busiest = int((test_latents > 0).float().mean((0, 1)).argmax())
show_contexts(busiest, test_corpus.tokens, test_latents[..., busiest])

# %% [markdown]
# ### Exercise 5.11 — A latent as a detector
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# We wrote TinyWorld, so for every token we know the truth: is it in a sentence about the
# bridge? Is it a name? Treat "the latent fires" as a prediction of such a label and score
# it: **precision** = of the tokens where it fires, the fraction that carry the label;
# **recall** = of the tokens that carry the label, the fraction where it fires. Return
# both as floats; return 0.0 for a ratio whose denominator is empty.

# %%
def precision_recall(fires: Bool[Tensor, "..."], labels: Bool[Tensor, "..."]) -> tuple[float, float]:
    """(P(label | fires), P(fires | label)) over all entries."""
    ### BEGIN SOLUTION
    hits = (fires & labels).sum().item()
    n_fires, n_labels = fires.sum().item(), labels.sum().item()
    precision = hits / n_fires if n_fires else 0.0
    recall = hits / n_labels if n_labels else 0.0
    return precision, recall
    ### END SOLUTION


checks.ch05.check_precision_recall(precision_recall)

# %% [markdown]
# Now hunt. For each structure, pick the latent that detects it best on the *training*
# text (highest F1, the harmonic mean of precision and recall), then report its precision
# and recall on the held-out *test* text — choosing and scoring on the same data would
# flatter it. Three structures:
# - the **bridge topic**: tokens of a topic segment about the bridge (`Corpus.topics`);
# - a **name**: tokens that are one of TinyWorld's 20 names;
# - **refusal**: at the last position of a request (`... Assistant :`), whether the
#   request is harmful — the moment the model decides between "Sure" and "I cannot".

# %%
def best_detector(latents: Float[Tensor, "... d_sae"], labels: Bool[Tensor, "..."]) -> tuple[int, float]:
    """The latent whose firing best predicts `labels` (by F1), and its F1."""
    fires = (latents > 0).flatten(0, -2).float()  # [token d_sae]
    hits = fires.T @ labels.flatten().float()  # [d_sae]
    precision = hits / fires.sum(0).clamp_min(1)
    recall = hits / labels.sum().clamp_min(1)
    f1 = 2 * precision * recall / (precision + recall).clamp_min(1e-8)
    return int(f1.argmax()), f1.max().item()


with torch.no_grad():
    train_latents = topk_sae.encode(train_acts).reshape(len(corpus.tokens), 63, D_SAE)  # positions 1..63
name_ids = torch.tensor([tinyworld.TOKEN_ID[name] for name in tinyworld.NAMES])
bridge_code = tinyworld.TOPIC_NAMES.index("bridge")


def request_latents(split: str, seed: int) -> tuple[Tensor, Tensor]:
    """The SAE's latents at the last position of harmful and harmless requests, and the labels."""
    harmful = tinyworld.requests(200, harmful=True, seed=seed, split=split)
    harmless = tinyworld.requests(200, harmful=False, seed=seed, split=split)
    with torch.no_grad():
        f = topk_sae.encode(residuals(torch.cat([harmful.tokens, harmless.tokens]))[:, -1])  # [400 d_sae]
    return f, torch.cat([harmful.harmful, harmless.harmful])


structures = {
    "bridge topic": (lambda c: c.topics[:, 1:] == bridge_code),
    "a name": (lambda c: torch.isin(c.tokens[:, 1:], name_ids)),
}
train_refusal, train_harmful = request_latents("train", seed=0)
test_refusal, test_harmful = request_latents("test", seed=1)
detectors = {}
for name, label_of in structures.items():
    latent, _ = best_detector(train_latents, label_of(corpus))
    detectors[name] = (latent, *precision_recall(test_latents[:, 1:, latent] > 0, label_of(test_corpus)))
latent, _ = best_detector(train_refusal, train_harmful)
detectors["refusal"] = (latent, *precision_recall(test_refusal[:, latent] > 0, test_harmful))
base_rates = {name: label_of(test_corpus).float().mean().item() for name, label_of in structures.items()}
base_rates["refusal"] = test_harmful.float().mean().item()
for name, (latent, precision, recall) in detectors.items():
    print(f"{name:13s} latent {latent:3d}: precision {precision:.2f} (base rate {base_rates[name]:.2f}), "
          f"recall {recall:.2f}  (held-out text)")
assert min(detectors["refusal"][1:]) > 0.9, "one latent should separate harmful from harmless requests"
for name in structures:
    latent, precision, recall = detectors[name]
    assert precision > 5 * base_rates[name] and recall > 0.3, f"the {name} latent should be a useful detector"
BRIDGE = detectors["bridge topic"][0]

# %% [markdown]
# Without ever being told what a topic, a name or a harmful request is, the SAE has
# latents for each. Refusal is one clean latent: at `Assistant :` the model has already
# decided, and one direction carries the decision (chapter 06 finds it directly). The bridge
# topic and the names are detected far above their base rates, but no single latent
# covers them: the SAE spreads them over several latents, each firing on part of the
# structure (*feature splitting*), and a latent also fires on some tokens the label calls
# negative (*repeat* segments, for one, quote topic sentences without being labelled as
# topic; Question 5 asks you to look). That is why a latent's name should always come with
# its precision and recall. Look at the bridge latent's top contexts:

# %%
show_contexts(BRIDGE, test_corpus.tokens, test_latents[..., BRIDGE])

# %% [markdown]
# ## Part 6 — Golden Gate tinyworld-lm
#
# In *Scaling Monosemanticity*, Anthropic clamped their Golden Gate Bridge feature to ten
# times its usual maximum, and Claude brought up the bridge whatever it was asked. We do
# the same: at every position, set the bridge latent's activation to a fixed value while
# the model generates, and keep the rest of the activation — including the SAE's error
# `x - x̂` — as it was.

# %% [markdown]
# ### Exercise 5.12 — Clamping a latent
# Difficulty 3/5 · Importance 4/5 · ~15 minutes
#
# Write a hook for the residual stream that sets latent `latent` to `value` at every
# position from 1 on (position 0 is `<bos>`). Changing one latent's activation from `f` to
# `value` changes the reconstruction by `(value - f) · W_dec[latent]`, so add exactly that
# to the activation: everything the SAE does not explain stays.

# %%
def clamp_latent_hook(
    act: Float[Tensor, "batch pos d_model"], hook, sae: nn.Module, latent: int, value: float
) -> Float[Tensor, "batch pos d_model"]:
    """The activation with `latent` set to `value` at positions 1:, all else unchanged."""
    ### BEGIN SOLUTION
    f = sae.encode(act[:, 1:])[..., latent]  # [batch pos-1]
    act[:, 1:] = act[:, 1:] + (value - f).unsqueeze(-1) * sae.W_dec[latent]
    return act
    ### END SOLUTION


checks.ch05.check_clamp_latent_hook(clamp_latent_hook)


# %% [markdown]
# A sampler: from a prompt, draw `n_new` tokens at temperature 1, with hooks attached to
# every forward pass (`model.hooks(...)`; the whole sequence is re-run each step, which
# costs little at this size and lets the hook see every position). Each continuation starts
# from `<bos>` and one first word ("when", "the", "people", "User"), so an unsteered model
# only sometimes writes about the bridge.

# %%
@torch.no_grad()
def sample(prompts: Int[Tensor, "batch pos"], n_new: int, fwd_hooks=(), seed: int = 0) -> Int[Tensor, "batch n_new"]:
    generator = torch.Generator().manual_seed(seed)
    tokens = prompts
    with model.hooks(fwd_hooks=list(fwd_hooks)):
        for _ in range(n_new):
            probs = model(tokens)[:, -1].softmax(dim=-1)
            tokens = torch.cat([tokens, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return tokens[:, prompts.shape[1]:]


bridge_words = {tinyworld.TOKEN_ID[w] for w, topic in tinyworld.topic_of_word().items() if topic == "bridge"}


def bridge_share(new_tokens: Int[Tensor, "batch n_new"]) -> float:
    """Fraction of the sampled tokens that are bridge-topic words."""
    return torch.isin(new_tokens, torch.tensor(sorted(bridge_words))).float().mean().item()


starts = ["when", "the", "people", "User"]  # first words of IOI, fact, topic and request segments
prompts = torch.tensor([[tinyworld.BOS_ID, tinyworld.TOKEN_ID[word]] for word in starts for _ in range(8)])  # [32 2]
max_bridge = test_latents[..., BRIDGE].max().item()
STRENGTHS = [0.0, 0.5, 1.0, 2.0, 4.0]  # multiples of the latent's largest activation on test text
shares = []
for strength in STRENGTHS:
    hooks = [] if strength == 0 else [(HOOK, functools.partial(clamp_latent_hook, sae=topk_sae, latent=BRIDGE, value=strength * max_bridge))]
    continuation = sample(prompts, 20, hooks, seed=0)
    shares.append(bridge_share(continuation))
    if strength in (0.0, STRENGTHS[-1]):
        print(f"clamp {strength}× max: {tinyworld.decode(continuation[1])}")
plotting.line(shares, x=STRENGTHS, xlabel="clamped activation (× the latent's max on test text)",
              ylabel="share of bridge-topic words", title="Clamping the bridge latent while sampling")
print("bridge-word share by strength:", ", ".join(f"{s}×: {v:.1%}" for s, v in zip(STRENGTHS, shares)))
assert shares[-1] > 3 * shares[0] and shares[-1] > 0.2, "clamping the bridge latent should make the text about the bridge"

# %% [markdown]
# Without steering a few percent of the words are bridge words (the model sometimes
# starts a bridge paragraph by itself); clamped at several times its natural maximum, the
# latent drags the text to the bridge whatever the prompt. Push further and the text
# degrades: the residual stream gets a vector far larger than anything the later layers
# were trained on.

# %% [markdown]
# ## Part 7 — Sharing an SAE: SAELens's folder layout
#
# SAELens saves an SAE as a folder with two files: `cfg.json` (the config) and
# `sae_weights.safetensors` (the tensors `W_enc`, `b_enc`, `W_dec`, `b_dec`). The fields
# of `cfg.json` we write: `d_in`, `d_sae`, `architecture` (`"standard"` or `"topk"`), `k`
# (TopK only), `dtype`, `device`, `apply_b_dec_to_input` (true: `b_dec` is subtracted
# before the encoder, as ours does), `normalize_activations` (`"none"`: we feed raw
# activations), and under `metadata` where the activations came from: `model_name`,
# `hook_name`, `hook_head_index`, `context_size`, `prepend_bos`. `sae_lib.save_sae_lens` and
# `sae_lib.load_sae_lens` write and read it without needing SAELens itself.

# %%
folder = sae_lib.save_sae_lens(topk_sae, tempfile.mkdtemp() + "/tinyworld-lm-topk16")
print(sorted(p.name for p in folder.iterdir()))
print((folder / "cfg.json").read_text())
loaded = sae_lib.load_sae_lens(folder)
with torch.no_grad():
    same = torch.equal(loaded.encode(test_acts), topk_sae.encode(test_acts))
print("loaded SAE gives the same latents:", same)
assert same and loaded.cfg.hook_name == HOOK and loaded.cfg.k == 16

# %% [markdown]
# ## Summary
#
# - An SAE writes an activation as a sparse, non-negative sum of learned unit directions.
#   ReLU + L1 buys sparsity with a penalty (weighted by decoder norms, or with the decoder
#   kept at unit norm, so it cannot be dodged by rescaling); TopK sets it directly.
# - On a toy model with planted features, an SAE with enough latents and the right L1
#   recovers them almost exactly; too few latents merge features, too little L1 mixes
#   them, too much L1 loses them.
# - Report `l0`, `explained_variance`, dead and dense latents, and `ce_loss_score` —
#   SAELens's names — and compare SAE kinds on the L0 / explained-variance frontier.
# - Latents found without labels detect structures we know are there (a topic, names,
#   harmful requests), and clamping one steers what the model writes.
#
# Chapter 06 finds the refusal behaviour as a single direction, then trains a TopK SAE of
# its own at the layer where it reads that direction (not the SAE you trained here) and
# compares the direction with that SAE's best refusal latent.
#
# ## Questions: predict, then run
# 1. Train the toy SAE with 40 latents (exactly one per feature). Predict the recovery,
#    then check. Why might an SAE *want* more latents than there are features?
# 2. Remove `normalize_decoder` from your training step and use the *plain* L1 penalty
#    `Σ f_i`. What happens to the decoder norms and to the L0 over training?
# 3. TopK with `k = 1` on the toy model: what does each latent become?
# 4. The CE loss score of a zero-ablation is 0 by definition. What would *mean*-ablation
#    (replacing the activation by its average) score, roughly, and why is zero-ablation a
#    harsh baseline for the residual stream?
# 5. The bridge latent's precision is below 1. Look at its false positives on the test text
#    (where it fires outside bridge sentences): what are they?
# 6. Clamp the *name* latent instead. Predict what the generated text looks like.
# 7. Train the ReLU SAE for twice as many steps. Which way does its point move on the
#    frontier?
