"""Credentials named by a config are read only on request and never shown."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError
from config.logging import configure_logging, get_logger
from config.schema import LiveAccount, ServiceConfig
from config.secrets import (
    lookup_credentials,
    resolve_all_credentials,
    resolve_credentials,
    resolve_master_key,
)
from tests.unit.config.conftest import MINIMAL

LIVE = """
      - name: live
        exchange: okx
        api_key_env: OKX_KEY
        secret_file: okx.secret
        passphrase_env: OKX_PASS
"""


def private(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def live_config(load_ok: Callable[[str], ServiceConfig], tmp_path: Path) -> ServiceConfig:
    private(tmp_path / "okx.secret", "  file-secret-4f9a\n")
    return load_ok(MINIMAL.replace("    strategies:", LIVE.lstrip("\n") + "    strategies:"))


def test_credentials_come_from_env_and_file_and_never_show(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    account = config.users[0].accounts[1]
    assert isinstance(account, LiveAccount)
    env = {"OKX_KEY": "env-key-77c1", "OKX_PASS": "pass-phrase-9d"}
    creds = resolve_credentials(account, env=env)
    assert creds.api_key.reveal() == "env-key-77c1"
    assert creds.secret.reveal() == "file-secret-4f9a"  # surrounding whitespace stripped
    assert creds.passphrase is not None and creds.passphrase.reveal() == "pass-phrase-9d"
    shown = repr(creds) + str(creds) + f"{creds}"
    for value in ("env-key-77c1", "file-secret-4f9a", "pass-phrase-9d"):
        assert value not in shown


def test_resolved_values_are_masked_in_logs(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    account = config.users[0].accounts[1]
    assert isinstance(account, LiveAccount)
    resolve_credentials(account, env={"OKX_KEY": "env-key-b3b3b3", "OKX_PASS": "pp-123456"})
    out = io.StringIO()
    configure_logging(format="json", stream=out)
    get_logger("t").info("signing with env-key-b3b3b3 and file-secret-4f9a")
    assert "env-key-b3b3b3" not in out.getvalue()
    assert "file-secret-4f9a" not in out.getvalue()
    assert "signing with *** and ***" in out.getvalue()


def test_missing_env_var_names_variable_and_path_not_value(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_all_credentials(config, env={"OKX_PASS": "pp-abcdef"})
    text = str(info.value)
    assert (
        f"{config.source_file}:17: users[0].accounts[1].api_key_env: environment variable" in text
    )
    assert "OKX_KEY is not set" in text
    assert "file-secret-4f9a" not in text and "pp-abcdef" not in text


def test_all_credentials_keyed_by_user_and_account(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    found = resolve_all_credentials(config, env={"OKX_KEY": "k-123456", "OKX_PASS": "p-123456"})
    assert list(found) == [("alice", "live")]


def test_empty_secret_file_is_refused(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    (tmp_path / "okx.secret").write_text("\n", encoding="utf-8")
    account = config.users[0].accounts[1]
    assert isinstance(account, LiveAccount)
    with pytest.raises(ConfigError, match=r"accounts\[1\]\.secret_file: the file is empty"):
        resolve_credentials(
            account,
            where=("users", 0, "accounts", 1),
            env={"OKX_KEY": "k-1234", "OKX_PASS": "p-1234"},
        )


def test_master_key_from_file_or_env(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    assert resolve_master_key(load_ok(MINIMAL), env={}) is None
    from_env = resolve_master_key(load_ok(MINIMAL), env={"MARTINGALE_MASTER_KEY": "mk-env-1234"})
    assert from_env is not None and from_env.reveal() == "mk-env-1234"
    private(tmp_path / "master.key", "mk-file-5678\n")
    config = load_ok("master_key_file: master.key\n" + MINIMAL)
    key = resolve_master_key(config, env={"MARTINGALE_MASTER_KEY": " "})  # empty: not set
    assert key is not None and key.reveal() == "mk-file-5678"
    assert "mk-file-5678" not in repr(key)


def test_master_key_file_and_env_both_set_is_an_error(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    private(tmp_path / "master.key", "mk-file-5678\n")
    config = load_ok("master_key_file: master.key\n" + MINIMAL)
    with pytest.raises(ConfigError) as info:
        resolve_master_key(config, env={"MARTINGALE_MASTER_KEY": "mk-env-1234"})
    text = str(info.value)
    assert f"{config.source_file}:1: master_key_file: $MARTINGALE_MASTER_KEY is set too" in text
    assert "mk-env-1234" not in text and "mk-file-5678" not in text


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620], ids=lambda m: f"{m:03o}")
def test_key_files_other_users_can_access_are_refused(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path, mode: int
) -> None:
    config = live_config(load_ok, tmp_path)
    (tmp_path / "okx.secret").chmod(mode)
    with pytest.raises(ConfigError) as info:
        resolve_all_credentials(config, env={"OKX_KEY": "k-123456", "OKX_PASS": "p-123456"})
    text = str(info.value)
    assert (
        f"users[0].accounts[1].secret_file: other users can access the file (mode {mode:03o})"
        in text
    )
    assert "chmod 600" in text and "file-secret-4f9a" not in text

    private(tmp_path / "master.key", "mk-file-5678\n").chmod(mode)
    keyed = load_ok("master_key_file: master.key\n" + MINIMAL)
    with pytest.raises(ConfigError, match=r":1: master_key_file: other users can access"):
        resolve_master_key(keyed, env={})


def test_lookup_tells_absent_sources_from_broken_ones(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    config = live_config(load_ok, tmp_path)
    (tmp_path / "okx.secret").unlink()
    lookup = lookup_credentials(config, env={})  # nothing there at all: maybe stored already
    assert lookup.found == {}
    [problems] = lookup.absent.values()
    assert [p.path for p in problems] == [
        "users[0].accounts[1].api_key_env",
        "users[0].accounts[1].secret_file",
        "users[0].accounts[1].passphrase_env",
    ]
    with pytest.raises(ConfigError, match=r"OKX_PASS is not set"):  # some there, some not
        lookup_credentials(config, env={"OKX_KEY": "k-123456"})
    with pytest.raises(ConfigError, match=r"api_key_env: environment variable OKX_KEY"):
        resolve_all_credentials(config, env={})  # the strict form refuses absence too
