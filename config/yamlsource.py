"""YAML -> plain data that keeps numbers exact and remembers where every value came from.

PyYAML's own constructor turns ``0.1`` into a binary float, which has already lost the value the
user wrote. We compose the node graph instead and build the data ourselves: a float scalar
becomes ``Decimal`` of its source text (so ``0.1`` is exactly ``Decimal('0.1')``), and every
value's path (``("users", 1, "strategies", 0, "take_profit")``) is mapped to its line so that
validation errors can point into the file. Mapping keys are always their source text: a key
``no:`` stays the string ``"no"`` and never becomes ``False``.

Duplicate keys are errors here; PyYAML would silently keep the last one, which hides typos.

Hostile or mistaken input fails fast with the path of the value: a number too long or too large
to be a setting (`config.numbers`), and a document whose aliases expand to far more values than
its text could hold (a "billion laughs" bomb: a few lines whose nested anchors would build 10^9
values) stops after a budget of values proportional to the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from config.numbers import number_problem, shown, text_problem

Path = tuple[str | int, ...]

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_DEPTH = 64
# Values built per character of text, plus a floor: anchors and merge keys let a short file
# build more values than it has characters, but never 10 per character in a real config.
_VALUES_PER_CHAR = 10
_MIN_VALUE_BUDGET = 200_000
# libyaml composes ~20x faster than pure Python (a 5,000-strategy file: 0.3 s instead of 6 s);
# both resolve tags and record marks the same way.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlProblem(Exception):
    """A YAML document that cannot be read; `line` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.path = path


@dataclass(slots=True)
class SourceMap:
    """Path -> 1-based line of the value (or of the key, for mappings and sequences)."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line_for(self, path: Path) -> int | None:
        """Line of `path`, or of its nearest recorded ancestor (e.g. for a missing key)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def load_yaml(text: str) -> tuple[Any, SourceMap]:
    """Parse one YAML document; raises YamlProblem with the line for syntax errors."""
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.problem:
            problem = f"{problem} ({exc.context})"
        raise YamlProblem(
            f"YAML syntax error: {problem}", line=mark.line + 1 if mark else None
        ) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    source = SourceMap()
    if node is None:
        return None, source
    budget = _MIN_VALUE_BUDGET + _VALUES_PER_CHAR * len(text)
    return _Builder(source, budget).build(node, (), 0), source


class _Builder:
    def __init__(self, source: SourceMap, budget: int) -> None:
        self.source = source
        self.budget = budget  # values left to build (see _VALUES_PER_CHAR)
        self.constructor = yaml.SafeLoader("")  # only used to construct ints, bools, nulls

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise YamlProblem(
                "nesting is too deep (recursive alias?)", line=node.start_mark.line + 1, path=path
            )
        self.budget -= 1
        if self.budget < 0:
            raise YamlProblem(
                "the document expands to far more values than it has text: its aliases (*name) "
                "repeat anchors that repeat others; write the values out instead",
                line=node.start_mark.line + 1,
                path=path,
            )
        self.source.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag not in (_FLOAT_TAG, _INT_TAG):
            return self.constructor.construct_object(node, deep=True)
        problem = text_problem(node.value)
        value: Decimal | int = 0
        if problem is None and node.tag == _FLOAT_TAG:
            try:
                value = Decimal(node.value.replace("_", ""))
            except InvalidOperation:
                return node.value  # .inf, .nan, 1:30.5: left as text for validation to refuse
            if not value.is_finite():
                return node.value
            problem = number_problem(value)
        elif problem is None:
            value = self.constructor.construct_yaml_int(node)
            problem = number_problem(Decimal(value))
        if problem is not None:
            raise YamlProblem(
                f"the number {shown(node.value)} {problem}",
                line=node.start_mark.line + 1,
                path=path,
            )
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit: set[str] = set()
        merged: list[tuple[yaml.Node, Path]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.append((value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem(
                    "mapping keys must be plain scalars",
                    line=key_node.start_mark.line + 1,
                    path=path,
                )
            key = str(key_node.value)
            if key in explicit:
                raise YamlProblem(
                    f"duplicate key {key!r}", line=key_node.start_mark.line + 1, path=(*path, key)
                )
            explicit.add(key)
            self.source.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key), depth + 1)
        for value_node, at in merged:
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                base = self._build_detached(source, at, depth + 1)
                if not isinstance(base, dict):
                    raise YamlProblem(
                        "a merge key (<<) needs a mapping or a list of mappings",
                        line=source.start_mark.line + 1,
                        path=path,
                    )
                for key, value in base.items():
                    result.setdefault(key, value)
        return result

    def _build_detached(self, node: yaml.Node, path: Path, depth: int) -> Any:
        """Build merged-in content without letting its lines overwrite the explicit keys' lines."""
        own, self.source = self.source, SourceMap()
        try:
            value = self.build(node, path, depth)
        finally:
            scratch, self.source = self.source, own
        for at, line in scratch.lines.items():
            self.source.lines.setdefault(at, line)
        return value
