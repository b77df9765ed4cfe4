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
# # Chapter 09 — A world model: a board-game transformer that was never shown the board
#
# Train a transformer on nothing but the move sequences of a board game, and ask: does it
# keep track of the board? Li et al. (2023), *Emergent World Representations*, trained
# "OthelloGPT" on Othello games and found the board state recoverable from its residual
# stream, and editing that representation changed the moves it predicted. Nanda, Lee &
# Wattenberg (2023), *Emergent Linear Representations in World Models of Self-Supervised
# Sequence Models*, then showed that the board is **linear** if you ask in the right basis:
# not "black / white / empty" but "mine / theirs / empty", relative to the player to move.
#
# ARENA teaches this on a downloaded 8-layer OthelloGPT with a GPU. This course trains its
# own: a 4-layer model with d_model 64 on **6×6 Othello** (`mi-tutorial train othello-6x6`,
# about 20 CPU-minutes), and every number below is measured in this notebook.
#
# **Time budget:** 2 hours
#
# **You will be able to**
# - measure how often a sequence model's predictions are legal moves, on its own games and on
#   games of a different player;
# - train linear probes for the board at every layer, in two bases, and show which basis is
#   linear; train a non-linear probe for the other;
# - probe for "flipped by the last move" and "is a legal move", scored by balanced accuracy;
# - edit the residual stream along a probe direction and score, with the game engine, whether
#   the model's moves become those of the edited board, against a random-direction control;
# - find a neuron whose activity matches a board feature, and test it with the probe and an
#   ablation.
#
# **How the exercises work.** Each exercise has a heading with its difficulty and
# importance (1–5) and a time budget. Write your code where it says
# `raise NotImplementedError()`, then run the cell: the check under your code prints one
# line when you are right, and otherwise tells you which case failed and what is probably
# wrong.
#
# **Shapes.** `batch` counts games, `pos` the positions of a game (32: position t has read
# BOS and the first t moves, and predicts move t + 1), `square` the 36 squares, `d_model`
# the residual stream's width (64), `class` a probe's classes.

# %%
import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor, nn

from mi_tutorial import checks, models, plotting, train
from mi_tutorial.course.recipes import othello as recipe
from mi_tutorial.data import othello

train.use_one_thread()  # why: see its docstring (help(train.use_one_thread))
_ = torch.manual_seed(0)  # (assigned, so the cell does not display the generator it returns)
model = models.load_toy_model("othello-6x6")
manifest = models.read_manifest()["othello-6x6"]["metrics"]
N_LAYERS, D_MODEL = model.cfg.n_layers, model.cfg.d_model

# %% [markdown]
# ## Part 1 — The model plays legally
#
# A game is a list of squares (0–35, written "A1" … "F6"); black moves first, a player with
# no legal move passes (the pass is not written). The library holds the rules: `othello.Game`
# plays and renders a game, `othello.game_batch` replays many games and stacks, for every
# position, the board, the player to move, the legal moves and the squares the last move
# flipped. The model reads BOS and the moves; it was trained to put its probability on the
# legal next moves (the games are uniformly random, so that is what predicting the next move
# means). It never saw a board.

# %%
game = othello.Game()
for square in othello.random_games(1, seed=7)[0][:6]:
    game.play(square)
print(f"after 6 moves, {game.color()} to move (* marks a legal move):\n{game.render()}")
eval_games = othello.random_games(400, seed=recipe.EVAL_SEED)  # held out: never trained on
evals = othello.game_batch(eval_games)
print("tokens", tuple(evals.tokens.shape), "boards", tuple(evals.boards.shape))
print("first game's tokens:", evals.tokens[0, :10].tolist(), "...")

# %% [markdown]
# ### Exercise 9.1 — The legal-move rate
# Difficulty 1/5 · Importance 5/5 · ~10 minutes
#
# `logits` is the model's output [batch, pos, square], `legal` the legal moves at each
# position [batch, pos, square]. Return, as a Python float, the share of the model's top-1
# predictions that are legal, counted over the positions where the game is not over (some
# square is legal); positions after the end of a game are padding and do not count.


# %%
def legal_top1_rate(
    logits: Float[Tensor, "batch pos square"], legal: Bool[Tensor, "batch pos square"]
) -> float:
    """Share of top-1 predictions that are legal, over positions with a legal move."""
    ### BEGIN SOLUTION
    valid = legal.any(-1)
    top = logits.argmax(-1, keepdim=True)
    hits = legal.gather(-1, top).squeeze(-1)
    return hits[valid].float().mean().item()
    ### END SOLUTION


checks.ch09.check_legal_top1_rate(legal_top1_rate)

# %%
with torch.no_grad():
    eval_logits = model(evals.inputs)
rate = legal_top1_rate(eval_logits, evals.legal)
print(
    f"held-out random games: {rate:.2%} of top-1 predictions legal "
    f"(the manifest, on 2000 games: {manifest['heldout_legal_top1']:.2%})"
)
by_ply = torch.tensor(
    [legal_top1_rate(eval_logits[:, t : t + 1], evals.legal[:, t : t + 1]) for t in range(32)]
)
plotting.line(by_ply, title="Legal top-1 rate by position", xlabel="moves played", ylabel="rate")
assert abs(rate - manifest["heldout_legal_top1"]) < 0.01

# %% [markdown]
# **Positions it never saw.** Under random play, a particular sequence of t moves has
# probability Π 1/(number of legal moves) over its t positions, so the expected number of
# the 100,000 training games that begin with a held-out game's first t moves is 100,000
# times that product. Past a few moves it is far below one: from there on, the rates above
# are about prefixes the model never saw.

# %%
log_prob = -evals.legal.sum(-1).clamp(min=1).double().log().cumsum(-1)  # [batch, pos]
expected_copies = recipe.N_TRAIN_GAMES * log_prob.median(0).values.exp()  # per prefix length
unseen_from = int((expected_copies < 0.01).nonzero()[0]) + 1  # moves played
late_rate = legal_top1_rate(eval_logits[:, unseen_from:], evals.legal[:, unseen_from:])
print(
    f"a median held-out prefix of {unseen_from} moves is expected in "
    f"{expected_copies[unseen_from - 1]:.4f} training games; legal top-1 from there on: "
    f"{late_rate:.2%}"
)
assert unseen_from <= 12 and late_rate > 0.95

# %% [markdown]
# A harder test: games of a *different player*, one that always plays a move flipping the
# most discs. Its positions follow other statistics than random play's (the boards are
# more lopsided, measured below as the mean |black − white| disc count).

# %%
greedy = othello.game_batch(othello.greedy_games(400, seed=1))
with torch.no_grad():
    greedy_rate = legal_top1_rate(model(greedy.inputs), greedy.legal)
lopsided = lambda b: b.boards.flatten(-2).sum(-1).abs()[b.valid].float().mean().item()
print(
    f"greedy player's games: {greedy_rate:.2%} legal (random games: {rate:.2%}); "
    f"mean |black - white| on the board: {lopsided(greedy):.1f} vs {lopsided(evals):.1f}"
)
assert greedy_rate > 0.9 and lopsided(greedy) > lopsided(evals)

# %% [markdown]
# ## Part 2 — Probing for the board
#
# A **probe** is a small classifier trained to read a property from a layer's activations.
# Here: for every square, is it empty, black or white? A linear probe is a matrix
# W [d_model, square, class] and a bias b [square, class]: the logits of square s are
# `acts @ W[:, s] + b[s]`. We read the residual stream at five points (`recipe.READ_POINTS`:
# the embeddings, then after each of the four blocks), fit probes on 300 games and score them
# on 300 others.

# %%
probe_games = othello.game_batch(othello.random_games(600, seed=recipe.PROBE_SEED))
resid = recipe.residuals(model, probe_games.inputs)  # [point, batch, pos, d_model]
TRAIN, TEST = slice(0, 300), slice(300, 600)
valid = probe_games.valid


def positions(x: Tensor, rows: slice) -> Tensor:
    """The positions of games `rows` where the game is not over, flattened: [n, ...]."""
    return x[rows][valid[rows]]


print(f"{len(recipe.READ_POINTS)} read points; {positions(valid, TRAIN).numel()} train positions")

# %% [markdown]
# ### Exercise 9.2 — The board as classes, in two bases
# Difficulty 1/5 · Importance 4/5 · ~10 minutes
#
# `boards` [..., 6, 6] holds 1 (black), −1 (white), 0 (empty); `players` [...] the player to
# move (1 or −1). Return an int64 tensor [..., 36] of classes, one per square (row-major):
# 0 empty everywhere, and with `relative=False` 1 black, 2 white; with `relative=True`
# 1 for the player to move ("mine"), 2 for the other ("theirs").


# %%
def board_classes(
    boards: Int[Tensor, "... 6 6"], players: Int[Tensor, "..."], relative: bool
) -> Int[Tensor, "... square"]:
    """Per-square classes: 0 empty, 1 black / mine, 2 white / theirs."""
    ### BEGIN SOLUTION
    states = boards.long().flatten(-2)
    if relative:
        states = states * players.long()[..., None]
    return torch.where(states == 1, 1, torch.where(states == -1, 2, 0))
    ### END SOLUTION


checks.ch09.check_board_classes(board_classes)

# %% [markdown]
# ### Exercise 9.3 — The probe's loss
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Return the probe's mean cross-entropy over all positions and all squares: the logits are
# `einsum(acts, W)` + `b`, [n, square, class], against `labels` [n, square]. A 0-d float32
# tensor that training can differentiate (through W and b).


# %%
def probe_loss(
    W: Float[Tensor, "d_model square n_class"],
    b: Float[Tensor, "square n_class"],
    acts: Float[Tensor, "n d_model"],
    labels: Int[Tensor, "n square"],
) -> Float[Tensor, ""]:
    """Mean cross-entropy of the linear probe over positions and squares."""
    ### BEGIN SOLUTION
    logits = torch.einsum("nd,dsc->nsc", acts, W) + b
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())
    ### END SOLUTION


checks.ch09.check_probe_loss(probe_loss)

# %% [markdown]
# ### Exercise 9.4 — Accuracy per square
# Difficulty 1/5 · Importance 3/5 · ~5 minutes
#
# Return the probe's accuracy on each square, [square] float32: the share of positions where
# the class with the largest logit is the label.


# %%
def square_accuracy(
    W: Float[Tensor, "d_model square n_class"],
    b: Float[Tensor, "square n_class"],
    acts: Float[Tensor, "n d_model"],
    labels: Int[Tensor, "n square"],
) -> Float[Tensor, " square"]:
    """Per-square accuracy of the linear probe's argmax."""
    ### BEGIN SOLUTION
    predicted = (torch.einsum("nd,dsc->nsc", acts, W) + b).argmax(-1)
    return (predicted == labels).float().mean(0)
    ### END SOLUTION


checks.ch09.check_square_accuracy(square_accuracy)

# %% [markdown]
# Now a probe per read point and basis. `recipe.fit_probe(parameters, loss_fn, acts, labels)`
# runs 60 full-batch Adam steps on your loss (about 2 s a probe).


# %%
def fit_linear(acts: Tensor, labels: Tensor, n_class: int) -> tuple[Tensor, Tensor]:
    W, b = torch.zeros(D_MODEL, labels.shape[-1], n_class), torch.zeros(labels.shape[-1], n_class)
    recipe.fit_probe([W, b], lambda x, y: probe_loss(W, b, x, y), acts, labels)
    return W, b


BASES = {"black / white / empty": False, "mine / theirs / empty": True}
board_probes, board_acc = {}, {}
for basis, relative in BASES.items():
    labels = board_classes(probe_games.boards, probe_games.players, relative)
    for point in range(len(recipe.READ_POINTS)):
        W, b = fit_linear(positions(resid[point], TRAIN), positions(labels, TRAIN), 3)
        board_probes[basis, point] = W, b
        board_acc[basis, point] = square_accuracy(
            W, b, positions(resid[point], TEST), positions(labels, TEST)
        )
acc_by_point = {
    basis: torch.stack([board_acc[basis, p].mean() for p in range(len(recipe.READ_POINTS))])
    for basis in BASES
}
for basis, values in acc_by_point.items():
    print(f"{basis:>22}: " + " ".join(f"{v:.3f}" for v in values.tolist()))
plotting.line(
    acc_by_point,
    x=["embed"] + [f"after block {layer}" for layer in range(N_LAYERS)],
    title="Linear probe accuracy (held-out games, mean over squares)",
    ylabel="accuracy",
)

# %%
color, mine = acc_by_point["black / white / empty"], acc_by_point["mine / theirs / empty"]
BEST = int(mine.argmax())  # the read point where the board is most linear
print(
    f"best read point {recipe.READ_POINTS[BEST]}: mine/theirs {mine[BEST]:.3f}, "
    f"black/white {color[BEST]:.3f}; at the embeddings {mine[0]:.3f} / {color[0]:.3f}"
)
assert BEST > 0 and mine[BEST] > color.max() + 0.05
plotting.imshow_grid(
    torch.stack([board_acc[basis, BEST].view(6, 6) for basis in BASES]),
    titles=list(BASES),
    title=f"Accuracy per square at {recipe.READ_POINTS[BEST]}",
    x=list("ABCDEF"),
    y=[str(r) for r in range(1, 7)],
    color_label="accuracy",
    diverging=False,
)

# %% [markdown]
# Only the empty/occupied distinction is easy in both bases (a square is occupied once it
# has been played, and the four centre squares from the start): what tells the bases apart
# is the colour of the occupied squares. Score the probes there alone.

# %%
occupied = {}
for basis, relative in BASES.items():
    labels = positions(board_classes(probe_games.boards, probe_games.players, relative), TEST)
    W, b = board_probes[basis, BEST]
    predicted = (torch.einsum("nd,dsc->nsc", positions(resid[BEST], TEST), W) + b).argmax(-1)
    mask = labels != 0
    occupied[basis] = (predicted[mask] == labels[mask]).float().mean().item()
    empty_or_not = ((predicted == 0) == ~mask).float().mean().item()
    print(
        f"{basis:>22}: accuracy on occupied squares {occupied[basis]:.3f}; "
        f"empty or occupied right {empty_or_not:.3f}"
    )
    assert empty_or_not > 0.95, "the empty/occupied distinction is easy in both bases"
assert occupied["mine / theirs / empty"] > occupied["black / white / empty"] + 0.1
assert occupied["black / white / empty"] < 0.65  # two colours: a coin flip would score 0.5

# %% [markdown]
# On the occupied squares the black/white probe is close to a coin flip, while mine/theirs
# gets most of them: the colour of a disc is not linear in the residual stream, its owner
# relative to the player to move is.

# %% [markdown]
# ### Exercise 9.5 — A non-linear probe
# Difficulty 2/5 · Importance 4/5 · ~15 minutes
#
# Black/white is not linear, but it is still in there: whose turn it is depends only on the
# position's parity (and the passes), so black/white = mine/theirs times a sign the model
# knows. A probe with one hidden layer can multiply. Write `MLPProbe`: `self.hidden`, an
# `nn.Linear(d_model, d_hidden)`, a ReLU, then `self.out`, an `nn.Linear(d_hidden,
# n_square * n_class)`; `forward` returns logits [n, square, class].


# %%
class MLPProbe(nn.Module):
    def __init__(self, d_model: int, d_hidden: int, n_square: int, n_class: int):
        super().__init__()
        ### BEGIN SOLUTION
        self.hidden = nn.Linear(d_model, d_hidden)
        self.out = nn.Linear(d_hidden, n_square * n_class)
        self.shape = (n_square, n_class)
        ### END SOLUTION

    def forward(self, acts: Float[Tensor, "n d_model"]) -> Float[Tensor, "n square n_class"]:
        ### BEGIN SOLUTION
        return self.out(F.relu(self.hidden(acts))).view(-1, *self.shape)
        ### END SOLUTION


checks.ch09.check_mlp_probe(MLPProbe)

# %%
color_labels = board_classes(probe_games.boards, probe_games.players, relative=False)
torch.manual_seed(0)
mlp_probe = MLPProbe(D_MODEL, 256, 36, 3)
train_x, train_y = positions(resid[BEST], TRAIN), positions(color_labels, TRAIN)
recipe.fit_probe(
    mlp_probe.parameters(),
    lambda x, y: F.cross_entropy(mlp_probe(x).flatten(0, 1), y.flatten()),
    train_x,
    train_y,
    steps=150,
    lr=0.01,
)
test_y = positions(color_labels, TEST)
with torch.no_grad():
    mlp_pred = mlp_probe(positions(resid[BEST], TEST)).argmax(-1)
mlp_acc = (mlp_pred == test_y).float().mean().item()
mlp_occupied = (mlp_pred[test_y != 0] == test_y[test_y != 0]).float().mean().item()
print(
    f"black/white/empty at {recipe.READ_POINTS[BEST]}: MLP probe {mlp_acc:.3f} "
    f"(occupied squares {mlp_occupied:.3f}); linear {color[BEST]:.3f} "
    f"({occupied['black / white / empty']:.3f}); linear mine/theirs {mine[BEST]:.3f}"
)
assert mlp_occupied > occupied["black / white / empty"] + 0.05

# %% [markdown]
# ## Part 3 — More of the world
#
# Two more board features, both binary per square: **flipped**, the discs the last move
# turned over, and **legal**, the moves the player to move may play. Both are rare on most
# squares (a move flips a few discs; a few squares are legal), so plain accuracy rewards a
# probe that always says "no". Score them with **balanced accuracy**, the mean of the
# accuracy on the positives and on the negatives (0.5 for a constant guess).

# %% [markdown]
# ### Exercise 9.6 — Balanced accuracy per square
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# `scores` [n, square]: the probe says "yes" where the score is > 0. Return, per square, the
# mean of the true-positive rate and the true-negative rate as a float32 tensor [square];
# NaN on a square whose targets are all True or all False (one of the rates is undefined).


# %%
def balanced_accuracy(
    scores: Float[Tensor, "n square"], targets: Bool[Tensor, "n square"]
) -> Float[Tensor, " square"]:
    """Per-square (TPR + TNR) / 2 of the prediction scores > 0; NaN if a class is absent."""
    ### BEGIN SOLUTION
    predicted = scores > 0
    positives, negatives = targets.sum(0).float(), (~targets).sum(0).float()
    tpr = (predicted & targets).sum(0) / positives
    tnr = (~predicted & ~targets).sum(0) / negatives
    result = (tpr + tnr) / 2
    return torch.where((positives > 0) & (negatives > 0), result, torch.nan).float()
    ### END SOLUTION


checks.ch09.check_balanced_accuracy(balanced_accuracy)

# %%
FEATURES = {"flipped by the last move": probe_games.flipped, "legal move": probe_games.legal}
feature_probes, feature_acc = {}, {}
for name, feature in FEATURES.items():
    labels = feature.long()
    for point in range(len(recipe.READ_POINTS)):
        W, b = fit_linear(positions(resid[point], TRAIN), positions(labels, TRAIN), 2)
        feature_probes[name, point] = W, b
        logits = torch.einsum("nd,dsc->nsc", positions(resid[point], TEST), W) + b
        feature_acc[name, point] = balanced_accuracy(
            logits[..., 1] - logits[..., 0], positions(feature, TEST)
        )
feature_by_point = {
    name: torch.stack([feature_acc[name, p].nanmean() for p in range(len(recipe.READ_POINTS))])
    for name in FEATURES
}
for name, values in feature_by_point.items():
    print(f"{name:>25}: " + " ".join(f"{v:.3f}" for v in values.tolist()))
plotting.line(
    feature_by_point,
    x=["embed"] + [f"after block {layer}" for layer in range(N_LAYERS)],
    title="Binary probes: balanced accuracy (held-out, mean over squares)",
    ylabel="balanced accuracy",
)
flipped_best = feature_by_point["flipped by the last move"].max().item()
legal_late = feature_by_point["legal move"][-1].item()
assert legal_late > 0.9 and flipped_best < 0.75 and legal_late > flipped_best + 0.15
assert (feature_by_point["legal move"].diff() > 0).all(), "'legal' rises block by block"

# %% [markdown]
# "Legal move" is read well late in the network (balanced accuracy above 0.9 after the last
# block, rising block by block: the model computes it as it goes), while "flipped by the last
# move" stays weak at every read point: what was just flipped is not held in a linear form.

# %% [markdown]
# ## Part 4 — Intervening on the world model
#
# A probe that reads the board shows the information is *there*; it does not show the model
# *uses* it. Li et al. tested that by editing: change the representation of one square, and
# see whether the model's predicted moves become the legal moves of the edited board. With a
# linear probe the edit is a vector: to turn square s from "theirs" into "mine", add a
# multiple of W[:, s, mine] − W[:, s, theirs] to the residual stream.

# %% [markdown]
# ### Exercise 9.7 — The edit vector
# Difficulty 1/5 · Importance 4/5 · ~5 minutes
#
# Return `scale` times the unit vector along W[:, square, to_class] − W[:, square,
# from_class]: [d_model] float32.


# %%
def edit_vector(
    W: Float[Tensor, "d_model square n_class"],
    square: int,
    from_class: int,
    to_class: int,
    scale: float,
) -> Float[Tensor, " d_model"]:
    """scale * unit(W[:, square, to_class] - W[:, square, from_class])."""
    ### BEGIN SOLUTION
    direction = W[:, square, to_class] - W[:, square, from_class]
    return scale * direction / direction.norm()
    ### END SOLUTION


checks.ch09.check_edit_vector(edit_vector)

# %% [markdown]
# ### Exercise 9.8 — Run the model with an edit
# Difficulty 2/5 · Importance 5/5 · ~15 minutes
#
# Run `model` on `tokens` [batch, pos] with a forward hook on `hook_name` (a residual-stream
# hook such as "blocks.1.hook_resid_post") that adds `vectors[i]` to game i's **last
# position** only. Return the logits at the last position, [batch, square]. Leave the model
# without hooks afterwards (`model.run_with_hooks` does).


# %%
def logits_with_edit(
    model, tokens: Int[Tensor, "batch pos"], hook_name: str, vectors: Float[Tensor, "batch d_model"]
) -> Float[Tensor, "batch square"]:
    """Last-position logits with vectors added to the residual stream at the last position."""

    ### BEGIN SOLUTION
    def add(resid, hook):
        resid = resid.clone()
        resid[:, -1] += vectors
        return resid

    with torch.no_grad():
        return model.run_with_hooks(tokens, fwd_hooks=[(hook_name, add)])[:, -1]
    ### END SOLUTION


checks.ch09.check_logits_with_edit(logits_with_edit)

# %% [markdown]
# ### Exercise 9.9 — Score the predicted moves
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# For each row, let n be the number of legal moves in `legal` [batch, square]. Take the
# model's n highest-logit squares and return how many of them are **not** legal: an int64
# tensor [batch] (0 means the model's top n are exactly the legal moves). Ties do not occur
# with real logits.


# %%
def top_n_errors(
    logits: Float[Tensor, "batch square"], legal: Bool[Tensor, "batch square"]
) -> Int[Tensor, " batch"]:
    """Per row: of the top-n squares (n = number of legal moves), how many are illegal."""
    ### BEGIN SOLUTION
    n = legal.sum(-1)
    ranks = logits.argsort(-1, descending=True).argsort(-1)  # rank of each square, 0 = top
    in_top = ranks < n[:, None]
    return (in_top & ~legal).sum(-1)
    ### END SOLUTION


checks.ch09.check_top_n_errors(top_n_errors)

# %% [markdown]
# The experiment. From held-out games, take positions (after 10 to 25 moves) and, in each,
# an occupied square whose colour, flipped, changes the legal moves of the player to move.
# The engine gives the edited board's legal moves. Edit the residual stream at the last
# position along the mine/theirs probe of that read point, and count the errors of the
# model's top n against the edited board's moves — and, as a control, after an edit of the
# same size along a random direction.


# %%
def edit_cases(batch, rows, first=10, last=25):
    """(game, ply, square, from_class, to_class, legal after the edit) for flippable squares."""
    cases = []
    for g in rows:
        for t in range(first, last + 1, 5):
            if not batch.valid[g, t]:
                continue
            board, player = batch.boards[g, t].flatten().tolist(), int(batch.players[g, t])
            before = set(othello.legal_moves(board, player))
            for s in range(36):
                if board[s] == 0:
                    continue
                edited = list(board)
                edited[s] = -edited[s]
                after = set(othello.legal_moves(edited, player))
                if after and after != before:
                    relative = board[s] * player  # 1 mine, -1 theirs
                    cls = 1 if relative == 1 else 2
                    mask = torch.zeros(36, dtype=torch.bool)
                    mask[list(after)] = True
                    cases.append((g, t, s, cls, 3 - cls, mask))
                    break
    return cases


cases = edit_cases(probe_games, range(300, 450))
tokens_at = [probe_games.inputs[g, : t + 1] for g, t, *_ in cases]
by_ply: dict[int, list[int]] = {}  # positions of the same length run as one batch
for i, (_, t, *_) in enumerate(cases):
    by_ply.setdefault(t, []).append(i)
legal_before = torch.stack([probe_games.legal[g, t] for g, t, *_ in cases])
legal_after = torch.stack([case[5] for case in cases])


def edited_errors(point: int, scale: float, control: bool = False) -> tuple[Tensor, Tensor]:
    """Errors of the top n against the edited and the original board, per case, after an edit
    at read point `point` along the mine/theirs probe (or a random direction of that size)."""
    W = board_probes["mine / theirs / empty", point][0]
    gen = torch.Generator().manual_seed(point)
    logits = torch.zeros(len(cases), 36)
    for idx in by_ply.values():
        vectors = torch.stack([edit_vector(W, *cases[i][2:5], scale) for i in idx])
        if control:
            noise = torch.randn(vectors.shape, generator=gen)
            vectors = scale * noise / noise.norm(dim=-1, keepdim=True)
        tokens = torch.stack([tokens_at[i] for i in idx])
        logits[idx] = logits_with_edit(model, tokens, recipe.READ_POINTS[point], vectors)
    return top_n_errors(logits, legal_after).float(), top_n_errors(logits, legal_before).float()


SCALE = 4.0  # the residual stream's norm is ~7-17 after the blocks: a sizeable but not huge edit
none_after, none_before = edited_errors(1, 0.0)
print(
    f"{len(cases)} edits. No edit: {none_after.mean():.2f} errors against the edited board "
    f"({(none_after == 0).float().mean():.0%} exact), {none_before.mean():.2f} against the "
    "original"
)
results, against_original = {}, {}
for point in range(1, len(recipe.READ_POINTS)):
    (after, before), (ctrl, _) = edited_errors(point, SCALE), edited_errors(point, SCALE, True)
    results[point] = (after == 0).float().mean().item(), (ctrl == 0).float().mean().item()
    against_original[point] = before.mean().item()
    print(
        f"edit at {recipe.READ_POINTS[point]:>24}: probe direction {after.mean():.2f} errors "
        f"({results[point][0]:.0%} exact; {before.mean():.2f} against the original board), "
        f"random direction {ctrl.mean():.2f} ({results[point][1]:.0%} exact)"
    )
EDIT_AT = max(results, key=lambda p: results[p][0])
exact_probe, exact_random = results[EDIT_AT]
exact_none = (none_after == 0).float().mean().item()
assert exact_probe > max(1.5 * exact_random, exact_none + 0.05)
assert against_original[EDIT_AT] > none_before.mean().item(), "errors against the old board rise"
assert exact_probe < 0.5, "most edited positions are not fully converted"
assert 0 < EDIT_AT < len(recipe.READ_POINTS) - 1, "the best place to edit is mid-network"
assert 0 < BEST < len(recipe.READ_POINTS) - 1, "the board is most linear mid-network"

# %% [markdown]
# The edit works, partly. Along the probe direction, the model's top moves match the edited
# board exactly far more often than with no edit or with a random edit of the same size, and
# its errors against the *original* board go up: the predictions moved from the old board
# to the new one. But most edited positions are not fully converted. Where the edit is made
# matters (the board is most linear mid-network), and the size matters too: try the scales
# below. This is a smaller effect than Li et al.'s on 8×8 OthelloGPT, which edited every layer
# from one on and chose the step size per position; with one linear edit at one place, this
# is what we measured.

# %%
scales = [1.0, 2.0, 4.0, 8.0, 16.0]
exact_by_scale = {
    "probe direction": [(edited_errors(EDIT_AT, s)[0] == 0).float().mean() for s in scales],
    "random direction": [(edited_errors(EDIT_AT, s, True)[0] == 0).float().mean() for s in scales],
}
plotting.line(
    exact_by_scale,
    x=scales,
    title=f"Edits at {recipe.READ_POINTS[EDIT_AT]}: top-n moves = the edited board's",
    xlabel="edit size",
    ylabel="share exact",
)
best_scale = scales[int(torch.stack(exact_by_scale["probe direction"]).argmax())]
print(f"best size {best_scale}: {max(exact_by_scale['probe direction']):.0%} exact")
assert exact_by_scale["probe direction"][-1] < max(exact_by_scale["probe direction"])

# %% [markdown]
# ## Part 5 — One mechanism read off
#
# Which neurons read the board? Correlate every MLP neuron's activation with a board feature,
# over the held-out positions, and look at the best match.

# %% [markdown]
# ### Exercise 9.10 — Neuron–feature correlation
# Difficulty 2/5 · Importance 3/5 · ~10 minutes
#
# Return the Pearson correlation of each neuron's activation (`acts` [n, neuron]) with
# `feature` [n] (float): a float32 tensor [neuron]; 0 for a neuron that never varies.


# %%
def neuron_correlation(
    acts: Float[Tensor, "n neuron"], feature: Float[Tensor, " n"]
) -> Float[Tensor, " neuron"]:
    """Pearson correlation of each column of acts with feature (0 where a column is constant)."""
    ### BEGIN SOLUTION
    a = acts.double() - acts.double().mean(0)
    f = feature.double() - feature.double().mean()
    denominator = a.norm(dim=0) * f.norm()
    r = (a * f[:, None]).sum(0) / denominator
    return torch.where(denominator > 0, r, 0.0).float()
    ### END SOLUTION


checks.ch09.check_neuron_correlation(neuron_correlation)

# %%
mlp_names = [f"blocks.{layer}.mlp.hook_post" for layer in range(N_LAYERS)]
with torch.no_grad():
    _, mlp_cache = model.run_with_cache(
        probe_games.inputs[TEST], names_filter=lambda name: name in mlp_names
    )
test_valid = valid[TEST]
legal_test = probe_games.legal[TEST][test_valid].float()  # [n, square]
best = (0.0, 0, 0, 0)  # (|r|, layer, neuron, square)
for layer in range(N_LAYERS):
    acts = mlp_cache[mlp_names[layer]][test_valid]
    for s in range(36):
        r = neuron_correlation(acts, legal_test[:, s])
        n = int(r.abs().argmax())
        best = max(best, (abs(r[n].item()), layer, n, s))
_, LAYER, NEURON, SQUARE = best
r_best = neuron_correlation(mlp_cache[mlp_names[LAYER]][test_valid], legal_test[:, SQUARE])
print(
    f"best match: neuron {NEURON} of block {LAYER} and 'square "
    f"{othello.square_name(SQUARE)} is legal', r = {r_best[NEURON]:+.2f}"
)
assert abs(r_best[NEURON]) > 0.5

# %% [markdown]
# **Checked with the probe.** The neuron writes its output direction W_out[neuron] into the
# residual stream. Compare that direction with the legal-move probe's direction for the
# square (W[:, square, legal] − W[:, square, not legal]) at the read point after its block,
# and with the square's unembedding (its direct effect on the logit).

# %%
W_legal = feature_probes["legal move", LAYER + 1][0]
legal_direction = F.normalize(W_legal[:, SQUARE, 1] - W_legal[:, SQUARE, 0], dim=0)
W_out = model.blocks[LAYER].mlp.W_out.detach()  # [d_mlp, d_model]
cosines = F.normalize(W_out, dim=-1) @ legal_direction
direct = W_out @ model.W_U[:, SQUARE].detach()  # each neuron's direct effect on the logit
print(
    f"cosine of W_out[{NEURON}] with the legal probe of {othello.square_name(SQUARE)}: "
    f"{cosines[NEURON]:+.2f} (median |cosine| over the block's neurons {cosines.abs().median():.2f}); "
    f"direct effect on its logit {direct[NEURON]:+.2f} (std over neurons {direct.std():.2f})"
)
assert abs(cosines[NEURON]) > 5 * cosines.abs().median()
assert abs(direct[NEURON]) > 5 * direct.std()
assert (direct[NEURON] * r_best[NEURON]).item() < 0, "firing when legal, it lowers the logit"
assert othello.square_name(SQUARE) == "C2", "the text names C2 (the shipped model's square)"

# %% [markdown]
# The neuron is tied to the probe's direction — but look at the signs. It fires when the
# square is legal, and what it writes points *against* "legal" and lowers the square's
# logit. The best reader of "C2 is legal" (on the shipped model) is a brake. That fits the
# training target: the model must spread its probability evenly over the legal moves, so
# once other components have pushed a legal square up, something has to hold it back to its
# share. An ablation tells which reading is right.

# %% [markdown]
# ### Exercise 9.11 — Ablate a neuron
# Difficulty 2/5 · Importance 4/5 · ~10 minutes
#
# Run `model` on `tokens` with the activation of MLP neuron `neuron` of block `layer`
# (`blocks.{layer}.mlp.hook_post`) set to `value` at every position; return the logits
# [batch, pos, square].


# %%
def logits_with_neuron_set(
    model, tokens: Int[Tensor, "batch pos"], layer: int, neuron: int, value: float
) -> Float[Tensor, "batch pos square"]:
    """Logits with one MLP neuron's activation replaced by value everywhere."""

    ### BEGIN SOLUTION
    def set_neuron(post, hook):
        post = post.clone()
        post[..., neuron] = value
        return post

    with torch.no_grad():
        return model.run_with_hooks(
            tokens, fwd_hooks=[(f"blocks.{layer}.mlp.hook_post", set_neuron)]
        )
    ### END SOLUTION


checks.ch09.check_logits_with_neuron_set(logits_with_neuron_set)

# %% [markdown]
# **Checked with an ablation.** Replace the neuron's activation by its mean (a mean ablation)
# and look at the model's log-probability of the square, where it is legal and where not.

# %%
tokens = probe_games.inputs[TEST]
mean_act = mlp_cache[mlp_names[LAYER]][..., NEURON][test_valid].mean().item()
with torch.no_grad():
    clean = model(tokens).log_softmax(-1)
ablated = logits_with_neuron_set(model, tokens, LAYER, NEURON, mean_act).log_softmax(-1)
is_legal = probe_games.legal[TEST][..., SQUARE]
change = (ablated - clean)[..., SQUARE]
on, off = change[test_valid & is_legal].mean().item(), change[test_valid & ~is_legal].mean().item()
top1_clean = legal_top1_rate(clean, probe_games.legal[TEST])
top1_ablated = legal_top1_rate(ablated, probe_games.legal[TEST])
print(
    f"mean-ablating neuron {LAYER}.{NEURON}: log-prob of {othello.square_name(SQUARE)} changes "
    f"by {on:+.2f} where it is legal, {off:+.2f} where it is not; legal top-1 rate "
    f"{top1_clean:.2%} -> {top1_ablated:.2%}"
)
sign = 1 if r_best[NEURON] > 0 else -1
brake = (cosines[NEURON] * sign < 0).item()
print(f"the neuron {'lowers' if brake else 'raises'} its square's logit when it fires")
assert brake, "the text below describes a brake: the neuron's output points against its square"
# ablating a brake raises the square where it is legal (where the brake fired)
assert on > 0.2 and off < 0 and abs(top1_clean - top1_ablated) < 0.01

# %% [markdown]
# Mean-ablating the neuron *raises* the square's log-probability where it is legal and
# lowers it where it is not: it was holding the square back when legal, and (set to its
# mean) it now holds it back everywhere. The legal-move rate hardly moves: the neuron tunes
# *how much* probability a legal square gets, not *whether* it is legal. A correlation alone
# would have called it a "C2 is legal" detector that votes for C2; the probe's direction,
# the unembedding and the ablation together say it votes against.
#
# ## Summary
# - A 4-layer transformer trained only on 6×6 Othello move sequences predicts legal moves
#   about 97% of the time on held-out games, and almost as often on games of a greedy player
#   it never saw (the recipe's target was 99%; this is what 10,000 steps on one CPU reached).
# - The board is in its residual stream, and it is linear as **mine / theirs / empty**, not
#   as black / white / empty: on occupied squares a linear colour probe is near a coin flip;
#   a one-hidden-layer MLP probe recovers much of the colour basis (colour = owner times
#   whose turn it is: a product, which a linear probe cannot compute).
# - "Legal move" is read linearly well late in the network; "flipped by the last move" only
#   weakly.
# - Editing one square along the probe direction at one read point moves the model's
#   predictions towards the edited board's legal moves, well beyond a random edit of the same
#   size, but converts only a minority of positions fully.
# - The neuron best correlated with "C2 is legal" turns out to lower C2's logit: the probe,
#   the unembedding and an ablation agree on it, where the correlation alone would mislead.
#
# ## Questions
# 1. Before running it: would a probe trained at the embeddings (read point 0) do better
#    than always guessing "empty" on the squares not yet played? Why can it do better at all?
# 2. Why is "mine / theirs" linear when "black / white" is not? What does the model have to
#    know to convert one into the other, and which read point would you expect to hold it?
# 3. The flipped-discs probe is weak. Is that evidence that the model does not compute flips,
#    or could it compute them and store them in a form a linear probe cannot read?
# 4. Predict the effect of editing at every read point from 1 on instead of one: more exact
#    conversions or more broken predictions? Try it with `model.run_with_hooks` and several hooks.
# 5. The random-direction control also moves predictions away from the original board a
#    little. What does that say about how to interpret "errors against the edited board"?
# 6. How would you tell a neuron that computes "C2 is legal" from one that only reads a
#    probe-like direction computed earlier? Which patching experiment would separate them?
# 7. The model was trained on the uniform distribution over legal moves. How would training
#    on sampled next moves (one per position) change the brake neuron's job, if at all?
