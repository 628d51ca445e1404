"""The dashboard's figures for a short: a negative position's unrealized result and a kept
debt shown as held."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from persistence.records import CycleStatus
from services.dashboard import overview
from tests.integration.persistence.helpers import at, open_cycle
from tests.web.conftest import World
from tests.web.dashboard_helpers import Browser
from tests.web.test_dashboard import VALID
from tests.web.test_dashboard_model import NOW, _row, prices


def test_a_short_gains_when_the_price_falls(world: World) -> None:
    """Sold 1 at 0.05 (0.05 received), bought back 0.5 at 0.045 (0.0225 spent): 0.5 is still
    owed. At 0.04 buying it back costs 0.02: 0.05 - 0.0225 - 0.02 = 0.0075 made if it closes
    now (position x price + received - cost, with the position negative)."""
    sid = world.alice.strategy_id
    world.repo.upsert_cycle(
        sid,
        open_cycle(
            2,
            amount=Decimal("-0.5"),
            cost=Decimal("0.0225"),
            average_price=Decimal("0.05"),
            received=Decimal("0.05"),
        ),
    )
    row = _row(world, prices({("paper", "ETH/BTC"): "0.04"}))
    assert row.position == Decimal("-0.5")  # type: ignore[attr-defined]
    assert row.unrealized == Decimal("0.0075")  # type: ignore[attr-defined]
    assert not row.held  # type: ignore[attr-defined]
    assert row.cost == Decimal("-0.025")  # type: ignore[attr-defined]  # signed, like the position
    data = overview(
        world.repo, world.alice.user_id, now=NOW, price_of=prices({("paper", "ETH/BTC"): "0.04"})
    )  # type: ignore[arg-type]
    btc = next(t for t in data.totals if t.quote == "BTC")
    assert btc.in_position == Decimal("0.025")  # the quote value the short holds sold


def test_a_short_debt_a_closed_cycle_carried_is_shown_held(world: World) -> None:
    sid = world.alice.strategy_id
    kept = open_cycle(
        2,
        status=CycleStatus.CLOSED,
        closed_at=at(9),
        amount=Decimal(-1),
        cost=Decimal("0.04"),
        received=Decimal("0.05"),
        carried_amount=Decimal("-0.001"),
        carried_cost=Decimal("-0.00005"),
    )
    world.repo.upsert_cycle(sid, kept)
    row = _row(world, prices({("paper", "ETH/BTC"): "0.06"}))
    assert row.held and row.position == Decimal("-0.001")  # type: ignore[attr-defined]
    # owed 0.001 sold at 0.05: at 0.06 it costs 0.00001 more to buy back
    assert row.unrealized == Decimal("-0.00001")  # type: ignore[attr-defined]


def test_the_parameters_form_keeps_and_sets_the_direction(world: World) -> None:
    alice = Browser(world, world.alice)
    sid = world.alice.strategy_id
    answer: Any = alice.post(f"/ui/strategies/{sid}/params", {**VALID, "direction": "short"})
    assert answer.status_code == 200, answer.text
    assert world.repo.get_strategy(sid).params["direction"] == "short"
    page = str(alice.get(f"/strategies/{sid}").text)
    assert re.search(r'<option value="short"\s+selected>', page)  # shown as stored
    refused: Any = alice.post(f"/ui/strategies/{sid}/params", {**VALID, "direction": "up"})
    assert "must be one of long, short" in refused.text
    assert world.repo.get_strategy(sid).params["direction"] == "short"
