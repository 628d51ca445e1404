"""What the root supervisor does with what its poll of the database found (`actors.root_poll`):
a command (pause, resume, stop...) goes to the user actor that runs the strategy, with how to
run a strategy it does not know yet (a new one, or one left out at start); a new user, or one
given up on, gets its actor when it has a strategy to run; a deleted user's stops go the way
`actors.root_users` says; a replaced key goes to the account's user actor, which swaps it in.

Kept apart from the root (`actors.root`), which starts, supervises and stops the actors, because
this is the one path by which what another process wrote (the CLI, the REST API) reaches a
running service. A plain object used on the root's thread only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pykka

from actors.messages import CredentialsChanged, DesiredChanged, StartConditionChanged
from actors.root_markets import Markets
from actors.root_poll import DatabasePoll
from actors.root_users import DeletedUsers, UserChild
from actors.signal_inbox import SignalInbox
from domain.errors import DatabaseUnavailable
from persistence.records import DesiredState, DesiredStateRecord


class CommandRouter:
    """`users`: the root's user children and `preloaded`: the strategy rows read at boot for
    users not started yet (both shared, not copied); `read(method, *args, **kwargs)`: a
    repository read (the root's RepoClient.call); `restart(uid)`: start the user's actor (the
    root's RestartChild); `log`: the root's logger, so these lines read as the root's own."""

    def __init__(
        self,
        users: dict[int, UserChild],
        *,
        db: DatabasePoll,
        deleted: DeletedUsers,
        markets: Markets,
        preloaded: dict[int, list[Any]],
        read: Callable[..., Any],
        restart: Callable[[int], None],
        log: Any,
        owns: Callable[[int], bool] | None = None,
    ) -> None:
        self._users = users
        self._db = db
        self._deleted = deleted
        self._markets = markets
        self._preloaded = preloaded
        self._read = read
        self._restart = restart
        self._log = log
        self._owns = owns  # with leases: is the user this process's now? (None: every user)
        self._signals = SignalInbox(read, log)

    def poll(self, started: datetime) -> None:
        """Tell users of new commands and replaced keys (see `actors.root_poll`); `started`:
        when this poll began."""
        try:
            changes = self._db.poll(self._read, started)
        except DatabaseUnavailable:
            return  # the next poll asks again from the last one that worked
        for record in changes.commands:
            try:
                self._command(record)
            except Exception:  # one strategy's trouble must not hide the others' commands
                self._log.exception(
                    "root: a command could not be handled", strategy=record.strategy_id
                )
                self._db.forget(record.strategy_id)
        for record in changes.starts:  # after the commands: a resumed engine is booting
            ref = self._user_ref(record.strategy_id)
            if ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):  # a restart reads the new one
                    ref.tell(StartConditionChanged(strategy_id=record.strategy_id))
        for account in changes.rekeyed:
            user = self._users.get(account.user_id)
            if user is not None and user.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):  # a restart reads the new key
                    user.ref.tell(CredentialsChanged(account_id=account.id))
        self._signals.poll(self._db.running(), self._user_ref, started)

    def _user_ref(self, strategy_id: int) -> pykka.ActorRef[Any] | None:
        uid = self._db.owners.get(strategy_id)
        user = self._users.get(uid) if uid is not None else None
        return None if user is None or user.deleted else user.ref

    def _command(self, record: DesiredStateRecord) -> None:
        """A command (or a strategy created) since the last poll: to its user actor, with how to
        run the strategy (its row, read now) should the actor not know it."""
        uid = record.user_id
        if self._owns is not None and not self._owns(uid):
            return  # another process's user: its start there reads the row
        user = self._deleted.command(record) if record.user_deleted else self._users.get(uid)
        if record.user_deleted:
            if user is None:
                return  # not running here: its next start runs what is left of its stops
        elif user is not None and user.deleted:
            user.deleted = False  # restored (a config sync brings a deleted user back)
            user.stops.clear()
        runs = record.desired_state is not DesiredState.STOPPED or record.stop_mode is not None
        if user is None or user.given_up:
            if runs:  # a new user, or one given up on: (re)started, it reads its strategies
                self._users[uid] = user = user or UserChild(user_id=uid)
                user.given_up = False
                user.history.reset()
                self._restart(uid)
            return
        if user.ref is None:
            # Not started yet (or restarting): a RestartChild is on its way, and the start it
            # brings reads the user's strategies on this thread after this poll, so it sees this
            # row. The boot's list (read before) must not stand in for that read.
            self._preloaded.pop(uid, None)
            return
        try:
            strategy = self._read("get_strategy", record.strategy_id)
            specs = self._markets.specs([strategy])
        except DatabaseUnavailable:
            self._db.forget(record.strategy_id)  # handled when a poll next reads it
            return
        with contextlib.suppress(pykka.ActorDeadError):  # a dying user: its restart reads it
            user.ref.tell(
                DesiredChanged(
                    strategy_id=strategy.id,
                    desired=strategy.desired_state.value,
                    stop_mode=strategy.stop_mode,
                    spec=specs[0] if specs else None,
                )
            )
            user.sent += 1
