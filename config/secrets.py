"""Read the credentials a config names (environment variables, files) into `Secret` values.

Kept apart from validation on purpose: `load_config` never reads a secret, so no validation
error can contain one, and `martingale status --config` works without the keys being present.
The service calls these right after loading, before it touches the database. Every value read
is registered with the log redactor, so it is masked even if it turns up inside some string.
Error messages name the account path and the variable or key, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from config.loader import ConfigError, ConfigProblem, format_path
from config.schema import MASTER_KEY_ENV, LiveAccount, ServiceConfig
from domain.secrets import Credentials, Secret, register_secret


def resolve_credentials(
    account: LiveAccount,
    *,
    where: tuple[str | int, ...] = (),
    config: ServiceConfig | None = None,
    env: Mapping[str, str] | None = None,
) -> Credentials:
    """The account's key, secret and optional passphrase; ConfigError when one is unreadable.

    `where` is the account's path in `config` (e.g. ``("users", 0, "accounts", 1)``), used with
    the config's source file and lines to point at the entry in messages.
    """
    environ = os.environ if env is None else env
    problems: list[ConfigProblem] = []
    values: dict[str, Secret | None] = {}
    for name in ("api_key", "secret", "passphrase"):
        env_name: str | None = getattr(account, f"{name}_env")
        file: Path | None = getattr(account, f"{name}_file")
        try:
            values[name] = _read(env_name, file, environ)
        except _Unreadable as exc:
            loc = (*where, f"{name}_{exc.source}")
            line = config.source_line(loc) if config is not None else None
            problems.append(ConfigProblem(format_path(loc), exc.reason, line))
    if problems:
        raise ConfigError(_file_of(config, "credentials"), problems)
    api_key, secret = values["api_key"], values["secret"]
    assert api_key is not None and secret is not None  # the schema requires both sources
    return Credentials(api_key=api_key, secret=secret, passphrase=values["passphrase"])


def resolve_all_credentials(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> dict[tuple[str, str], Credentials]:
    """(user, account) -> credentials for every live account; one ConfigError for all problems."""
    found: dict[tuple[str, str], Credentials] = {}
    problems: list[ConfigProblem] = []
    for i, user in enumerate(config.users):
        for j, account in enumerate(user.accounts):
            if not isinstance(account, LiveAccount):
                continue
            try:
                found[(user.name, account.name)] = resolve_credentials(
                    account, where=("users", i, "accounts", j), config=config, env=env
                )
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(_file_of(config, "credentials"), problems)
    return found


def resolve_master_key(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> Secret | None:
    """The vault's master key from `master_key_file`, else $MARTINGALE_MASTER_KEY, else None.

    The vault decides the key's format; None lets the caller say that one is needed.
    """
    environ = os.environ if env is None else env
    try:
        key = _read(None, config.master_key_file, environ) if config.master_key_file else None
        if key is None:
            key = _read(MASTER_KEY_ENV, None, environ, required=False)
    except _Unreadable as exc:
        if exc.source == "file":
            problem = ConfigProblem(
                "master_key_file", exc.reason, config.source_line(("master_key_file",))
            )
        else:
            problem = ConfigProblem(MASTER_KEY_ENV, exc.reason, None)
        raise ConfigError(_file_of(config, "master key"), [problem]) from None
    return key


def _file_of(config: ServiceConfig | None, fallback: str) -> str:
    source = config.source_file if config is not None else None
    return str(source) if source is not None else fallback


class _Unreadable(Exception):
    def __init__(self, source: str, reason: str) -> None:
        super().__init__(reason)
        self.source = source
        self.reason = reason


def _read(
    env_name: str | None, file: Path | None, environ: Mapping[str, str], *, required: bool = True
) -> Secret | None:
    if env_name is not None:
        value = environ.get(env_name, "").strip()
        if not value:
            if not required:
                return None
            raise _Unreadable("env", f"environment variable {env_name} is not set or is empty")
        return _registered(value)
    if file is not None:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _Unreadable("file", f"cannot read the file: {exc.strerror or 'error'}") from None
        except UnicodeDecodeError:
            raise _Unreadable("file", "the file is not UTF-8 text") from None
        if not value:
            raise _Unreadable("file", "the file is empty")
        return _registered(value)
    return None


def _registered(value: str) -> Secret:
    register_secret(value)
    return Secret(value)
