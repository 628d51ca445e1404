"""`martingale backtest --plot FILE.png`: the run drawn with matplotlib (no display needed).

Top: the close, every fill (buys up, sells down, by leg), each resting take-profit and safety
order as a line from when it was placed to when it ended, and each cycle's average entry after
every buy. Bottom: the equity (quote + base x close) at every close.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

from backtest.runner import Run
from domain.orders import Side


def plot(run: Run, path: Path, *, title: str | None = None) -> Path:
    """Write the figure to `path` (its suffix picks the format: .png, .svg, .pdf)."""
    import matplotlib  # noqa: PLC0415 -- only a plot pays for importing it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(13, 8), gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        times = [at for at, _, _ in run.equity]
        top.plot(times, [float(c) for _, c, _ in run.equity], lw=0.8, color="#555", label="close")
        for leg, placed, ended, price in run.orders:
            if price is None or leg[0] not in "ts":
                continue
            top.hlines(
                float(price),
                placed,
                ended or run.end,
                lw=0.8,
                linestyles="dotted",
                colors="#2a9d8f" if leg.startswith("t") else "#e9c46a",
            )
        top.step(*_averages(run), where="post", lw=1, color="#264653", label="average entry")
        for side, marker, colour in ((Side.BUY, "^", "#2a9d8f"), (Side.SELL, "v", "#e76f51")):
            fills = [f.fill for f in run.fills if f.fill.side is side and f.fill.timestamp]
            top.scatter(
                [f.timestamp for f in fills],
                [float(f.price) for f in fills],
                marker=marker,
                s=22,
                color=colour,
                label=f"{side.value} fills",
                zorder=3,
            )
        top.set_ylabel(f"price ({run.rules.quote})")
        top.legend(loc="upper right", fontsize=8)
        top.set_title(title or f"{run.symbol}: {run.start:%Y-%m-%d} .. {run.end:%Y-%m-%d}")
        bottom.plot(times, [float(e) for _, _, e in run.equity], lw=1, color="#264653")
        bottom.set_ylabel(f"equity ({run.rules.quote})")
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(path, dpi=110)
    finally:
        plt.close(figure)
    return path


def _averages(run: Run) -> tuple[list[datetime], list[float]]:
    """Each cycle's average entry after each of its buys (the cost of what it bought over the
    amount), and a break (NaN) when the cycle closes."""
    times: list[datetime] = []
    values: list[float] = []
    cost: dict[int, Decimal] = {}
    amount: dict[int, Decimal] = {}
    for leg in run.fills:
        fill = leg.fill
        if fill.timestamp is None:
            continue
        if fill.side is Side.BUY:
            cost[leg.cycle] = cost.get(leg.cycle, Decimal(0)) + fill.price * fill.amount
            amount[leg.cycle] = amount.get(leg.cycle, Decimal(0)) + fill.amount
            times.append(fill.timestamp)
            values.append(float(cost[leg.cycle] / amount[leg.cycle]))
        elif leg.leg.startswith(("t", "x")):
            times.append(fill.timestamp)
            values.append(float("nan"))
    return times, values
