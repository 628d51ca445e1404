"""Read the credentials a config names (environment variables, files) into `Secret` values.

Kept apart from validation on purpose: `load_config` never reads a secret, so no validation
error can contain one, and `martingale status --config` works without the keys being present.
The service calls these right after loading, before it touches the database. Every value read
is registered with the log redactor, so it is masked even if it turns up inside some string.
Error messages name the account path and the variable or key, never the value.

A secret file (and the master key file) must be private to its owner: one that other users can
read or change is refused, like ssh refuses a private key anyone can read. The master key comes
from exactly one place: `master_key_file` and $MARTINGALE_MASTER_KEY both set is an error, as
two sources that could disagree are refused rather than guessed between.

`lookup_credentials` tells an account whose every source is absent (variables unset, files not
there) apart from one that is broken: the first may already have its keys stored in the
database, which `martingale run`/`onboard` then keep using; the second is always an error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from config.loader import ConfigError, ConfigProblem, format_path
from config.schema import MASTER_KEY_ENV, LiveAccount, ServiceConfig
from domain.secrets import Credentials, Secret, register_secret

AccountKey = tuple[str, str]  # (user name, account name)
_NOT_PRIVATE = stat.S_IRWXG | stat.S_IRWXO
_SOURCES = (("api_key", True), ("secret", True), ("passphrase", False))


@dataclass(frozen=True, slots=True)
class CredentialLookup:
    """What the config's sources gave: the credentials read, and the live accounts none of
    whose sources exist, with the problems to report if nothing is stored for them either."""

    found: dict[AccountKey, Credentials] = field(default_factory=dict)
    absent: dict[AccountKey, list[ConfigProblem]] = field(default_factory=dict)


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
    credentials, problems, _ = _read_account(account, where, config, env)
    if problems:
        raise ConfigError(_file_of(config, "credentials"), problems)
    assert credentials is not None
    return credentials


def resolve_all_credentials(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> dict[AccountKey, Credentials]:
    """(user, account) -> credentials for every live account; one ConfigError for all problems."""
    lookup = lookup_credentials(config, env=env)
    if lookup.absent:
        problems = [p for found in lookup.absent.values() for p in found]
        raise ConfigError(_file_of(config, "credentials"), problems)
    return lookup.found


def lookup_credentials(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> CredentialLookup:
    """Every live account's credentials, or its absence; ConfigError for anything else (an
    unreadable, empty or shared file, or some sources of an account present and some not)."""
    lookup = CredentialLookup()
    problems: list[ConfigProblem] = []
    for i, user in enumerate(config.users):
        for j, account in enumerate(user.accounts):
            if not isinstance(account, LiveAccount):
                continue
            where = ("users", i, "accounts", j)
            credentials, found, absent = _read_account(account, where, config, env)
            if credentials is not None:
                lookup.found[(user.name, account.name)] = credentials
            elif absent:
                lookup.absent[(user.name, account.name)] = found
            else:
                problems.extend(found)
    if problems:
        raise ConfigError(_file_of(config, "credentials"), problems)
    return lookup


def resolve_master_key(
    config: ServiceConfig, *, env: Mapping[str, str] | None = None
) -> Secret | None:
    """The vault's master key from `master_key_file` or $MARTINGALE_MASTER_KEY, else None.

    The vault decides the key's format; None lets the caller say that one is needed.
    """
    environ = os.environ if env is None else env
    where = ("master_key_file",)
    if config.master_key_file is not None and environ.get(MASTER_KEY_ENV, "").strip():
        problem = ConfigProblem(
            "master_key_file",
            f"${MASTER_KEY_ENV} is set too; give the master key in one place only: unset "
            f"{MASTER_KEY_ENV} or remove master_key_file",
            config.source_line(where),
        )
        raise ConfigError(_file_of(config, "master key"), [problem])
    try:
        if config.master_key_file is not None:
            return _read(None, config.master_key_file, environ)
        return _read(MASTER_KEY_ENV, None, environ, required=False)
    except _Unreadable as exc:
        if exc.source == "file":
            problem = ConfigProblem("master_key_file", exc.reason, config.source_line(where))
        else:
            problem = ConfigProblem(MASTER_KEY_ENV, exc.reason, None)
        raise ConfigError(_file_of(config, "master key"), [problem]) from None


def private_file_problem(path: Path) -> str | None:
    """Why a file holding a secret may not be used as it is, or None when it may."""
    return _file_problem(path)[0]


def _file_problem(path: Path) -> tuple[str | None, bool]:
    """(why the secret file cannot be used or None, whether it simply is not there)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "the file does not exist", True
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or 'error'}", False
    if not stat.S_ISREG(mode):
        return "not a regular file", False
    if mode & _NOT_PRIVATE:
        return (
            f"other users can access the file (mode {stat.S_IMODE(mode):03o}); make it "
            "readable by its owner only: chmod 600"
        ), False
    return None, False


def _read_account(
    account: LiveAccount,
    where: tuple[str | int, ...],
    config: ServiceConfig | None,
    env: Mapping[str, str] | None,
) -> tuple[Credentials | None, list[ConfigProblem], bool]:
    """(credentials or None, problems, whether every configured source is simply absent)."""
    environ = os.environ if env is None else env
    problems: list[ConfigProblem] = []
    values: dict[str, Secret | None] = {}
    configured = absent = 0
    for name, _required in _SOURCES:
        env_name: str | None = getattr(account, f"{name}_env")
        file: Path | None = getattr(account, f"{name}_file")
        configured += env_name is not None or file is not None
        try:
            values[name] = _read(env_name, file, environ)
        except _Unreadable as exc:
            absent += exc.absent
            loc = (*where, f"{name}_{exc.source}")
            line = config.source_line(loc) if config is not None else None
            problems.append(ConfigProblem(format_path(loc), exc.reason, line))
    if problems:
        return None, problems, absent == configured
    api_key, secret = values["api_key"], values["secret"]
    assert api_key is not None and secret is not None  # the schema requires both sources
    return Credentials(api_key=api_key, secret=secret, passphrase=values["passphrase"]), [], False


def _file_of(config: ServiceConfig | None, fallback: str) -> str:
    source = config.source_file if config is not None else None
    return str(source) if source is not None else fallback


class _Unreadable(Exception):
    def __init__(self, source: str, reason: str, *, absent: bool = False) -> None:
        super().__init__(reason)
        self.source = source
        self.reason = reason
        self.absent = absent  # not there at all (unset variable, no file), not broken


def _read(
    env_name: str | None, file: Path | None, environ: Mapping[str, str], *, required: bool = True
) -> Secret | None:
    if env_name is not None:
        value = environ.get(env_name, "").strip()
        if not value:
            if not required:
                return None
            raise _Unreadable(
                "env", f"environment variable {env_name} is not set or is empty", absent=True
            )
        return _registered(value)
    if file is not None:
        problem, absent = _file_problem(file)
        if problem is not None and absent:
            problem += " (a relative path is relative to the config file's directory)"
        if problem is not None:
            raise _Unreadable("file", problem, absent=absent)
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


def resolved_url(config: ServiceConfig, env: Mapping[str, str] | None = None) -> str:
    """`database.url` with its password filled in from `password_env` or `password_file`
    (quoted for the URL), or the url as written when neither is set. ConfigError, naming the
    key, when the variable is unset or the file unreadable, empty or not private."""
    database = config.database
    if database.password_env is None and database.password_file is None:
        return database.url
    environ = os.environ if env is None else env
    try:
        password = _read(database.password_env, database.password_file, environ)
    except _Unreadable as exc:
        loc = ("database", f"password_{exc.source}")
        problem = ConfigProblem(format_path(loc), exc.reason, config.source_line(loc))
        raise ConfigError(_file_of(config, "database"), [problem]) from None
    assert password is not None
    scheme, sep, rest = database.url.partition("://")
    authority, slash, path = rest.partition("/")
    user, _, host = authority.rpartition("@")
    secret = quote(password.reveal(), safe="")
    return f"{scheme}{sep}{user}:{secret}@{host}{slash}{path}"


def resolve_paper_token(
    config: ServiceConfig, *, serving: bool, env: Mapping[str, str] | None = None
) -> Secret:
    """The shared token of a served paper venue: `paper.serve.token_env/_file` for the venue
    process (`serving`), `paper.venue_token_env/_file` for a service on it. ConfigError naming
    the key when it is not configured, unset, unreadable, empty or not private."""
    paper = config.paper
    environ = os.environ if env is None else env
    if serving:
        section: tuple[str, ...] = ("paper", "serve")
        prefix = ""
        env_name = paper.serve.token_env if paper.serve is not None else None
        file = paper.serve.token_file if paper.serve is not None else None
    else:
        section, prefix = ("paper",), "venue_"
        env_name, file = paper.venue_token_env, paper.venue_token_file
    try:
        token = _read(env_name, file, environ, required=True)
        if token is None:
            raise _Unreadable("env", "is not set: the served paper venue needs a shared token")
    except _Unreadable as exc:
        loc = (*section, f"{prefix}token_{exc.source}")
        problem = ConfigProblem(format_path(loc), exc.reason, config.source_line(loc))
        raise ConfigError(_file_of(config, "paper"), [problem]) from None
    return token
