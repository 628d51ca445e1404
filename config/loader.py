"""Load and completely validate an onboarding file before anything acts on it.

A bad file must change nothing, so `load_config` either returns a fully checked
`ServiceConfig` or raises one `ConfigError` listing every problem as
``FILE:LINE: PATH: PROBLEM`` (the form editors and terminals link to). Error text is built
only from field names, our own messages and non-secret values: pydantic's ``input`` is never
printed, so a secret in the file cannot leak through a validation error.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from config.checks import Problem, check_config
from config.schema import (
    PLAINTEXT_SECRET_KEYS,
    UNION_TAGS,
    ServiceConfig,
    plaintext_secret_message,
)
from config.yamlsource import SourceMap, YamlProblem, load_yaml
from domain.errors import ConfigurationError

MAX_LISTED = 25
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str
    line: int | None


class ConfigError(ConfigurationError):
    """A config file that cannot be used; `problems` lists each one with path and line."""

    def __init__(self, file: str, problems: list[ConfigProblem]) -> None:
        self.file = file
        self.problems = problems
        lines = [_format(file, p) for p in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(f"... and {len(problems) - MAX_LISTED} more problems")
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{file}: {len(problems)} problems\n  " + "\n  ".join(lines)
        super().__init__(text, field=problems[0].path if problems else None)
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


def _format(file: str, problem: ConfigProblem) -> str:
    where = f"{file}:{problem.line}" if problem.line is not None else file
    return (
        f"{where}: {problem.path}: {problem.message}"
        if problem.path
        else f"{where}: {problem.message}"
    )


def format_path(loc: Iterable[str | int]) -> str:
    """("users", 1, "strategies", 0, "take_profit") -> 'users[1].strategies[0].take_profit'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in UNION_TAGS:
            continue
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def load_config(path: str | Path) -> ServiceConfig:
    """Read, parse and validate `path`; raises ConfigError naming file, path, line, problem."""
    file = Path(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, [ConfigProblem("", "config file not found", None)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        problem = ConfigProblem("", f"cannot read the config file: {exc.__class__.__name__}", None)
        raise ConfigError(name, [problem]) from None
    return parse_config(text, name=name, base_dir=file.resolve().parent)


def parse_config(text: str, *, name: str, base_dir: Path) -> ServiceConfig:
    """Validate YAML `text` as if read from file `name` in directory `base_dir`."""
    try:
        data, source = load_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(
            name, [ConfigProblem(format_path(exc.path), exc.message, exc.line)]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            name,
            [ConfigProblem("", "the file must be a mapping of keys (database, users, ...)", 1)],
        )
    # Top-level "x-..." keys hold YAML anchors for reuse (as in docker compose); not settings.
    data = {k: v for k, v in data.items() if not k.startswith("x-")}
    plaintext = list(_plaintext_secrets(data))
    if plaintext:
        raise ConfigError(name, [_problem(loc, msg, source) for loc, msg in plaintext])
    try:
        config = ServiceConfig.model_validate(data, context={"base_dir": base_dir})
    except pydantic.ValidationError as exc:
        problems = [_from_pydantic(error, source) for error in exc.errors(include_input=False)]
        raise ConfigError(name, problems) from None
    checked: list[Problem] = check_config(config)
    if checked:
        raise ConfigError(name, [_problem(p.path, p.message, source) for p in checked])
    config._source_file = Path(name)
    config._source_lines = dict(source.lines)
    return config


def _problem(loc: Loc, message: str, source: SourceMap) -> ConfigProblem:
    return ConfigProblem(format_path(loc), message, source.line_for(loc))


def _plaintext_secrets(data: dict[str, Any]) -> Iterable[tuple[Loc, str]]:
    """Plaintext credentials in accounts, found before validation so the path is exact."""
    users = data.get("users")
    if not isinstance(users, list):
        return
    for i, user in enumerate(users):
        accounts = user.get("accounts") if isinstance(user, dict) else None
        if not isinstance(accounts, list):
            continue
        for j, account in enumerate(accounts):
            if not isinstance(account, dict):
                continue
            for key in account:
                if key in PLAINTEXT_SECRET_KEYS:
                    yield ("users", i, "accounts", j, key), plaintext_secret_message(key)


def _from_pydantic(error: Any, source: SourceMap) -> ConfigProblem:
    tagged: Loc = tuple(error["loc"])
    loc: Loc = tuple(part for part in tagged if part not in UNION_TAGS)
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        message = f"unknown key {str(loc[-1])!r}" + _suggestion(tagged)
    elif kind == "missing":
        message = "required key is missing"
    elif kind in ("invalid_feed", "missing_exchange"):
        loc = (*loc, "feed" if kind == "invalid_feed" else "exchange")
    else:
        message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    return ConfigProblem(format_path(loc), message, source.line_for(loc))


def _suggestion(loc: Loc) -> str:
    """' (did you mean ...?)' from the keys allowed where the unknown key was found."""
    model = _model_at(ServiceConfig, loc[:-1])
    if model is None:
        return ""
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f"; allowed keys here: {', '.join(allowed)}"


def _model_at(root: Any, loc: Loc) -> type[pydantic.BaseModel] | None:
    """Walk the schema's annotations along an error location to the model found there."""
    hint: Any = root
    for part in loc:
        if isinstance(part, str) and part in UNION_TAGS:
            hint = _unwrap(hint, part)
            continue
        hint = _unwrap(hint, None)
        if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel):
            if not isinstance(part, str) or part not in hint.model_fields:
                return None
            hint = hint.model_fields[part].annotation
        elif typing.get_origin(hint) is list and isinstance(part, int):
            hint = typing.get_args(hint)[0]
        elif typing.get_origin(hint) is dict and isinstance(part, str):
            hint = typing.get_args(hint)[1]
        else:
            return None
    hint = _unwrap(hint, None)
    return hint if isinstance(hint, type) and issubclass(hint, pydantic.BaseModel) else None


def _unwrap(hint: Any, tag: str | None) -> Any:
    """Strip Annotated/Optional; for a tagged union pick the member with `tag`."""
    while True:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(hint) if a is not type(None)]
            chosen = next((m for m in members if _tag_of(m) == tag), None)
            if chosen is None and len(members) != 1:
                return hint
            hint = chosen if chosen is not None else members[0]
        else:
            return hint


def _tag_of(hint: Any) -> str | None:
    if typing.get_origin(hint) is typing.Annotated:
        for meta in typing.get_args(hint)[1:]:
            if isinstance(meta, pydantic.Tag):
                return meta.tag
    return None
