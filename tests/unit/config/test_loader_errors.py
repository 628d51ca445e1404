"""Every class of bad config names the file, the path inside it, the line and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError, format_path, load_config
from config.schema import ServiceConfig
from config.secrets import resolve_all_credentials
from tests.unit.config.conftest import MINIMAL

LoadError = Callable[[str], ConfigError]


def only(error: ConfigError) -> str:
    assert len(error.problems) == 1, str(error)
    return str(error)


def test_minimal_config_loads(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(MINIMAL)
    assert config.users[0].strategies[0].name == "s1"


def test_typo_key_names_path_line_and_suggestion(load_error: LoadError) -> None:
    error = load_error(MINIMAL.replace("take_profit: 1.5", "take_proft: 1.5"))
    text = only(error)
    assert ":23: users[0].strategies[0].take_proft: unknown key 'take_proft'" in text
    assert "did you mean 'take_profit'?" in text


def test_typo_at_top_level_lists_allowed_keys(load_error: LoadError) -> None:
    text = only(load_error("databse:\n  url: sqlite://\n"))
    assert ":1: databse: unknown key 'databse' (did you mean 'database'?)" in text


def test_unknown_account(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("account: main", "account: mian")))
    assert ":17: users[0].strategies[0].account: unknown account 'mian'" in text
    assert "'main'" in text


def test_duplicate_strategy_names_within_a_user(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL + MINIMAL.split("    strategies:\n", 1)[1]))
    assert ":24: users[0].strategies[1].name: duplicate strategy name 's1'" in text
    assert "first used at index 0" in text


def test_duplicate_account_names_within_a_user(load_error: LoadError) -> None:
    extra = "      - name: main\n        exchange: paper\n"
    text = only(load_error(MINIMAL.replace("    strategies:", extra + "    strategies:")))
    assert ":15: users[0].accounts[1].name: duplicate account name 'main'" in text


def test_duplicate_user_names(load_error: LoadError) -> None:
    text = MINIMAL + "  - name: alice\n    email: other@example.com\n"
    message = only(load_error(text))
    assert ":24: users[1].name: duplicate user name 'alice'" in message


def test_same_names_in_different_users_are_fine(load_ok: Callable[[str], ServiceConfig]) -> None:
    second = MINIMAL.split("users:\n", 1)[1].replace("name: alice", "name: bob")
    config = load_ok(MINIMAL + second)
    assert [u.name for u in config.users] == ["alice", "bob"]
    assert config.users[1].strategies[0].name == "s1"


def test_bad_decimal(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("balances: {BTC: 1}", "balances: {BTC: 1.2.3}")))
    assert ":14: users[0].accounts[0].balances.BTC: '1.2.3' is not a decimal number" in text


def test_infinite_number_is_refused(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("price: 0.1", "price: .inf")))
    assert ':4: markets["ETH/BTC"].price: ' in text
    assert "not a decimal number" in text


@pytest.mark.parametrize(
    ("old", "new", "path", "line"),
    [
        ("price: 0.1", "price: -0.1", 'markets["ETH/BTC"].price', 4),
        ("balances: {BTC: 1}", "balances: {BTC: -1}", "users[0].accounts[0].balances.BTC", 14),
        ("step_size: 0.001", "step_size: -0.001", 'markets["ETH/BTC"].step_size', 6),
    ],
)
def test_negative_sizes(load_error: LoadError, old: str, new: str, path: str, line: int) -> None:
    text = only(load_error(MINIMAL.replace(old, new)))
    assert f":{line}: {path}: must" in text


def test_plaintext_secret_is_refused_without_echoing_it(load_error: LoadError) -> None:
    live = (
        "      - name: live\n        exchange: binance\n"
        "        api_key: AKIAVERYSECRETVALUE0\n        secret: s3cr3t-value-xyz\n"
    )
    error = load_error(MINIMAL.replace("    strategies:", live + "    strategies:"))
    text = str(error)
    assert ":17: users[0].accounts[1].api_key: plaintext secret 'api_key' is refused" in text
    assert ":18: users[0].accounts[1].secret: plaintext secret 'secret' is refused" in text
    assert "api_key_env" in text and "secret_file" in text
    assert "AKIAVERYSECRETVALUE0" not in text and "s3cr3t-value-xyz" not in text


def test_secret_pasted_as_env_name_is_not_echoed(load_error: LoadError) -> None:
    live = (
        "      - name: live\n        exchange: binance\n"
        "        api_key_env: vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zv\n        secret_env: BINANCE_SECRET\n"
    )
    text = only(load_error(MINIMAL.replace("    strategies:", live + "    strategies:")))
    assert ":17: users[0].accounts[1].api_key_env: must be the NAME" in text
    assert "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zv" not in text


def test_live_account_needs_a_source_for_key_and_secret(load_error: LoadError) -> None:
    live = "      - name: live\n        exchange: binance\n        api_key_env: K\n"
    text = only(load_error(MINIMAL.replace("    strategies:", live + "    strategies:")))
    assert "users[0].accounts[1]: live account needs secret_env" in text


def test_unknown_market_for_paper_account(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("symbol: ETH/BTC", "symbol: LTC/BTC")))
    assert ":18: users[0].strategies[0].symbol: unknown market 'LTC/BTC'" in text
    assert "ETH/BTC" in text


def test_missing_key_file_is_reported_when_the_keys_are_read(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    """Loading never reads a secret, and a missing key file may be deliberate once the
    database holds the keys (config.secrets.lookup_credentials); reading them names it."""
    live = (
        "      - name: live\n        exchange: kraken\n"
        "        api_key_file: keys/kraken.key\n        secret_env: KRAKEN_SECRET\n"
    )
    config = load_ok(MINIMAL.replace("    strategies:", live + "    strategies:"))
    with pytest.raises(ConfigError) as info:
        resolve_all_credentials(config, env={})
    text = str(info.value)
    assert ":17: users[0].accounts[1].api_key_file: the file does not exist" in text
    assert ":18: users[0].accounts[1].secret_env: environment variable KRAKEN_SECRET" in text


def test_missing_master_key_file(load_error: LoadError) -> None:
    text = only(load_error("master_key_file: nowhere/master.key\n" + MINIMAL))
    assert ":1: master_key_file: the file does not exist" in text


def test_missing_candle_file(load_error: LoadError) -> None:
    text = only(load_error("markets:\n  A/B:\n    feed: csv\n    path: missing.csv\n"))
    assert ':4: markets["A/B"].path: file ' in text and "missing.csv' does not exist" in text


def test_candle_file_without_the_expected_columns(load_error: LoadError, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("time,price\n1,2\n", encoding="utf-8")
    text = only(load_error("markets:\n  C/D:\n    feed: csv\n    path: bad.csv\n"))
    assert ':4: markets["C/D"].path: the candle file lacks the column(s) timestamp, open' in text


def test_relative_csv_path_is_resolved_against_the_config_directory(
    write_config: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.csv").write_text(
        "timestamp,open,high,low,close,volume\n2018-01-10T04:55:00Z,1,1,1,1,1\n", encoding="utf-8"
    )
    path = write_config("markets:\n  A/B:\n    feed: csv\n    path: data/c.csv\n    speed: 300\n")
    monkeypatch.chdir("/")
    market = load_config(path).markets["A/B"]
    assert getattr(market, "path") == tmp_path / "data" / "c.csv"


def test_unknown_feed_points_at_the_feed_line(load_error: LoadError) -> None:
    text = only(load_error("markets:\n  A/B:\n    price: 1\n    feed: random\n"))
    assert ":4: markets[\"A/B\"].feed: 'feed' must be 'simulated' or 'csv'" in text


def test_symbol_must_be_base_slash_quote(load_error: LoadError) -> None:
    text = only(load_error("markets:\n  ethbtc:\n    feed: simulated\n    price: 1\n"))
    assert ":2: markets.ethbtc: symbol 'ethbtc' must look like BASE/QUOTE" in text


def test_yaml_syntax_error_names_the_line(load_error: LoadError) -> None:
    text = only(load_error("users:\n  - name: alice\n    email: [unclosed\n  - name: bob\n"))
    assert text.endswith(
        ".yaml:4: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)"
    )


def test_yaml_tab_indentation_names_the_line(load_error: LoadError) -> None:
    text = only(load_error("logging:\n\tlevel: info\n"))
    assert ".yaml:2: YAML syntax error: found character that cannot start any token" in text


def test_duplicate_yaml_key(load_error: LoadError) -> None:
    text = only(load_error("logging:\n  level: info\n  level: debug\n"))
    assert ":3: logging.level: duplicate key 'level'" in text


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_every_problem_is_listed_at_once(load_error: LoadError) -> None:
    text = MINIMAL.replace("price: 0.1", "price: -1").replace("take_profit", "take_proft")
    error = load_error(text.replace("email: alice@example.com", "email: not-an-email"))
    assert len(error.problems) == 3
    assert "3 problems" in str(error)


def test_missing_required_key(load_error: LoadError) -> None:
    text = only(load_error(MINIMAL.replace("    email: alice@example.com\n", "")))
    assert ":9: users[0].email: required key is missing" in text


def test_enabled_false_contradicts_running_state(load_error: LoadError) -> None:
    text = MINIMAL.replace(
        "symbol: ETH/BTC", "symbol: ETH/BTC\n        enabled: false\n        state: running"
    )
    assert "enabled: false contradicts state: running" in only(load_error(text))


def test_format_path() -> None:
    assert format_path(("users", 1, "strategies", 0, "take_profit")) == (
        "users[1].strategies[0].take_profit"
    )
    assert format_path(("markets", "ETH/BTC", "<csv>", "path")) == 'markets["ETH/BTC"].path'


def test_an_email_longer_than_the_users_column_is_refused(load_error: LoadError) -> None:
    long_email = "alice@" + "x" * 250 + ".com"
    text = only(load_error(MINIMAL.replace("email: alice@example.com", f"email: {long_email}")))
    assert "users[0].email" in text
    assert "is not an email address" in text
