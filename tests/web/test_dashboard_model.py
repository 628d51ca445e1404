"""The dashboard's figures (services.dashboard, services.strategy_page) on stored cycles: the
position and its unrealized result whatever state the cycle is in, totals per quote currency,
prices looked up by the account's venue, and the ladder when parameters changed mid-cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from domain.orders import OrderState
from persistence.records import CycleStatus, DesiredState
from services.dashboard import overview
from services.strategy_page import strategy_page
from tests.integration.persistence.helpers import at, fill_of, intent, open_cycle
from tests.web.conftest import World

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def prices(table: dict[tuple[str, str], str]) -> object:
    asked: list[tuple[str, str]] = []

    def price_of(venue: str, symbol: str) -> Decimal | None:
        asked.append((venue, symbol))
        found = table.get((venue, symbol))
        return None if found is None else Decimal(found)

    price_of.asked = asked  # type: ignore[attr-defined]
    return price_of


def _row(world: World, price_of: object) -> object:
    rows = overview(world.repo, world.alice.user_id, now=NOW, price_of=price_of).rows  # type: ignore[arg-type]
    return next(r for r in rows if r.id == world.alice.strategy_id)


def test_unrealized_is_the_open_cycles_result_at_the_price(world: World) -> None:
    """Bought 1 at 0.05, the take-profit sold half at 0.06 (0.03 received): the cycle holds 0.5
    of what cost 0.05 in all. At 0.055 the half still held is worth 0.0025 more than it cost,
    and the half sold made 0.005: 0.0075, what the cycle makes if it sells now."""
    sid = world.alice.strategy_id
    world.repo.upsert_cycle(
        sid,
        open_cycle(
            2,
            amount=Decimal("0.5"),
            cost=Decimal("0.05"),
            average_price=Decimal("0.05"),
            received=Decimal("0.03"),
        ),
    )
    row = _row(world, prices({("paper", "ETH/BTC"): "0.055"}))
    assert row.position == Decimal("0.5")  # type: ignore[attr-defined]
    assert row.unrealized == Decimal("0.0075")  # type: ignore[attr-defined]
    assert row.cost == Decimal("0.025")  # type: ignore[attr-defined]
    assert not row.held  # type: ignore[attr-defined]


def test_a_position_a_stop_now_kept_still_counts(world: World) -> None:
    sid = world.alice.strategy_id
    kept = open_cycle(
        2,
        status=CycleStatus.ABORTED,
        closed_at=at(9),
        amount=Decimal(1),
        cost=Decimal("0.05"),
        carried_amount=Decimal(1),
        carried_cost=Decimal("0.05"),
    )
    world.repo.upsert_cycle(sid, kept)
    row = _row(world, prices({("paper", "ETH/BTC"): "0.04"}))
    assert row.held and row.position == 1  # type: ignore[attr-defined]
    assert row.unrealized == Decimal("-0.01")  # type: ignore[attr-defined]
    data = overview(
        world.repo, world.alice.user_id, now=NOW, price_of=prices({("paper", "ETH/BTC"): "0.04"})
    )  # type: ignore[arg-type]
    btc = next(t for t in data.totals if t.quote == "BTC")
    assert btc.unrealized == Decimal("-0.01") and btc.in_position == Decimal("0.05")


def test_a_total_is_unknown_when_a_held_position_has_no_price(world: World) -> None:
    sid = world.alice.strategy_id
    world.repo.upsert_cycle(
        sid, open_cycle(2, amount=Decimal(1), cost=Decimal("0.05"), average_price=Decimal("0.05"))
    )
    data = overview(world.repo, world.alice.user_id, now=NOW, price_of=prices({}))  # type: ignore[arg-type]
    assert data.rows[0].unrealized is None
    assert data.totals[0].unrealized is None  # not a sum that leaves the position out
    assert data.totals[0].realized == Decimal("0.0001")


def test_prices_are_asked_by_the_accounts_venue(world: World) -> None:
    repo, alice = world.repo, world.alice
    live = repo.upsert_account(alice.user_id, "live", exchange="binance", sandbox=True, now=at(0))
    repo.upsert_strategy(
        alice.user_id,
        "live-eth",
        account_id=live.id,
        symbol="ETH/USDT",
        params=dict(repo.get_strategy(alice.strategy_id).params),
        desired_state=DesiredState.RUNNING,
        now=at(0),
    )
    price_of = prices({("binance@sandbox", "ETH/USDT"): "2000"})
    rows = overview(repo, alice.user_id, now=NOW, price_of=price_of).rows  # type: ignore[arg-type]
    assert next(r for r in rows if r.name == "live-eth").price == Decimal(2000)
    assert ("binance@sandbox", "ETH/USDT") in price_of.asked  # type: ignore[attr-defined]


def test_the_ladder_keeps_the_levels_the_cycle_placed_after_a_parameter_change(
    world: World,
) -> None:
    """max_safety_orders cut from 3 to 1 mid-cycle: safety order 2, placed under the old
    parameters, still shows; the new parameters apply from the next cycle."""
    repo, sid = world.repo, world.alice.strategy_id
    repo.upsert_cycle(sid, open_cycle(2, base_price=Decimal("0.05")))
    for leg in ("b", "s1", "s2"):
        order = repo.record_order_intent(sid, intent(sid, 2, leg), now=at(5))
        if leg != "s2":
            repo.apply_fill(sid, fill_of(order, f"t-{leg}", "0.05"), now=at(6))
    record = repo.get_strategy(sid)
    repo.upsert_strategy(
        world.alice.user_id,
        record.name,
        account_id=record.account_id,
        symbol=record.symbol,
        params={**record.params, "max_safety_orders": "1"},
        desired_state=record.desired_state,
        now=at(7),
    )
    page = strategy_page(repo, world.alice.user_id, sid, now=NOW, price_of=prices({}))  # type: ignore[arg-type]
    assert [level.level for level in page.ladder] == [0, 1, 2]
    assert page.ladder[2].state == "resting"


def test_the_take_profit_is_the_newest_revision_still_on_the_book(world: World) -> None:
    repo, sid = world.repo, world.alice.strategy_id
    repo.upsert_cycle(
        sid, open_cycle(2, amount=Decimal(1), cost=Decimal("0.05"), average_price=Decimal("0.05"))
    )
    first = repo.record_order_intent(sid, intent(sid, 2, "t1", price="0.051"), now=at(5))
    repo.update_order(sid, first.transition(OrderState.CANCELED), now=at(6))
    repo.record_order_intent(sid, intent(sid, 2, "t2", price="0.0508"), now=at(7))
    row = _row(world, prices({}))
    assert row.take_profit == Decimal("0.0508")  # type: ignore[attr-defined]
    # Two revisions live at once (the old one's cancel not yet confirmed): the newer one.
    repo.record_order_intent(sid, intent(sid, 2, "t3", price="0.0507"), now=at(8))
    assert _row(world, prices({})).take_profit == Decimal("0.0507")  # type: ignore[attr-defined]
