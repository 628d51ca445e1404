"""`parsed_params`: the parameters each cycle reads, parsed once per distinct mapping."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actors.engine_policy import parsed_params
from domain.errors import ValidationError
from strategy.params import MartingaleParams

BASE = {
    "base_order": "10",
    "safety_order": "20",
    "max_safety_orders": 3,
    "price_deviation": "1.5",
    "take_profit": "1",
}


def test_the_same_mapping_gives_the_same_value_once_parsed() -> None:
    first = parsed_params(dict(BASE))
    assert first == MartingaleParams.from_mapping(BASE)
    assert parsed_params(dict(reversed(list(BASE.items())))) is first


def test_a_changed_value_is_parsed_afresh() -> None:
    assert parsed_params({**BASE, "take_profit": "2"}).take_profit == Decimal(2)
    assert parsed_params(BASE).take_profit == Decimal(1)


def test_equal_values_of_another_text_or_type_are_not_shared() -> None:
    # 1.5 == Decimal("1.50"), but the parameters keep what they were given.
    as_float = parsed_params({**BASE, "price_deviation": 1.5})
    as_text = parsed_params({**BASE, "price_deviation": "1.50"})
    assert str(as_float.price_deviation) == "1.5"
    assert str(as_text.price_deviation) == "1.50"


def test_a_bad_mapping_fails_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValidationError, match="take_profit"):
            parsed_params({**BASE, "take_profit": "-1"})
