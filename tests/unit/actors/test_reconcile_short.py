"""The holdings check with a short beside a long on one base currency: a short's negative
position (base owed, bought back with quote) neither asks for base nor hides a long's
shortfall, and a short is never told its base is missing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from actors.reconcile import AccountReconciler, Holdings, Reconciled, _Pass
from domain.market import Balance
from tests.actors.fakes import SYMBOL, Inbox

LONG, SHORT = 1, 2


def _pass(n: int, long_position: str, short_position: str) -> _Pass:
    current = _Pass(pass_id=n, expected={LONG: "ETH", SHORT: "ETH"})
    for sid, position in ((LONG, long_position), (SHORT, short_position)):
        current.answers[sid] = Reconciled(
            strategy_id=sid,
            account_id=1,
            pass_id=n,
            currency="ETH",
            position=Decimal(position),
            step=Decimal("0.001"),
        )
    return current


def test_a_short_does_not_hide_a_longs_missing_base() -> None:
    reconciler = AccountReconciler(owner=Inbox(), timers=None, pool=None)  # type: ignore[arg-type]
    long_ref, short_ref = Inbox(), Inbox()
    engines: dict[int, tuple[str, Any]] = {LONG: (SYMBOL, long_ref), SHORT: (SYMBOL, short_ref)}
    balances = {"ETH": Balance(currency="ETH", free=Decimal("0.6"))}
    for n in (1, 2):  # a shortfall counts on the second pass in a row
        reconciler._compare(1, _pass(n, "1", "-0.5"), balances, lambda _a: engines)
    (told,) = long_ref.told
    assert isinstance(told, Holdings) and told.problem is not None
    assert "holds 0.6 ETH but its strategies hold 1 ETH" in told.problem
    assert short_ref.told == []


def test_a_short_alone_needs_no_base() -> None:
    reconciler = AccountReconciler(owner=Inbox(), timers=None, pool=None)  # type: ignore[arg-type]
    short_ref = Inbox()
    engines: dict[int, tuple[str, Any]] = {SHORT: (SYMBOL, short_ref)}
    current = _Pass(pass_id=1, expected={SHORT: "ETH"})
    current.answers[SHORT] = Reconciled(
        strategy_id=SHORT, account_id=1, pass_id=1, currency="ETH", position=Decimal("-0.5")
    )
    for _ in range(3):
        reconciler._compare(1, current, {}, lambda _a: engines)
    assert short_ref.told == []
