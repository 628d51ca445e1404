"""MySQL socket timeouts: a half-open connection fails fast as DatabaseUnavailable instead of
hanging the writer, and the same repository object works again once the network is back."""

from __future__ import annotations

import pytest

from domain.errors import DatabaseUnavailable
from persistence.database import (
    MYSQL_READ_TIMEOUT_S,
    MYSQL_WRITE_TIMEOUT_S,
    make_engine,
)
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import T0
from tests.integration.persistence.tcp_proxy import FreezableProxy, proxy, through

__all__ = ["proxy"]  # the fixture, imported


@pytest.mark.timeout(120)  # without socket timeouts the first call below never returns
def test_a_half_open_connection_raises_unavailable_and_the_repository_recovers(
    mysql_url: str, proxy: FreezableProxy
) -> None:
    upgrade(mysql_url)
    engine = make_engine(
        through(mysql_url, proxy), connect_timeout_s=1, read_timeout_s=1, write_timeout_s=1
    )
    try:
        repo = SqlRepository(engine)
        alice = repo.upsert_user("alice", now=T0)
        proxy.freeze()
        with pytest.raises(DatabaseUnavailable, match="get user"):
            repo.get_user(alice.id)  # the pooled connection: its ping times out, then a new one
        with pytest.raises(DatabaseUnavailable, match="upsert user"):
            repo.upsert_user("bob", now=T0)  # still dark: a new connection's handshake too
        proxy.thaw()
        assert repo.get_user(alice.id) == alice
        assert repo.upsert_user("bob", now=T0).name == "bob"
        assert [u.name for u in repo.list_users()] == ["alice", "bob"]
    finally:
        engine.dispose()


def test_every_mysql_engine_gets_read_and_write_timeouts(mysql_url: str) -> None:
    engine = make_engine(mysql_url)
    try:
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            assert raw._read_timeout == MYSQL_READ_TIMEOUT_S  # type: ignore[attr-defined]
            assert raw._write_timeout == MYSQL_WRITE_TIMEOUT_S  # type: ignore[attr-defined]
    finally:
        engine.dispose()
