"""`onboard` and `run` read every CSV market's whole candle file before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from exchange.feeds.csv_replay import check_candle_file
from tests.integration.app.conftest import alice_eth_btc

GOOD_ROWS = [
    "2024-01-01T00:00:00Z,0.05,0.051,0.049,0.05,10",
    "2024-01-01T00:05:00Z,0.05,0.051,0.049,0.0505,10",
    "2024-01-01T00:10:00Z,0.0505,0.051,0.049,0.0502,10",
]
CSV_MARKET = """
feed: csv
path: data/ETH-BTC-5m.csv
speed: 300
"""


def _setup(tmp_path: Path, rows: list[str]) -> tuple[Path, Path, Path]:
    data = tmp_path / "data"
    data.mkdir()
    candles = data / "ETH-BTC-5m.csv"
    candles.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    db = tmp_path / "var" / "martingale.sqlite"
    config = tmp_path / "service.yaml"
    config.write_text(
        f"database:\n  url: sqlite:///{db}\n"
        + alice_eth_btc(CSV_MARKET, paper=tmp_path / "var" / "paper.sqlite")
    )
    return config, candles, db


# The third candle's close is above its high: only reading the whole file finds it (the
# checks on the config alone read the header and the first row).
BAD_THIRD = [*GOOD_ROWS[:2], "2024-01-01T00:10:00Z,0.0505,0.051,0.049,0.0602,10"]


@pytest.mark.parametrize("command", ["onboard", "run"])
def test_a_bad_line_deep_in_a_candle_file_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config, candles, db = _setup(tmp_path, BAD_THIRD)
    assert main([command, "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"{candles} line 4: prices must satisfy low <= open, close <= high" in err
    assert 'markets["ETH/BTC"].path' in err
    assert not db.exists() and not db.parent.exists()  # no database, not even its directory


def test_a_good_file_onboards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, candles, db = _setup(tmp_path, GOOD_ROWS)
    assert check_candle_file(candles) == 3
    assert main(["onboard", "--config", str(config)]) == 0
    assert db.exists()
