from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from actors.watch_board import WatchBoard

D = Decimal


def test_a_move_wakes_exactly_the_engines_whose_levels_it_crossed() -> None:
    board: WatchBoard[str] = WatchBoard()
    board.set(1, D("99"), None, "buy-at-99")
    board.set(2, D("95"), D("110"), "buy-95-sell-110")
    board.set(3, None, D("101"), "sell-at-101")
    assert board.crossed(D("98"), D("100")) == [(1, "buy-at-99")]
    assert len(board) == 2  # woken engines are dropped until they register again
    assert board.crossed(D("98"), D("100")) == []
    assert board.crossed(D("100"), D("101")) == [(3, "sell-at-101")]
    assert board.crossed(D("94"), D("111")) == [(2, "buy-95-sell-110")]
    assert len(board) == 0


def test_registering_again_replaces_and_none_none_unregisters() -> None:
    board: WatchBoard[str] = WatchBoard()
    board.set(1, D("99"), None, "a")
    board.set(1, D("90"), None, "a")
    assert board.crossed(D("95"), D("95")) == []
    board.set(1, None, None, "a")
    assert len(board) == 0
    assert board.crossed(D("1"), D("1000")) == []


def test_crossed_one_checks_a_single_engine() -> None:
    board: WatchBoard[str] = WatchBoard()
    board.set(1, D("99"), None, "a")
    board.set(2, D("98"), None, "b")
    assert board.crossed_one(1, D("100"), D("100")) == []
    assert board.crossed_one(1, D("98.5"), D("100")) == [(1, "a")]
    assert len(board) == 1


levels = st.one_of(st.none(), st.decimals(min_value=1, max_value=200, places=2))


@given(
    entries=st.dictionaries(st.integers(0, 50), st.tuples(levels, levels), max_size=30),
    low=st.decimals(min_value=1, max_value=200, places=2),
    width=st.decimals(min_value=0, max_value=20, places=2),
)
def test_crossed_matches_a_linear_scan(
    entries: dict[int, tuple[Decimal | None, Decimal | None]], low: Decimal, width: Decimal
) -> None:
    board: WatchBoard[int] = WatchBoard()
    for key, (below, above) in entries.items():
        board.set(key, below, above, key)
    high = low + width
    expected = sorted(
        key
        for key, (below, above) in entries.items()
        if (below is not None and below >= low) or (above is not None and above <= high)
    )
    assert [key for key, _ in board.crossed(low, high)] == expected
