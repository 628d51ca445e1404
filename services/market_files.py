"""Checks of the market data files a config names, before anything is written.

Here, in app/, and not in config/checks.py: config/ may not import exchange/, where the candle
parser lives, and these checks must use the very parser the replay will use.
"""

from __future__ import annotations

from config.loader import ConfigError, ConfigProblem, format_path
from config.schema import CsvMarket, ServiceConfig
from domain.errors import ConfigurationError
from exchange.feeds.csv_replay import check_candle_file


def check_market_files(config: ServiceConfig) -> None:
    """Read every CSV market's whole candle file: a bad line would otherwise stop its replay
    (and leave its strategies without prices) hours into a run. Raises ConfigError naming the
    market's entry, the candle file and its first bad line. `onboard` and `run` call it right
    after loading the config, before the database is touched."""
    problems = []
    for symbol, market in config.markets.items():
        if not isinstance(market, CsvMarket):
            continue
        try:
            check_candle_file(market.path)
        except ConfigurationError as exc:
            where = ("markets", symbol, "path")
            problems.append(ConfigProblem(format_path(where), str(exc), config.source_line(where)))
    if problems:
        source = str(config.source_file) if config.source_file is not None else "config"
        raise ConfigError(source, problems)
