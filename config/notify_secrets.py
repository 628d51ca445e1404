"""Read the notification URLs a config names (`url_env`, `url_file`) into `Secret` values.

Like `config.secrets` for exchange keys (and with its rules: a secret file must be private to
its owner, every value read is registered with the log redactor, messages name the entry and
the variable or file, never the value). A target whose source is simply absent (variable
unset, file not there) may already have its URL stored: the sync then keeps that one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from config.loader import ConfigError, ConfigProblem, format_path
from config.schema import ServiceConfig
from config.secrets import _file_of, _read, _Unreadable
from domain.secrets import Secret

TargetKey = tuple[str, str]  # (user name, target name)


@dataclass(frozen=True, slots=True)
class UrlLookup:
    found: dict[TargetKey, Secret] = field(default_factory=dict)
    absent: dict[TargetKey, list[ConfigProblem]] = field(default_factory=dict)


def lookup_notification_urls(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> UrlLookup:
    """Every target's URL, or its absence; ConfigError for an unreadable, empty or shared
    file (an absent source is reported only if nothing is stored either: the sync decides)."""
    environ = os.environ if env is None else env
    lookup = UrlLookup()
    problems: list[ConfigProblem] = []
    for i, user in enumerate(config.users):
        for j, target in enumerate(user.notifications):
            try:
                url = _read(target.url_env, target.url_file, environ)
            except _Unreadable as exc:
                loc = ("users", i, "notifications", j, f"url_{exc.source}")
                problem = ConfigProblem(format_path(loc), exc.reason, config.source_line(loc))
                if exc.absent:
                    lookup.absent[(user.name, target.name)] = [problem]
                else:
                    problems.append(problem)
                continue
            assert url is not None  # the schema requires one source
            lookup.found[(user.name, target.name)] = url
    if problems:
        raise ConfigError(_file_of(config, "notifications"), problems)
    return lookup


def has_notifications(config: ServiceConfig) -> bool:
    return any(user.notifications for user in config.users)
