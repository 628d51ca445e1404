"""`martingale sweep --space FILE`: the parameter space of a sweep, kept in a YAML file.

    params:                 # fixed parameters, named as in `martingale plan`
      base_order: 0.002
      safety_order: 0.004
    grid:                   # every combination of these ...
      take_profit: [1, 1.5, 2]
      price_deviation: "1:3:0.5"
    random: 200             # ... or this many sets drawn from these ranges
    seed: 1
    range:
      take_profit: "0.5:3"

Options given on the command line win over the file, name by name. A bad file exits 2 with
``FILE:LINE: PATH: PROBLEM`` for every problem, as a bad config file does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.commands.plan import _PARAMS
from config.loader import ConfigError, ConfigProblem
from config.yamlsource import SourceMap, YamlProblem, load_yaml

_KEYS = ("params", "grid", "random", "seed", "range")


@dataclass(frozen=True, slots=True)
class Space:
    params: dict[str, str] = field(default_factory=dict)
    grid: dict[str, str] = field(default_factory=dict)  # name -> "a,b,c" or "low:high:step"
    ranges: dict[str, str] = field(default_factory=dict)  # name -> "low:high[:step]"
    random: int | None = None
    seed: int | None = None


def load_space(path: str) -> Space:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", "sweep file not found", None)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = ConfigProblem("", f"cannot read the sweep file: {type(exc).__name__}", None)
        raise ConfigError(path, [problem]) from None
    try:
        data, source = load_yaml(text)
    except YamlProblem as exc:
        where = ".".join(str(p) for p in exc.path)
        raise ConfigError(path, [ConfigProblem(where, exc.message, exc.line)]) from None
    return _Reader(path, source).space(data)


class _Reader:
    def __init__(self, file: str, source: SourceMap) -> None:
        self.file, self.source = file, source
        self.problems: list[ConfigProblem] = []

    def problem(self, loc: tuple[str, ...], message: str) -> None:
        self.problems.append(ConfigProblem(".".join(loc), message, self.source.line_for(loc)))

    def space(self, data: Any) -> Space:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.problem((), "expected a mapping with params, grid, random, seed, range")
            raise ConfigError(self.file, self.problems)
        for key in data:
            if key not in _KEYS:
                self.problem((str(key),), f"unknown key; expected one of {', '.join(_KEYS)}")
        space = Space(
            params=self.names("params", data.get("params"), lists=False),
            grid=self.names("grid", data.get("grid"), lists=True),
            ranges=self.names("range", data.get("range"), lists=False),
            random=self.count("random", data.get("random"), least=1),
            seed=self.count("seed", data.get("seed"), least=0),
        )
        if self.problems:
            raise ConfigError(self.file, self.problems)
        return space

    def names(self, key: str, value: Any, *, lists: bool) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem((key,), "expected a mapping of parameter names to values")
            return {}
        known = {n for n, _ in _PARAMS}
        out: dict[str, str] = {}
        for name, given in value.items():
            loc = (key, str(name))
            if name not in known:
                self.problem(loc, f"unknown parameter; expected one of {', '.join(sorted(known))}")
            elif lists and isinstance(given, list) and given:
                if all(_scalar(v) for v in given):
                    out[name] = ",".join(_text(v) for v in given)
                else:
                    self.problem(loc, "expected a list of numbers")
            elif _scalar(given):
                out[name] = _text(given)
            else:
                self.problem(
                    loc, "expected a value" + (", a list, or low:high:step" if lists else "")
                )
        return out

    def count(self, key: str, value: Any, *, least: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | Decimal) or value != int(value):
            self.problem((key,), "expected a whole number")
            return None
        if value < least:
            self.problem((key,), f"must be at least {least}")
            return None
        return int(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | Decimal) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)
