"""The live Exchange implementation over ccxt. ccxt's exceptions and floats stop here."""

from exchange.ccxt_adapter.adapter import CcxtExchange
from exchange.ccxt_adapter.client import CcxtConfig, is_known_exchange

__all__ = ["CcxtConfig", "CcxtExchange", "is_known_exchange"]
