"""Properties of any backtest (hypothesis): whatever the prices and the parameters, the books
balance (equity moved by exactly the realized profit plus the open cycle's value, and the base
held is what the fills bought less what they sold), equity is cash + position value at every
candle, the drawdown is the one replayed from the fills, no fill is below the market's minimum
notional, and the equity curve ends where the balances say."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from backtest.report import report
from backtest.runner import Run, run
from domain.errors import ValidationError
from domain.market import Candle, MarketRules
from domain.orders import Side
from strategy.params import MartingaleParams

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
PERIOD = timedelta(minutes=5)
RULES = MarketRules(
    symbol="BTC/USDT", tick_size=D("0.01"), step_size=D("0.0001"), min_notional=D("5")
)
EXACT = D("1e-12")


@st.composite
def walks(draw: st.DrawFn) -> list[Candle]:
    """A random walk of 20-120 candles: each moves -4 % .. +4 %, with wicks of up to 3 %."""
    steps = draw(st.lists(st.integers(-400, 400), min_size=20, max_size=120))
    price, out = D(100), []
    for n, step in enumerate(steps):
        close = max(D("1"), (price * (1 + D(step) / 10_000)).quantize(D("0.01")))
        wick = D(draw(st.integers(0, 300))) / 10_000
        high = (max(price, close) * (1 + wick)).quantize(D("0.01"))
        low = (min(price, close) * (1 - wick)).quantize(D("0.01"))
        out.append(Candle(timestamp=T0 + n * PERIOD, open=price, high=high, low=low, close=close))
        price = close
    return out


params = st.fixed_dictionaries(
    {
        "base_order": st.sampled_from(["10", "20", "50"]),
        "safety_order": st.sampled_from(["10", "20", "40"]),
        "max_safety_orders": st.integers(0, 4),
        "price_deviation": st.sampled_from(["0.5", "1", "2", "3"]),
        "volume_scale": st.sampled_from(["1", "1.5", "2"]),
        "take_profit": st.sampled_from(["0.5", "1", "2"]),
        "max_active_safety_orders": st.integers(1, 3),
    },
    optional={"stop_loss": st.sampled_from(["5", "10"]), "cooldown": st.sampled_from([0, 600])},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bars=walks(), chosen=params, usdt=st.sampled_from(["60", "300", "1000"]))
def test_the_books_balance_whatever_the_market(
    bars: list[Candle], chosen: dict[str, object], usdt: str
) -> None:
    try:
        MartingaleParams.from_mapping(chosen)
    except ValidationError:
        reject()  # parameters `plan` refuses (a stop loss above a safety order)
    outcome = run(
        bars,
        period=PERIOD,
        params=chosen,
        rules=RULES,
        balances={"USDT": D(usdt)},
        fee_rate=D("0.001"),
        equity=True,
    )
    figures = report(outcome)
    opened = figures.open_cycle or {}
    unrealized = opened.get("unrealized", D(0)) + opened.get("realized", D(0))
    unrealized += figures.carried["unrealized"] if figures.carried else D(0)
    assert (figures.end_equity - figures.start_equity).quantize(EXACT) == (
        figures.profit + unrealized
    ).quantize(EXACT)
    held = sum(
        (
            (f.fill.amount - (f.fill.fee if f.fill.fee_currency == "BTC" else 0))
            * (1 if f.fill.side is Side.BUY else -1)
            for f in outcome.fills
        ),
        D(0),
    )
    assert held == outcome.end_balances.get("BTC", D(0))
    assert all(f.fill.price * f.fill.amount >= RULES.min_notional for f in outcome.fills)
    assert outcome.end_balances["USDT"] >= 0
    *_, (_, _close, equity) = outcome.equity
    assert equity == figures.end_equity or outcome.candles != len(outcome.equity)
    assert outcome.max_drawdown == _drawdown_by_hand(bars, outcome, D(usdt))
    # Equity = cash + position value at every candle's close, the holdings replayed from fills.
    for closing, close, value in outcome.equity:
        cash, base = _holdings(outcome, D(usdt), closing, inclusive=True)
        assert value == cash + base * close


def _drawdown_by_hand(bars: list[Candle], outcome: Run, usdt: Decimal) -> Decimal:
    """The deepest fall of equity from its highest so far, replayed from the fills: during a
    candle the holdings are those before its fills at the low and those after them at the
    high (the runner's rule), the equity starting at the first close after the base order."""

    def holdings(through: datetime, *, inclusive: bool) -> tuple[Decimal, Decimal]:
        return _holdings(outcome, usdt, through, inclusive=inclusive)

    cash, base = holdings(bars[0].timestamp + PERIOD, inclusive=True)
    peak, worst = cash + base * bars[0].close, D(0)
    for bar in bars[1 : outcome.candles]:
        closing = bar.timestamp + PERIOD
        if closing > outcome.end:
            break
        cash, base = holdings(closing, inclusive=False)
        worst = max(worst, (peak - (cash + base * bar.low)) / peak)
        cash, base = holdings(closing, inclusive=True)
        peak = max(peak, cash + base * bar.high)
    return worst


def _holdings(
    outcome: Run, usdt: Decimal, through: datetime, *, inclusive: bool
) -> tuple[Decimal, Decimal]:
    """(USDT, BTC) after the fills stamped before `through` (and at it, if `inclusive`)."""
    cash, base = usdt, D(0)
    for leg in outcome.fills:
        f = leg.fill
        assert f.timestamp is not None
        if f.timestamp > through or (f.timestamp == through and not inclusive):
            continue
        if f.side is Side.BUY:  # the fee in the asset received (BTC), binance's default
            cash, base = cash - f.price * f.amount, base + f.amount - f.fee
        else:
            cash, base = cash + f.price * f.amount - f.fee, base - f.amount
    return cash, base
