"""The YAML reader keeps numbers exact and knows the line of every value."""

from __future__ import annotations

from decimal import Decimal

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import config.yamlsource as module
from config.yamlsource import YamlProblem, load_yaml


def test_floats_become_the_exact_decimal_written() -> None:
    data, _ = load_yaml("a: 0.1\nb: 2.50\nc: -0.00000001\nd: 1_000.5\ne: 3\n")
    assert data == {
        "a": Decimal("0.1"),
        "b": Decimal("2.50"),
        "c": Decimal("-0.00000001"),
        "d": Decimal("1000.5"),
        "e": 3,
    }
    assert str(data["a"]) == "0.1"  # not 0.1000000000000000055511151231257827
    assert str(data["b"]) == "2.50"
    assert data["a"] * 3 == Decimal("0.3")


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=8, min_value=-(10**9), max_value=10**9
    )
)
def test_any_plain_decimal_round_trips_exactly(value: Decimal) -> None:
    text = format(value, "f")
    data, _ = load_yaml(f"x: {text}\n")
    assert isinstance(data["x"], Decimal | int)
    assert Decimal(data["x"]) == value
    if isinstance(data["x"], Decimal):
        assert format(data["x"], "f") == text


def test_non_finite_floats_stay_text_so_validation_can_refuse_them() -> None:
    data, _ = load_yaml("a: .inf\nb: .nan\n")
    assert data == {"a": ".inf", "b": ".nan"}


def test_mapping_keys_are_their_source_text() -> None:
    data, _ = load_yaml("no: 1\nyes: 2\n1: 3\n")
    assert data == {"no": 1, "yes": 2, "1": 3}


def test_lines_are_recorded_per_path() -> None:
    _, source = load_yaml("users:\n  - name: a\n    strategies:\n      - take_profit: 1.5\n")
    assert source.line_for(("users", 0, "strategies", 0, "take_profit")) == 4
    assert source.line_for(("users", 0, "name")) == 2
    # a missing key falls back to its nearest parent
    assert source.line_for(("users", 0, "strategies", 0, "base_order")) == 4


def test_duplicate_keys_are_refused_with_their_line() -> None:
    with pytest.raises(YamlProblem) as info:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert info.value.line == 4
    assert "duplicate key 'c'" in info.value.message


def test_syntax_errors_carry_the_line() -> None:
    with pytest.raises(YamlProblem) as info:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n")
    assert info.value.line is not None and info.value.line >= 2
    assert "YAML syntax error" in info.value.message


def test_merge_keys_fill_in_without_overriding_explicit_keys() -> None:
    text = "base: &b {x: 0.1, y: 2}\nitem:\n  <<: *b\n  y: 3\n"
    data, source = load_yaml(text)
    assert data["item"] == {"x": Decimal("0.1"), "y": 3}
    assert source.line_for(("item", "y")) == 4


def test_recursive_aliases_are_refused() -> None:
    with pytest.raises(YamlProblem, match="too deep"):
        load_yaml("a: &a [*a]\n")


def test_pure_python_composer_gives_the_same_data_and_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = "a: 0.1\nb:\n  - {x: 2.50, y: no}\n  - z: [1, .5]\n"
    fast = load_yaml(text)
    monkeypatch.setattr(module, "_COMPOSER", yaml.SafeLoader)
    slow = load_yaml(text)
    assert fast[0] == slow[0]
    assert fast[1].lines == slow[1].lines
