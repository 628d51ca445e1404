"""`martingale users ...` on SQLite and MySQL: users, roles, passwords (never an argument) and
API tokens (the secret printed once, alone on stdout)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from persistence.sql_repository import SqlRepository
from services.auth import (
    AuthenticationFailed,
    LoginLimiter,
    authenticate_password,
    authenticate_token,
)
from services.tokens import token_digest
from tests.integration.app.conftest import ALICE, config_text
from tests.integration.persistence.helpers import T0

PASSWORD = "a passphrase long enough"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def url(db_url: str, sql_repo: SqlRepository) -> str:
    return db_url  # migrated by sql_repo


@pytest.fixture
def run(url: str, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        status = main(["users", *argv, "--db", url])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def stdin(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    def feed(text: str, *, tty: bool = False) -> None:
        monkeypatch.setattr("sys.stdin", Terminal(text) if tty else io.StringIO(text))

    return feed


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Answers for getpass on a (fake) terminal; what is left unused stays in the list."""
    answers: list[str] = []
    monkeypatch.setattr("sys.stdin", Terminal(""))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": answers.pop(0))
    yield answers


def login(repo: SqlRepository, password: str, name: str = "alice") -> Any:
    return authenticate_password(repo, LoginLimiter(), name, password, address="cli", now=T0)


def test_users_are_added_listed_and_given_roles(run: Any, sql_repo: SqlRepository) -> None:
    assert run("add", "root", "--admin")[0] == 0
    status, out, _ = run("add", "alice", "--email", "alice@example.com")
    assert status == 0
    assert "user 'alice' created" in out and "set-password alice" in out

    status, out, _ = run("list", "--json")
    assert status == 0
    listed = {u["name"]: u for u in json.loads(out)["users"]}
    assert (listed["root"]["role"], listed["alice"]["role"]) == ("admin", "user")
    assert listed["alice"]["email"] == "alice@example.com"
    assert listed["alice"]["has_password"] is False

    assert run("set-role", "alice", "admin")[0] == 0
    assert run("set-role", "root", "user")[0] == 0
    status, out, _ = run("list")
    assert status == 0
    assert [line.split()[1:3] for line in out.splitlines()[1:]] == [
        ["root", "user"],
        ["alice", "admin"],
    ]


def test_bad_input_exits_2_naming_the_problem(run: Any, sql_repo: SqlRepository) -> None:
    run("add", "root", "--admin")

    status, _, err = run("add", "root")
    assert (status, "already exists" in err) == (2, True)
    status, _, err = run("add", "-bad name")
    assert (status, "name:" in err) == (2, True)
    status, _, err = run("set-role", "root", "user")
    assert (status, "last admin" in err) == (2, True)
    status, _, err = run("set-role", "nobody", "admin")
    assert (status, "no user named 'nobody'" in err) == (2, True)
    assert sql_repo.find_user("root").role == "admin"


def test_a_user_is_disabled_and_enabled_and_the_list_says_which(
    run: Any, stdin: Any, sql_repo: SqlRepository
) -> None:
    run("add", "root", "--admin")
    run("add", "alice")
    stdin(PASSWORD + "\n")
    run("set-password", "alice")
    status, out, _ = run("token", "create", "alice", "--name", "ci")
    secret = out.strip()

    status, out, _ = run("disable", "alice")

    assert status == 0 and "user 'alice' disabled" in out
    with pytest.raises(AuthenticationFailed):
        login(sql_repo, PASSWORD)
    with pytest.raises(AuthenticationFailed):
        authenticate_token(sql_repo, secret, now=T0)
    status, out, _ = run("list")
    states = {line.split()[1]: line.split()[4] for line in out.splitlines()[1:]}
    assert states == {"root": "enabled", "alice": "disabled"}
    listed = {u["name"]: u for u in json.loads(run("list", "--json")[1])["users"]}
    assert (listed["alice"]["disabled"], listed["root"]["disabled"]) == (True, False)
    assert listed["alice"]["disabled_at"] is not None

    status, out, _ = run("enable", "alice")

    assert status == 0 and "stay stopped" in out
    assert login(sql_repo, PASSWORD).name == "alice"
    assert json.loads(run("list", "--json")[1])["users"][1]["disabled"] is False


def test_the_last_enabled_admin_or_nobody_cannot_be_disabled(
    run: Any, sql_repo: SqlRepository
) -> None:
    run("add", "root", "--admin")
    status, _, err = run("disable", "root")
    assert (status, "last enabled admin" in err) == (2, True)
    status, _, err = run("enable", "nobody")
    assert (status, "no user named 'nobody'" in err) == (2, True)
    assert not sql_repo.find_user("root").disabled


def test_a_password_is_read_as_one_line_of_stdin_when_it_is_not_a_terminal(
    run: Any, stdin: Any, sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    stdin(PASSWORD + "\nthe next line is not part of it\n")

    status, out, err = run("set-password", "alice")

    assert status == 0, err
    assert PASSWORD not in out + err
    assert login(sql_repo, PASSWORD).name == "alice"
    with pytest.raises(AuthenticationFailed):
        login(sql_repo, PASSWORD + "\nthe next line is not part of it")


def test_a_windows_line_ending_is_not_part_of_the_password(
    run: Any, stdin: Any, sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    stdin(PASSWORD + "\r\n")
    assert run("set-password", "alice")[0] == 0
    assert login(sql_repo, PASSWORD).name == "alice"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "no password on standard input"), ("too short\n", "at least 12 characters")],
)
def test_no_or_a_short_password_on_stdin_exits_2_and_changes_nothing(
    run: Any, stdin: Any, sql_repo: SqlRepository, text: str, message: str
) -> None:
    run("add", "alice")
    stdin(text)

    status, _, err = run("set-password", "alice")

    assert (status, message in err) == (2, True)
    assert not sql_repo.find_user("alice").has_password


def test_on_a_terminal_the_password_is_asked_twice(
    run: Any, prompts: list[str], sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    prompts.extend([PASSWORD, PASSWORD])

    assert run("set-password", "alice")[0] == 0

    assert prompts == []
    assert login(sql_repo, PASSWORD).name == "alice"


def test_two_different_entries_exit_2_and_change_nothing(
    run: Any, prompts: list[str], sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    prompts.extend([PASSWORD, PASSWORD + "x"])

    status, _, err = run("set-password", "alice")

    assert (status, "differ" in err) == (2, True)
    assert not sql_repo.find_user("alice").has_password


def test_a_short_first_entry_is_refused_before_it_is_asked_again(
    run: Any, prompts: list[str], sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    prompts.extend(["short", "short"])

    status, _, err = run("set-password", "alice")

    assert (status, "at least 12 characters" in err) == (2, True)
    assert prompts == ["short"]  # never asked to repeat it
    assert not sql_repo.find_user("alice").has_password


def test_a_password_is_never_taken_as_an_argument(run: Any, capsys: Any) -> None:
    run("add", "alice")
    with pytest.raises(SystemExit) as exit_:
        run("set-password", "alice", PASSWORD)
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_a_token_secret_is_printed_once_alone_on_stdout_and_never_listed(
    run: Any, sql_repo: SqlRepository
) -> None:
    run("add", "alice")

    status, out, err = run("token", "create", "alice", "--name", "ci", "--expires-days", "30")

    assert status == 0
    secret = out.strip()
    assert out == secret + "\n"
    assert "cannot be shown again" in err
    assert secret not in err
    who = authenticate_token(sql_repo, secret, now=T0)
    assert who.name == "alice"
    [token] = sql_repo.list_tokens(who.user_id)
    assert token.expires_at is not None and token.expires_at > T0
    assert token.prefix in err

    status, out, err = run("token", "list", "alice")
    assert status == 0
    assert f"{token.id}   ci" in out and token.prefix in out and "active" in out
    assert secret not in out + err and secret[4:] not in out
    assert token_digest(secret) not in out


def test_a_token_is_revoked_by_id_and_unknown_ids_or_users_exit_2(
    run: Any, sql_repo: SqlRepository
) -> None:
    run("add", "alice")
    run("add", "bob")
    secret = run("token", "create", "alice", "--name", "ci")[1].strip()
    bobs = run("token", "create", "bob", "--name", "bob's")[1].strip()
    alice_token = authenticate_token(sql_repo, secret, now=T0).token_id
    bob_token = authenticate_token(sql_repo, bobs, now=T0).token_id

    status, _, err = run("token", "revoke", "alice", str(bob_token))
    assert (status, f"has no API token {bob_token}" in err) == (2, True)
    assert run("token", "revoke", "alice", str(alice_token))[0] == 0
    assert "revoked" in run("token", "list", "alice")[1]

    with pytest.raises(AuthenticationFailed):
        authenticate_token(sql_repo, secret, now=T0)
    authenticate_token(sql_repo, bobs, now=T0)
    assert run("token", "create", "nobody", "--name", "x")[0] == 2
    assert run("token", "list", "nobody")[0] == 2
    status, _, err = run("token", "create", "alice", "--name", "")
    assert (status, "name:" in err) == (2, True)


def test_an_expiry_that_is_not_a_positive_number_of_days_is_a_usage_error(run: Any) -> None:
    run("add", "alice")
    for days in ("0", "-3", "soon"):
        with pytest.raises(SystemExit) as exit_:
            run("token", "create", "alice", "--name", "ci", "--expires-days", days)
        assert exit_.value.code == 2


def test_the_database_of_a_config_file_is_used(
    url: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(config_text(url, ALICE))

    assert main(["users", "add", "carol", "--config", str(path)]) == 0
    assert main(["users", "list", "--json", "--config", str(path)]) == 0

    out = capsys.readouterr().out
    assert "carol" in out.split("\n", 2)[-1]


def test_a_database_that_does_not_exist_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["users", "list", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"])
    assert status == 1
    assert "does not exist" in capsys.readouterr().err
