"""What the root supervisor's poll of the database finds changed since it last looked.

Runtime commands (pause, resume, stop, stop now, close now) and rows another process writes (the
API's new users, strategies and keys) reach a running service only through the database, so the
root reads, every couple of seconds:

- the desired state, stop mode and command count of strategies whose row changed since the last
  poll: a command is new when any of the three differs from what the root last saw, so a repeated
  command (a resume of a finished strategy already wanted running) counts too; an unknown
  strategy is a new one;
- the accounts created or given a key since the last poll: a known account whose key differs
  (fingerprint or storage times) had its key replaced.
- the start condition of those strategies: one that differs from the last seen (the API or a
  config sync changed it) is told to the engine, so a strategy waiting for its start re-arms
  (or stops) its candle alarm at once, not at its next cooldown or restart.

Only rows changed since the last poll, less POLL_MARGIN (clock differences between the writers:
the CLI, another host), are read, and every row every FULL_POLL_EVERY polls, which bounds how long
any change can go unseen whatever the clocks say: an idle fleet of thousands costs a few rows, not
thousands, every poll. A plain object used on the root's thread only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.events import StopMode
from persistence.records import AccountRecord, DesiredState, DesiredStateRecord, StrategyRecord

POLL_MARGIN = timedelta(seconds=10)
FULL_POLL_EVERY = 30

Command = tuple[DesiredState, StopMode | None, int]


def command_of(record: DesiredStateRecord | StrategyRecord) -> Command:
    desired = record.desired_state
    return (desired, record.stop_mode, record.command_seq)


def _key_of(account: AccountRecord) -> tuple[Any, ...]:
    return (
        account.credentials_fingerprint,
        account.credentials_created_at,
        account.credentials_rotated_at,
    )


def start_key(value: object) -> str | None:
    """The start condition as one comparable text, whichever way the database gave it (a
    MySQL JSON path read quotes a string; SQLite's and the row's own value do not)."""
    if isinstance(value, str) and value[:1] in ('"', "{"):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            return text
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class Changes:
    commands: list[DesiredStateRecord] = field(default_factory=list)  # new or repeated
    rekeyed: list[AccountRecord] = field(default_factory=list)  # known accounts, key replaced
    # Known strategies whose start condition changed since the last poll that read them.
    starts: list[DesiredStateRecord] = field(default_factory=list)


class DatabasePoll:
    def __init__(self) -> None:
        self.commands: dict[int, Command] = {}  # strategy id -> the last command seen
        self.accounts: dict[int, AccountRecord] = {}  # the account rows the root last read
        self.owners: dict[int, int] = {}  # strategy id -> user id (where its signals go)
        self.starts: dict[int, str | None] = {}  # strategy id -> its last start condition
        self._polls = 0
        self._last: datetime | None = None

    def saw(self, record: StrategyRecord) -> None:
        """The root read this strategy's row (at start, or to run it): its command is known."""
        self.commands[record.id] = command_of(record)
        self.owners[record.id] = record.user_id
        self.starts[record.id] = start_key(record.params.get("start_condition"))

    def running(self) -> list[int]:
        """The strategies last seen wanted running (their webhook signals are delivered)."""
        return [sid for sid, command in self.commands.items() if command[0] is DesiredState.RUNNING]

    def forget(self, strategy_id: int) -> None:
        """Handle the strategy's command again when a poll next reads it (it could not be
        handled this time)."""
        self.commands.pop(strategy_id, None)

    def poll(self, read: Any, started: datetime) -> Changes:
        """`read(method, **kwargs)` runs a repository read (the root's RepoClient.call);
        `started`: when this poll began. Raises what the reads raise (DatabaseUnavailable):
        nothing is marked seen then, and the next poll asks again from the last that worked."""
        since = None
        if self._last is not None and self._polls % FULL_POLL_EVERY:
            since = self._last - POLL_MARGIN
        records: list[DesiredStateRecord] = read("list_desired_states", changed_since=since)
        accounts: list[AccountRecord] = read("list_changed_accounts", changed_since=since)
        self._polls += 1
        self._last = started
        changes = Changes()
        for record in records:
            self.owners[record.strategy_id] = record.user_id
            start = start_key(record.start_condition)
            if record.strategy_id in self.starts and self.starts[record.strategy_id] != start:
                changes.starts.append(record)
            self.starts[record.strategy_id] = start
            command = command_of(record)
            if self.commands.get(record.strategy_id) != command:
                self.commands[record.strategy_id] = command
                changes.commands.append(record)
        for account in accounts:
            known = self.accounts.get(account.id)
            self.accounts[account.id] = account
            if known is not None and _key_of(known) != _key_of(account):
                changes.rekeyed.append(account)
        return changes
