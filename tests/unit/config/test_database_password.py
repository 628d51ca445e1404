"""database.password_env / password_file: the database password kept out of the config file,
filled into the URL when it is used, and never shown."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError
from config.schema import ServiceConfig
from config.secrets import resolved_url
from tests.unit.config.conftest import MINIMAL

PASSWORD = "p@ss:w/rd%41 x"  # every character a URL would misread
QUOTED = "p%40ss%3Aw%2Frd%2541%20x"


def _with(database: str) -> str:
    return "database:\n" + database + MINIMAL


def test_the_password_comes_from_the_environment_quoted(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    config = load_ok(
        _with("  url: mysql+pymysql://bot@db.internal:3306/mg?charset=utf8mb4\n"
              "  password_env: MG_DB_PASSWORD\n")
    )  # fmt: skip
    assert config.database.url == "mysql+pymysql://bot@db.internal:3306/mg?charset=utf8mb4"
    url = resolved_url(config, {"MG_DB_PASSWORD": PASSWORD})
    assert url == f"mysql+pymysql://bot:{QUOTED}@db.internal:3306/mg?charset=utf8mb4"
    assert PASSWORD not in repr(config) and PASSWORD not in str(config.database)


def test_the_password_comes_from_a_private_file(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    secret = tmp_path / "db.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o600)
    config = load_ok(
        _with("  url: mysql+pymysql://bot@127.0.0.1/mg\n  password_file: db.password\n")
    )
    assert resolved_url(config, {}) == f"mysql+pymysql://bot:{QUOTED}@127.0.0.1/mg"
    secret.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        resolved_url(config, {})
    assert "database.password_file" in str(info.value) and "chmod 600" in str(info.value)
    assert PASSWORD not in str(info.value)


def test_an_unset_variable_names_the_key(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(_with("  url: mysql+pymysql://bot@127.0.0.1/mg\n  password_env: MG_PW\n"))
    with pytest.raises(ConfigError) as info:
        resolved_url(config, {})
    message = str(info.value)
    assert "database.password_env" in message and "MG_PW" in message
    assert "service.yaml:3: database.password_env" in message  # the key's line


def test_without_either_the_url_is_used_as_written(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    config = load_ok(_with("  url: mysql+pymysql://bot:inline@127.0.0.1/mg\n"))
    assert resolved_url(config, {}) == "mysql+pymysql://bot:inline@127.0.0.1/mg"


@pytest.mark.parametrize(
    ("database", "problem"),
    [
        (
            "  url: mysql+pymysql://bot@h/mg\n  password_env: A\n  password_file: f\n",
            "not both",
        ),
        ("  url: sqlite:///var/x.sqlite\n  password_env: A\n", "SQLite database has no password"),
        ("  url: mysql+pymysql://h/mg\n  password_env: A\n", "needs a user"),
        (
            "  url: mysql+pymysql://bot:Zq9inline@h/mg\n  password_env: A\n",
            "already holds a password",
        ),
    ],
)
def test_contradictions_are_refused_at_load(
    load_error: Callable[[str], ConfigError], tmp_path: Path, database: str, problem: str
) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    error = load_error(_with(database))
    assert "database" in str(error) and problem in str(error)
    assert "Zq9inline" not in str(error)  # a password written in the url is not echoed
