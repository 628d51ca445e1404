"""The paper exchange: a persistent, simulated spot venue behind the `Exchange` port.

Usage (composition root, tests, the contract test)::

    venue = PaperVenue(path / "paper.sqlite", name="paper")   # its OWN sqlite file
    venue.set_market_rules(MarketRules(symbol="ETH/BTC", tick_size=Decimal("0.000001"), ...))
    venue.open_account("alice-main", balances={"BTC": Decimal("1")}, fee_rate=Decimal("0.001"))
    port = PaperExchange(venue, "alice-main")                 # implements exchange.port.Exchange
    venue.update_price("ETH/BTC", Decimal("0.05"))            # or update_candle(symbol, candle)
    venue.update_candle("ETH/BTC", candle, close_time, replay="/data/ETH-BTC-5m.csv")
    venue.replay_position("ETH/BTC", "/data/ETH-BTC-5m.csv")  # where that replay resumes
    venue.add_fill_listener(lambda fills: ...)                # VenueFill(account, fill, order)

Behaviour (binance spot semantics): a market order, or a limit that crosses the last price,
fills at once in full at the last price (taker); other limits rest with their funds locked and
fill in full at their own limit when a price (or a candle's low/high) reaches them (maker). No
partial fills. Fees at the account's rate, in the asset received. Rejections:
InvalidOrder ("Filter failure: PRICE_FILTER / LOT_SIZE / NOTIONAL", off-grid values are refused,
not rounded), InsufficientFunds, DuplicateOrder (client order id used by an OPEN order of the
account), OrderNotFound (also when cancelling an order that is no longer open, like binance's
"Unknown order sent."), UnknownSymbol, AuthenticationFailed (account never opened),
ExchangeUnavailable (no price yet for a market order or ticker; store I/O failure).

Every accepted order, fill and balance change is committed to the venue's SQLite file before
the call returns (see `store`); one process owns a venue file at a time.

Layers: `core.MatchingCore` holds the matching rules in memory (with `book`, `settle`, `rules`)
and tells each change to a recorder; `PaperVenue` puts its lock and its journal (the file) on
top; `SimVenue` (a backtest's venue) uses the core bare: the same matching, no file, no lock.
"""

from exchange.paper.accounts import VenueFill
from exchange.paper.exchange import PaperExchange
from exchange.paper.sim import SimVenue
from exchange.paper.venue import DEFAULT_FEE_RATE, FillListener, PaperVenue

__all__ = [
    "DEFAULT_FEE_RATE",
    "FillListener",
    "PaperExchange",
    "PaperVenue",
    "SimVenue",
    "VenueFill",
]
