"""A live venue's market rules and price, asked by the new-strategy preview at every keystroke,
reach the exchange once per TTL: each question builds a client (a key decrypted, markets
loaded) and calls the exchange on the key the engines trade with."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from app.venue_answers import VenueAnswers
from config.schema import ServiceConfig
from domain.market import MarketRules, Ticker
from persistence.records import AccountRecord

AT = datetime(2030, 1, 1, tzinfo=UTC)


class CountingClient:
    asked: list[str] = []

    def load_market_rules(self, symbol: str, *, fresh: bool = False) -> MarketRules:
        CountingClient.asked.append("rules")
        return MarketRules(symbol=symbol, tick_size=Decimal("0.01"), step_size=Decimal("0.0001"))

    def fetch_ticker(self, symbol: str) -> Ticker:
        CountingClient.asked.append("ticker")
        return Ticker(symbol=symbol, last=Decimal(2000), bid=Decimal(1999), ask=Decimal(2001))

    def close(self) -> None:
        return None


def account(account_id: int, exchange: str = "binance") -> AccountRecord:
    return AccountRecord(
        id=account_id, user_id=1, name=f"a{account_id}", exchange=exchange, created_at=AT
    )


def test_a_live_venue_is_asked_once_per_ttl_whoever_asks() -> None:
    CountingClient.asked = []
    config = ServiceConfig.model_validate({"database": {"url": "sqlite://"}})
    part = VenueAnswers(config, lambda _account_id: CountingClient())  # type: ignore[arg-type,return-value]
    for _ in range(5):
        assert part.price_for(account(1), "ETH/USDT") == Decimal(2000)
        assert part.rules_for(account(2), "ETH/USDT") is not None  # same venue, other user
    assert CountingClient.asked == ["ticker", "rules"]
    part.price_for(account(3), "BTC/USDT")  # another market is another question
    assert CountingClient.asked == ["ticker", "rules", "ticker"]
