"""Chapter 09's game: Othello rules against hand-worked positions, clear errors, a
deterministic generator, and the shipped othello model as good as its manifest says."""

from __future__ import annotations

import pytest
import torch

from mi_tutorial.data import othello
from mi_tutorial.data.othello import (
    BLACK,
    EMPTY,
    WHITE,
    Game,
    IllegalMoveError,
    parse_square,
    square_name,
)

sq = parse_square


def board_of(black: list[str], white: list[str]) -> list[int]:
    board = [EMPTY] * 36
    for name in black:
        board[sq(name)] = BLACK
    for name in white:
        board[sq(name)] = WHITE
    return board


def test_square_names_round_trip():
    assert square_name(0) == "A1" and square_name(35) == "F6" and square_name(14) == "C3"
    assert all(parse_square(square_name(s)) == s for s in range(36))
    with pytest.raises(IllegalMoveError, match="not a square"):
        parse_square("G1")


def test_opening_position_and_black_moves():
    game = Game()
    assert game.player == BLACK
    assert game.board[sq("C3")] == game.board[sq("D4")] == WHITE
    assert game.board[sq("D3")] == game.board[sq("C4")] == BLACK
    assert [square_name(s) for s in game.legal_moves()] == ["C2", "B3", "E4", "D5"]


def test_first_move_flips_and_white_replies():
    game = Game()
    assert game.play(sq("C2")) == [sq("C3")]  # C3 flanked between C2 and C4
    assert game.player == WHITE
    assert [square_name(s) for s in game.legal_moves()] == ["B2", "D2", "B4"]
    assert game.play(sq("B2")) == [sq("C3")]  # along the diagonal to D4
    assert game.board[sq("C3")] == WHITE and game.board[sq("C2")] == BLACK


def test_a_move_flips_in_all_eight_directions():
    black = ["A1", "C1", "E1", "A3", "E3", "A5", "C5", "E5"]
    white = ["B2", "C2", "D2", "B3", "D3", "B4", "C4", "D4"]
    game = Game.from_position(board_of(black, white), BLACK)
    flipped = game.play(sq("C3"))
    assert sorted(flipped) == sorted(sq(w) for w in white)
    assert all(game.board[sq(w)] == BLACK for w in white)


def test_a_run_without_a_closing_piece_flips_nothing():
    # A1 white, B1 black, C1 empty: black cannot flank A1 against the edge.
    board = board_of(["B1"], ["A1"])
    assert othello.flips(board, sq("C1"), BLACK) == []
    assert othello.flips(board, sq("C1"), WHITE) == [sq("B1")]


def test_a_player_without_moves_passes():
    # White plays C1 (flipping B1 and D1); black, with only A3 against A2-A1, has no move,
    # so white moves again (A4, flipping A3).
    board = board_of(["B1", "D1", "A3"], ["A1", "E1", "A2"])
    game = Game.from_position(board, WHITE)
    assert sorted(game.play(sq("C1"))) == [sq("B1"), sq("D1")]
    assert othello.legal_moves(game.board, BLACK) == []
    assert game.player == WHITE and game.legal_moves() == [sq("A4")]
    game.play(sq("A4"))
    assert game.over


def test_random_games_are_legal_and_deterministic():
    games = othello.random_games(50, seed=3)
    assert games == othello.random_games(50, seed=3)
    assert games != othello.random_games(50, seed=4)
    for game in games:
        record = othello.replay(game)
        assert not record.legal[-1].any()  # played to the end
        assert int((record.boards[-1] != EMPTY).sum()) == 4 + len(game) - 0  # one disc per move
        # each move was legal for the player recorded to move, and flipped what it said
        for t, move in enumerate(game):
            assert record.legal[t, move]
            before, after = record.boards[t].flatten(), record.boards[t + 1].flatten()
            changed = (before != after).nonzero().flatten().tolist()
            assert sorted(changed) == sorted(
                [move, *record.flipped[t + 1].nonzero().flatten().tolist()]
            )
            assert after[move] == record.players[t]


def test_passes_happen_and_keep_the_player():
    games = othello.random_games(300, seed=0)
    passes = 0
    for game in games:
        record = othello.replay(game)
        for t in range(1, len(game)):
            if record.players[t] == record.players[t - 1]:
                passes += 1
                mover = int(record.players[t])
                assert othello.legal_moves(record.boards[t].flatten().tolist(), -mover) == []
    assert passes > 0


def test_illegal_move_error_names_move_position_and_legal_moves():
    with pytest.raises(IllegalMoveError) as error:
        othello.replay([sq("C2"), sq("A1")])
    message = str(error.value)
    assert "Move 0 (A1)" in message and "ply 1" in message and "white" in message
    assert "7 (B2), 9 (D2), 19 (B4)" in message and "X" in message  # legal moves and the board


@pytest.mark.parametrize(
    "moves, says",
    [
        ([sq("C3")], "occupied"),
        ([99], "not a square"),
        ([1.5], "square index"),
        ("C2 B2", "list of square indices"),
    ],
)
def test_malformed_games_get_clear_errors(moves, says):
    with pytest.raises(IllegalMoveError, match=says):
        othello.replay(moves)


def test_moves_after_the_end_are_rejected():
    game = othello.random_games(1, seed=0)[0]
    with pytest.raises(IllegalMoveError, match="already over"):
        othello.replay([*game, 0])


def test_game_batch_lines_up_tokens_boards_and_players():
    games = othello.random_games(20, seed=1)
    batch = othello.game_batch(games)
    assert batch.tokens.shape == (20, 33) and batch.boards.shape == (20, 32, 6, 6)
    assert (batch.tokens[:, 0] == othello.bos_token()).all()
    for i, game in enumerate(games):
        record = othello.replay(game)
        t = min(len(game), 31)
        assert torch.equal(batch.boards[i, t], record.boards[t])
        assert batch.tokens[i, 1 + t] == game[t] if t < len(game) else True
        assert batch.legal[i, 0].sum() == 4
    mine = batch.mine_theirs()
    assert (mine[:, 0].flatten(1) == torch.tensor(othello.initial_board())).all()  # black to move
    assert (mine[:, 1].flatten(1) == -batch.boards[:, 1].flatten(1)).all()  # white to move
