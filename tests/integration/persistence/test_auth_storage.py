"""No password and no token secret is stored anywhere, on SQLite and MySQL: every column of
every table is read back as text and searched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, select

from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from services.auth import (
    LoginLimiter,
    authenticate_password,
    authenticate_session,
    authenticate_token,
    issue_session,
    issue_token,
    set_password,
)
from services.tokens import token_digest
from services.users import create_user
from tests.integration.persistence.helpers import T0, at

PASSWORD = "Tr0ub4dor&3 plus a long tail"


@pytest.fixture
def stored(db_url: str) -> Iterator[tuple[str, SqlRepository]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield db_url, SqlRepository(engine)
    finally:
        engine.dispose()


def dump_database(url: str) -> str:
    """Every value of every column of every table, as text, one row per line."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        assert {"users", "api_tokens"} <= set(meta.tables)
        lines = []
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    lines.append(f"{table.name}: " + " | ".join(str(v) for v in row))
        return "\n".join(lines)
    finally:
        engine.dispose()


def test_neither_the_password_nor_any_token_secret_is_stored(
    stored: tuple[str, SqlRepository],
) -> None:
    url, repo = stored
    alice = create_user(repo, "alice", now=T0, email="alice@example.com")
    set_password(repo, alice.id, PASSWORD, now=T0)
    api = issue_token(repo, alice.id, name="ci", now=T0, expires_at=at(3600))
    session = issue_session(repo, alice.id, now=T0)
    # Logins and uses write too (rehash check, last-used times): they must not leak either.
    authenticate_password(repo, LoginLimiter(), "alice", PASSWORD, address="127.0.0.1", now=at(1))
    authenticate_token(repo, api.secret, now=at(2))
    authenticate_session(repo, session.secret, now=at(3))

    dump = dump_database(url)

    for secret in (PASSWORD, api.secret, session.secret):
        assert secret not in dump
        assert secret[len("mgt_") :] not in dump
    assert token_digest(api.secret) in dump  # the dump does see the tokens table
    assert token_digest(session.secret) in dump
    stored_hash = repo.load_password_hash(alice.id)
    assert stored_hash is not None and stored_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert f"users: {alice.id} | alice" in dump and stored_hash in dump


def test_no_repr_holds_a_secret_or_a_hash(stored: tuple[str, SqlRepository]) -> None:
    _, repo = stored
    alice = create_user(repo, "alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0)
    issued = issue_token(repo, alice.id, name="ci", now=T0)
    who = authenticate_token(repo, issued.secret, now=at(1))
    stored_hash = repo.load_password_hash(alice.id)
    assert stored_hash is not None

    found = repo.find_token(token_digest(issued.secret))
    assert found is not None
    reprs = " ".join(repr(x) for x in (issued, issued.record, who, found, repo.get_user(alice.id)))

    for secret in (PASSWORD, issued.secret, issued.secret[4:], token_digest(issued.secret)):
        assert secret not in reprs
    assert stored_hash not in reprs
    assert issued.record.prefix in reprs  # what the repr does show, to tell tokens apart
