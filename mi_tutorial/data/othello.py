"""Othello on a small board: the rules, a seeded generator of random legal games, and the
board after any prefix of a game (chapter 09).

A square is an int, `row * size + col`, and is written like "C4" (column letter, row number
from 1). A game is a list of squares; passes are not written: when the player to move has
no legal move but the other player has, the other player moves again (as in Li et al. 2023).
The board holds BLACK = 1, WHITE = -1 and EMPTY = 0; black moves first.

    >>> game = random_games(1, seed=0)[0]
    >>> record = replay(game)            # boards, players, flips, legal moves after each prefix
    >>> record.boards[3]                 # the board after the first 3 moves, [6, 6] int8

The model of chapter 09 reads a game as tokens: BOS, then the squares played (token = square).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import Tensor

BLACK, WHITE, EMPTY = 1, -1, 0
SIZE = 6
DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_RAYS: dict[int, list[list[list[int]]]] = {}


class IllegalMoveError(ValueError):
    """A move that the rules do not allow in its position (or a malformed move sequence)."""


def square_name(square: int, size: int = SIZE) -> str:
    """ "A1" for square 0: the column as a letter, the row as a number from 1."""
    row, col = divmod(int(square), size)
    return f"{'ABCDEFGHIJKLMNOP'[col]}{row + 1}"


def parse_square(name: str, size: int = SIZE) -> int:
    """The square of a name like "C4" (inverse of `square_name`)."""
    text = str(name).strip().upper()
    letters = "ABCDEFGHIJKLMNOP"[:size]
    if (
        len(text) < 2
        or text[0] not in letters
        or not text[1:].isdigit()
        or not 1 <= int(text[1:]) <= size
    ):
        raise IllegalMoveError(
            f"{name!r} is not a square of a {size}x{size} board: expected a column {letters[0]}-"
            f"{letters[-1]} and a row 1-{size}, like 'C4'."
        )
    return (int(text[1:]) - 1) * size + letters.index(text[0])


def _rays(size: int) -> list[list[list[int]]]:
    """For each square, the squares along each of the 8 directions, nearest first."""
    if size not in _RAYS:
        rays = []
        for square in range(size * size):
            row, col = divmod(square, size)
            lines = []
            for dr, dc in DIRECTIONS:
                line, r, c = [], row + dr, col + dc
                while 0 <= r < size and 0 <= c < size:
                    line.append(r * size + c)
                    r, c = r + dr, c + dc
                if len(line) >= 2:
                    lines.append(line)
            rays.append(lines)
        _RAYS[size] = rays
    return _RAYS[size]


def initial_board(size: int = SIZE) -> list[int]:
    """The starting position as a flat list: white on the top-left/bottom-right centre squares."""
    if not isinstance(size, int) or size < 4 or size % 2:
        raise ValueError(f"Othello needs an even board size >= 4, got {size!r}.")
    board = [EMPTY] * (size * size)
    h = size // 2
    board[(h - 1) * size + h - 1] = board[h * size + h] = WHITE
    board[(h - 1) * size + h] = board[h * size + h - 1] = BLACK
    return board


def flips(board: list[int], square: int, player: int, size: int = SIZE) -> list[int]:
    """The squares that `player` playing `square` would flip (empty if the move is illegal)."""
    if board[square] != EMPTY:
        return []
    flipped = []
    for line in _rays(size)[square]:
        run = []
        for other in line:
            if board[other] == -player:
                run.append(other)
                continue
            if board[other] == player and run:
                flipped.extend(run)
            break
    return flipped


def legal_moves(board: list[int], player: int, size: int = SIZE) -> list[int]:
    """The squares `player` may play on `board`, in increasing order."""
    return [s for s in range(size * size) if board[s] == EMPTY and flips(board, s, player, size)]


class Game:
    """An Othello game in progress: `play` a square, read `board`, `player`, `legal_moves()`."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self.board = initial_board(size)
        self.player = BLACK
        self.moves: list[int] = []
        self._legal = legal_moves(self.board, self.player, size)

    @classmethod
    def from_position(cls, board, player: int, size: int = SIZE) -> Game:
        """A game going on from `board` (flat list or [size, size] tensor), `player` to move."""
        if isinstance(board, Tensor):
            board = board.flatten().tolist()
        board = [int(v) for v in board]
        if (
            len(board) != size * size
            or set(board) - {BLACK, WHITE, EMPTY}
            or player not in (BLACK, WHITE)
        ):
            raise ValueError(
                f"from_position needs {size * size} cells of 1 (black), -1 (white) or 0 (empty) "
                f"and player 1 or -1; got {len(board)} cells, values {sorted(set(board))}, "
                f"player {player!r}."
            )
        game = cls(size)
        game.board, game.player = board, player
        game._legal = legal_moves(board, player, size)
        if not game._legal:  # the player to move passes
            game.player = -player
            game._legal = legal_moves(board, -player, size)
        return game

    def legal_moves(self) -> list[int]:
        """The squares the player to move may play (empty once the game is over)."""
        return list(self._legal)

    @property
    def over(self) -> bool:
        return not self._legal

    def play(self, square: int) -> list[int]:
        """Play `square` for the player to move; returns the flipped squares. Passes itself:
        if the next player has no move but this one has, this one moves again."""
        if isinstance(square, bool) or not isinstance(square, int):
            if (
                isinstance(square, Tensor)
                and square.numel() == 1
                and not square.is_floating_point()
            ):
                square = int(square)
            else:
                raise IllegalMoveError(
                    f"A move is a square index (int 0-{self.size**2 - 1}), got {square!r} "
                    f"({type(square).__name__}) at ply {len(self.moves)}."
                )
        where = f"at ply {len(self.moves)} (after {len(self.moves)} moves)"
        if self.over:
            raise IllegalMoveError(
                f"Move {square} is played {where}, but the game is already over: neither "
                f"player has a legal move.\n{self.render()}"
            )
        if not 0 <= square < self.size**2:
            raise IllegalMoveError(
                f"Move {square} {where} is not a square of the {self.size}x{self.size} board "
                f"(squares are 0-{self.size**2 - 1}). Legal moves for {self.color()}: "
                f"{self.legal_names()}.\n{self.render()}"
            )
        if square not in self._legal:
            why = "is occupied" if self.board[square] != EMPTY else "flips nothing"
            raise IllegalMoveError(
                f"Move {square} ({square_name(square, self.size)}) {where} is illegal for "
                f"{self.color()}: the square {why}. Legal moves: {self.legal_names()}.\n"
                f"{self.render()}"
            )
        flipped = flips(self.board, square, self.player, self.size)
        self.board[square] = self.player
        for other in flipped:
            self.board[other] = self.player
        self.moves.append(square)
        self.player = -self.player
        self._legal = legal_moves(self.board, self.player, self.size)
        if not self._legal:  # pass
            self.player = -self.player
            self._legal = legal_moves(self.board, self.player, self.size)
        return flipped

    def color(self) -> str:
        return "black" if self.player == BLACK else "white"

    def legal_names(self) -> str:
        return ", ".join(f"{s} ({square_name(s, self.size)})" for s in self._legal) or "none"

    def render(self) -> str:
        """The board as text: X black, O white, . empty, * a legal move of the player to move."""
        marks = {BLACK: "X", WHITE: "O", EMPTY: "."}
        header = "  " + " ".join("ABCDEFGHIJKLMNOP"[: self.size])
        rows = [header]
        for r in range(self.size):
            cells = []
            for c in range(self.size):
                s = r * self.size + c
                cells.append("*" if s in self._legal else marks[self.board[s]])
            rows.append(f"{r + 1} " + " ".join(cells))
        return "\n".join(rows)


def random_game(rng: random.Random, size: int = SIZE) -> list[int]:
    """One game of uniformly random legal moves, played to the end."""
    game = Game(size)
    while not game.over:
        game.play(rng.choice(game._legal))
    return game.moves


def random_games(n: int, seed: int, size: int = SIZE) -> list[list[int]]:
    """`n` random legal games drawn with `seed` (the same seed gives the same games)."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"random_games: n must be a non-negative int, got {n!r}.")
    rng = random.Random(seed)
    return [random_game(rng, size) for _ in range(n)]


@dataclass
class GameRecord:
    """Everything about a game after each prefix: index t holds the position after t moves.

    boards [T+1, size, size] int8 (BLACK 1 / WHITE -1 / EMPTY 0); players [T+1] int8, the
    player to move (the player of move t+1); legal [T+1, size*size] bool, that player's legal
    moves; flipped [T+1, size*size] bool, the squares move t flipped (none at t = 0).
    """

    moves: list[int]
    boards: Tensor
    players: Tensor
    legal: Tensor
    flipped: Tensor


def replay(moves, size: int = SIZE) -> GameRecord:
    """Replay `moves` from the start, checking each; an illegal move raises IllegalMoveError."""
    if isinstance(moves, Tensor):
        moves = moves.tolist()
    if isinstance(moves, (str, bytes)) or not hasattr(moves, "__iter__"):
        raise IllegalMoveError(f"A game is a list of square indices, got {type(moves).__name__}.")
    game = Game(size)
    n = size * size
    boards, players, legal, flipped = (
        [list(game.board)],
        [game.player],
        [game.legal_moves()],
        [[]],
    )
    for square in moves:
        flipped.append(game.play(square))
        boards.append(list(game.board))
        players.append(game.player)
        legal.append(game.legal_moves())
    steps = len(boards)
    legal_mask = torch.zeros(steps, n, dtype=torch.bool)
    flipped_mask = torch.zeros(steps, n, dtype=torch.bool)
    for t in range(steps):
        legal_mask[t, legal[t]] = True
        flipped_mask[t, flipped[t]] = True
    return GameRecord(
        moves=list(game.moves),
        boards=torch.tensor(boards, dtype=torch.int8).view(steps, size, size),
        players=torch.tensor(players, dtype=torch.int8),
        legal=legal_mask,
        flipped=flipped_mask,
    )


def board_after(moves, size: int = SIZE) -> Tensor:
    """The board [size, size] int8 after playing `moves` from the start."""
    return replay(moves, size).boards[-1]


def bos_token(size: int = SIZE) -> int:
    """The beginning-of-game token: one past the last square."""
    return size * size


def game_tokens(games: list[list[int]], size: int = SIZE, n_ctx: int | None = None) -> Tensor:
    """Games as model input [n, n_ctx]: BOS, then the moves; shorter games padded with BOS.

    The model reads position t (0 = BOS) and predicts move t+1; n_ctx defaults to the longest
    game a board allows (size*size - 4 moves), so the last input position is move n_ctx - 1.
    """
    n_ctx = size * size - 4 if n_ctx is None else n_ctx
    bos = bos_token(size)
    tokens = torch.full((len(games), n_ctx + 1), bos, dtype=torch.long)
    for i, game in enumerate(games):
        tokens[i, 1 : 1 + min(len(game), n_ctx)] = torch.tensor(game[:n_ctx], dtype=torch.long)
    return tokens


@dataclass
class GameBatch:
    """Many games as tensors, one row per game, index t = the position after t moves.

    tokens [n, n_ctx+1] (BOS + moves, BOS-padded; the model reads tokens[:, :-1]);
    boards [n, n_ctx, size, size] int8; players [n, n_ctx] int8 (to move); legal and flipped
    [n, n_ctx, size*size] bool; valid [n, n_ctx] bool (the game is not over at t).
    """

    tokens: Tensor
    boards: Tensor
    players: Tensor
    legal: Tensor
    flipped: Tensor
    valid: Tensor

    @property
    def inputs(self) -> Tensor:
        return self.tokens[:, :-1]

    def mine_theirs(self) -> Tensor:
        """Boards relative to the player to move: 1 mine, -1 theirs, 0 empty (int8)."""
        return self.boards * self.players[:, :, None, None]


def game_batch(games: list[list[int]], size: int = SIZE) -> GameBatch:
    """Replay `games` (checking every move) and stack what each prefix position holds."""
    n_ctx = size * size - 4
    records = [replay(g, size) for g in games]
    n = len(games)
    boards = torch.zeros(n, n_ctx, size, size, dtype=torch.int8)
    players = torch.zeros(n, n_ctx, dtype=torch.int8)
    legal = torch.zeros(n, n_ctx, size * size, dtype=torch.bool)
    flipped = torch.zeros(n, n_ctx, size * size, dtype=torch.bool)
    valid = torch.zeros(n, n_ctx, dtype=torch.bool)
    for i, r in enumerate(records):
        t = min(len(r.moves) + 1, n_ctx)
        boards[i, :t], players[i, :t] = r.boards[:t], r.players[:t]
        legal[i, :t], flipped[i, :t] = r.legal[:t], r.flipped[:t]
        valid[i, :t] = r.legal[:t].any(-1)
    return GameBatch(game_tokens(games, size), boards, players, legal, flipped, valid)


def random_games_with_legal(n: int, seed: int, size: int = SIZE) -> tuple[list[list[int]], Tensor]:
    """The games of `random_games(n, seed)` and, from the same pass, the legal moves before
    each move: a bool mask [n, size*size - 4, size*size], row t = the moves legal after t
    moves (all False once a game is over). Much faster than replaying the games."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"random_games_with_legal: n must be a non-negative int, got {n!r}.")
    rng = random.Random(seed)
    n_ctx, games, index = size * size - 4, [], []
    for i in range(n):
        game = Game(size)
        while not game.over:
            index.extend((i * n_ctx + len(game.moves)) * size * size + s for s in game._legal)
            game.play(rng.choice(game._legal))
        games.append(game.moves)
    legal = torch.zeros(n * n_ctx * size * size, dtype=torch.bool)
    legal[torch.tensor(index, dtype=torch.long)] = True
    return games, legal.view(n, n_ctx, size * size)


def greedy_games(n: int, seed: int, size: int = SIZE) -> list[list[int]]:
    """`n` games of a different player than the random one: each move flips as many discs as
    any legal move can (ties broken at random with `seed`). Positions unlike random play's."""
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"greedy_games: n must be a non-negative int, got {n!r}.")
    rng = random.Random(seed)
    games = []
    for _ in range(n):
        game = Game(size)
        while not game.over:
            counts = {s: len(flips(game.board, s, game.player, size)) for s in game._legal}
            best = max(counts.values())
            game.play(rng.choice([s for s, c in counts.items() if c == best]))
        games.append(game.moves)
    return games
