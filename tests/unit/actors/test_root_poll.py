"""The root's poll of the database, without actors: every command is seen (a repeat too), a
replaced key is seen once, and an idle fleet costs no rows between the periodic full reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from actors.root_poll import FULL_POLL_EVERY, POLL_MARGIN, DatabasePoll, start_key
from persistence.memory import MemoryRepository
from persistence.records import DesiredState, SealedCredentials

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class CountingReader:
    """The repository reads the poll makes, and how many rows each returned."""

    def __init__(self, repo: MemoryRepository) -> None:
        self.repo = repo
        self.reads: list[tuple[str, datetime | None, int]] = []

    def __call__(self, method: str, **kwargs: Any) -> Any:
        rows = getattr(self.repo, method)(**kwargs)
        self.reads.append((method, kwargs["changed_since"], len(rows)))
        return rows


def _fleet(repo: MemoryRepository, count: int) -> list[int]:
    user = repo.upsert_user("alice", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
    return [
        repo.upsert_strategy(
            user.id,
            f"s{n}",
            account_id=account.id,
            symbol="ETH/USDT",
            params={},
            desired_state=DesiredState.RUNNING,
            now=T0,
        ).id
        for n in range(count)
    ]


def _started(repo: MemoryRepository) -> DatabasePoll:
    """As the root starts: every strategy and account read once, so known."""
    poll = DatabasePoll()
    for record in repo.list_strategies():
        poll.saw(record)
    for account in repo.list_changed_accounts():
        poll.accounts[account.id] = account
    return poll


def test_every_command_is_seen_once_even_one_repeating_the_desired_state() -> None:
    repo = MemoryRepository()
    sid, _ = _fleet(repo, 2)
    poll, read = _started(repo), CountingReader(repo)
    now = T0 + timedelta(minutes=1)
    assert poll.poll(read, now).commands == []  # the first poll reads all: nothing new

    repo.set_desired_state(sid, DesiredState.RUNNING, now=now)  # a resume, already running
    changes = poll.poll(read, now + timedelta(seconds=2))
    assert [(c.strategy_id, c.command_seq) for c in changes.commands] == [(sid, 1)]
    # read again within the margin, it is not news twice
    assert poll.poll(read, now + timedelta(seconds=4)).commands == []
    repo.set_desired_state(sid, DesiredState.RUNNING, now=now + timedelta(seconds=5))
    assert [c.command_seq for c in poll.poll(read, now + timedelta(seconds=6)).commands] == [2]


def test_a_replaced_key_is_seen_once_and_a_new_account_is_only_remembered() -> None:
    repo = MemoryRepository()
    _fleet(repo, 1)
    poll, read = _started(repo), CountingReader(repo)
    [account] = repo.list_changed_accounts()
    now = T0 + timedelta(minutes=1)
    poll.poll(read, now)
    sealed = SealedCredentials(ciphertext="c1", key_version=1, fingerprint="f1")
    repo.save_credentials(account.id, sealed, now=now)
    bob = repo.upsert_user("bob", now=now)
    spare = repo.upsert_account(bob.id, "spare", exchange="paper", now=now)
    changes = poll.poll(read, now + timedelta(seconds=1))
    assert [a.id for a in changes.rekeyed] == [account.id]
    assert spare.id in poll.accounts
    assert poll.poll(read, now + timedelta(seconds=3)).rekeyed == []
    replaced = SealedCredentials(ciphertext="c2", key_version=1, fingerprint="f2")
    repo.save_credentials(account.id, replaced, now=now + timedelta(seconds=4))
    [again] = poll.poll(read, now + timedelta(seconds=5)).rekeyed
    assert again.credentials_fingerprint == "f2"


def test_an_idle_fleet_reads_no_rows_between_full_reads() -> None:
    repo = MemoryRepository()
    _fleet(repo, 50)
    poll, read = _started(repo), CountingReader(repo)
    start = T0 + POLL_MARGIN * 10  # rows written at T0 are older than any poll's margin
    for n in range(FULL_POLL_EVERY + 1):
        poll.poll(read, start + timedelta(seconds=2 * n))
    full = [r for r in read.reads if r[1] is None]
    partial = [r for r in read.reads if r[1] is not None]
    assert [(m, rows) for m, _, rows in full] == [
        ("list_desired_states", 50),
        ("list_changed_accounts", 1),
    ] * 2  # the first poll and the FULL_POLL_EVERY-th
    assert len(partial) == 2 * (FULL_POLL_EVERY - 1)
    assert all(rows == 0 for _, _, rows in partial)


def test_a_changed_start_condition_is_seen_once_however_the_database_quotes_it() -> None:
    repo = MemoryRepository()
    sid, other = _fleet(repo, 2)
    poll, read = _started(repo), CountingReader(repo)
    record = repo.get_strategy(sid)

    def store(start: str, at: datetime) -> None:
        repo.upsert_strategy(
            record.user_id,
            record.name,
            account_id=record.account_id,
            symbol=record.symbol,
            params={"start_condition": start},
            desired_state=DesiredState.RUNNING,
            now=at,
        )

    assert poll.poll(read, T0).starts == []  # first full read: nothing changed since the start
    store("rsi below=30 period=14 timeframe=5m", T0 + timedelta(minutes=1))
    changes = poll.poll(read, T0 + timedelta(minutes=1))
    assert [r.strategy_id for r in changes.starts] == [sid]
    assert changes.commands == []  # not a command: the desired state is the same
    assert poll.poll(read, T0 + timedelta(minutes=2)).starts == []  # seen once
    assert other not in [r.strategy_id for r in changes.starts]

    # MySQL's JSON path read gives the same text JSON-quoted: not a change
    quoted = '"rsi below=30 period=14 timeframe=5m"'
    assert start_key(quoted) == start_key("rsi below=30 period=14 timeframe=5m")
    assert start_key(None) is None
