"""Numbers no setting needs and alias bombs: a clean config error naming the value's path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from config.schema import ServiceConfig
from config.yamlsource import YamlProblem, load_yaml
from tests.unit.config.conftest import MINIMAL

LoadError = Callable[[str], ConfigError]
FIVE_THOUSAND = "1" * 5000


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("1.0e+999999999", "out of range"),  # a YAML float
        ("'1e999999999'", "out of range"),  # a string the decimal field reads
        ("1.0e-999999999", "out of range"),  # 'synced' a billion zeros before
        (FIVE_THOUSAND, "too long for a number"),  # an int Python refuses to convert
        (f"{FIVE_THOUSAND}.5", "too long for a number"),
        (f"'{FIVE_THOUSAND}'", "too long for a number"),
        ("0.1234567890123456789012345678901234567", "more than 36 significant digits"),
    ],
)
def test_numbers_no_setting_needs_are_refused_with_their_path(
    load_error: LoadError, written: str, problem: str
) -> None:
    error = load_error(MINIMAL.replace("take_profit: 1.5", f"take_profit: {written}"))
    text = str(error)
    assert ":23: users[0].strategies[0].take_profit:" in text and problem in text
    assert len(text) < 400  # the value is not echoed whole


def test_a_huge_integer_is_refused_for_an_integer_field_too(load_error: LoadError) -> None:
    text = str(
        load_error(MINIMAL.replace("max_safety_orders: 3", f"max_safety_orders: {'1' * 50}"))
    )
    assert "users[0].strategies[0].max_safety_orders: the number '111" in text
    assert "has more than 36 significant digits" in text


def test_a_ladder_out_of_exact_arithmetic_is_a_problem_of_the_strategy(
    load_error: LoadError,
) -> None:
    # Each value is within bounds, but a price of 1e17 on a 1e-18 tick needs 35 digits.
    big = MINIMAL.replace("price: 0.1", "price: 100000000000000000.0").replace(
        "tick_size: 0.000001", "tick_size: 0.000000000000000001"
    )
    text = str(load_error(big))
    assert "users[0].strategies[0]: the ladder cannot be computed" in text


def billion_laughs(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        name, prev = chr(ord("a") + i), chr(ord("a") + i - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(load_error: LoadError) -> None:
    # 10^6 values from 400 characters; "x-" keys are anchors only, so without the budget the
    # file would even load. 10^9 (nine levels) is refused just the same, and as fast.
    bomb = "\n".join(f"x-{line}" for line in billion_laughs(6).splitlines())
    text = str(load_error(bomb + "\n" + MINIMAL))
    assert "expands to far more values than it has text" in text
    with pytest.raises(YamlProblem, match="expands to far more values"):
        load_yaml(billion_laughs(9))


def test_real_files_with_many_merged_anchors_still_load(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    strategy = """      - <<: *ladder
        name: m{n}
"""
    text = MINIMAL.replace(
        "    strategies:\n",
        "    strategies:\n" + "".join(strategy.format(n=n) for n in range(2000)),
    )
    head = """x-ladder: &ladder
  account: main
  symbol: ETH/BTC
  base_order: 0.0002
  safety_order: 0.0002
  max_safety_orders: 3
  price_deviation: 1.5
  take_profit: 1.5
"""
    text = head + text.replace("balances: {BTC: 1}", "balances: {BTC: 100}")
    config = load_ok(text)
    assert len(config.users[0].strategies) == 2001


def test_the_yaml_budget_scales_with_the_text(tmp_path: Path) -> None:
    data, _ = load_yaml("k: [" + ", ".join(["1"] * 50_000) + "]\n")
    assert len(data["k"]) == 50_000
    path = tmp_path / "c.yaml"
    path.write_text(billion_laughs(5), encoding="utf-8")  # 10^5 values: under the floor
    assert load_yaml(path.read_text())[0]["e"][0][0][0][0] == ["lol"] * 10
    with pytest.raises(ConfigError):
        load_config(path)  # not a config, but read fine: the error is the schema's


@pytest.mark.parametrize(
    ("prefix", "written", "path"),
    [
        ("web:\n  port: ", "true", "web.port"),
        ("web:\n  workers: ", "yes", "web.workers"),
        ("retention:\n  batch_rows: ", "on", "retention.batch_rows"),
        ("", "", "users[0].strategies[0].max_safety_orders"),
    ],
)
def test_true_is_not_a_whole_number(
    load_error: LoadError, prefix: str, written: str, path: str
) -> None:
    """YAML's true/yes/on would be the integer 1 in pydantic's lax mode: a typo that sets a
    port, a worker count or a number of safety orders to 1."""
    if prefix:
        text = prefix + written + "\n" + MINIMAL
    else:
        text = MINIMAL.replace("max_safety_orders: 3", "max_safety_orders: true")
    assert f"{path}: must be a whole number, not true/false" in str(load_error(text))
