"""The root supervisor's user children, and what it does with a deleted user (issue 12).

Deleting a user (`services.users.delete_user`) gives each of its strategies a stop in mode
CANCEL (resting orders cancelled, the position kept: nobody is left to decide what to sell),
and the root's poll lists those commands flagged `user_deleted`. Then:

- A user whose actor runs here gets them like any other command; once nothing of it runs (it
  says so, `UserWentIdle`, having handled every command the root sent it) the root stops its
  actor and forgets it.
- A user with no actor here (the service started after the deletion, or its actor is between
  restarts) runs only the stops that did not complete (`stop_to_finish`): nothing of a deleted
  user trades again, but what it left resting is cancelled, even when the service was down at
  the deletion or stopped half-way through its stops.
- A user given up on (its strategies FAULTED by the root) is forgotten: a person has to look.

Used on the root's thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pykka
import structlog

from actors.messages import UserWentIdle
from actors.supervision import FailureHistory
from domain.events import StopMode
from persistence.records import ActualState, DesiredState, DesiredStateRecord, StrategyRecord

log = structlog.get_logger(__name__)

# What an engine reports once nothing of its strategy is left to stop.
_DONE = frozenset({ActualState.STOPPED, ActualState.FINISHED, ActualState.FAULTED})


@dataclass(slots=True)
class UserChild:
    user_id: int
    ref: pykka.ActorRef[Any] | None = None
    history: FailureHistory = field(default_factory=FailureHistory)
    given_up: bool = False  # crashed past the limit: started again by its owner's next command
    deleted: bool = False  # the user was deleted: its actor goes once nothing of it runs
    stops: set[int] = field(default_factory=set)  # a deleted user's strategies, to stop
    sent: int = 0  # DesiredChanged told to its current actor


def stop_to_finish(record: StrategyRecord) -> StrategyRecord | None:
    """A deleted user's strategy as it must run to complete the stop its deletion asked for,
    or None when nothing is left to do. The mode is CANCEL whatever was recorded (a user
    deleted before the mode was recorded has none, and FINISH_CYCLE would trade on to the
    take-profit), except a SELL the user had asked for, which may be under way."""
    if record.desired_state is not DesiredState.STOPPED or record.actual_state in _DONE:
        return None
    mode = StopMode.SELL if record.stop_mode is StopMode.SELL else StopMode.CANCEL
    return record if record.stop_mode is mode else replace(record, stop_mode=mode)


class DeletedUsers:
    """`read(method, *args)`: a repository read (the root's RepoClient.call); `restart(uid)`:
    start the user's actor (the root's RestartChild)."""

    def __init__(
        self,
        users: dict[int, UserChild],
        *,
        read: Callable[..., Any],
        restart: Callable[[int], None],
    ) -> None:
        self._users = users
        self._read = read
        self._restart = restart
        self.retiring: list[pykka.Future[Any]] = []  # actors being stopped: the root waits

    def command(self, record: DesiredStateRecord) -> UserChild | None:
        """A deleted user's stop: the child whose running actor must be told it, or None (its
        next start runs what is left, if anything). Raises what the read raises."""
        uid = record.user_id
        user = self._users.get(uid)
        if user is not None and user.given_up:
            del self._users[uid]
            return None
        if user is None:
            if stop_to_finish(self._read("get_strategy", record.strategy_id)) is None:
                return None
            user = self._users[uid] = UserChild(user_id=uid)
            self._restart(uid)
        user.deleted = True
        user.stops.add(record.strategy_id)
        return user if user.ref is not None else None

    def stops_left(self, child: UserChild) -> list[StrategyRecord]:
        """The deleted user's strategies whose stop has not completed, as they must run."""
        found = (stop_to_finish(self._read("get_strategy", s)) for s in sorted(child.stops))
        return [record for record in found if record is not None]

    def idle(self, message: UserWentIdle) -> None:
        """Stop and forget a deleted user's actor that has nothing left running and has
        handled every command sent to it (another user's stays: a resume reaches it)."""
        child = self._users.get(message.user_id)
        if child is None or not child.deleted or child.ref is None:
            return
        if message.commands != child.sent:
            return  # a command on its way may give it something to do; it reports again
        ref, child.ref = child.ref, None
        del self._users[message.user_id]
        self.retiring = [f for f in self.retiring if not _stopped(f)]
        self.retiring.append(ref.stop(block=False))
        log.info(
            "root: a deleted user's strategies are stopped; its actor stops", user=child.user_id
        )


def _stopped(future: pykka.Future[Any]) -> bool:
    try:
        future.get(timeout=0)
    except pykka.Timeout:
        return False
    except Exception:  # stopped with an error: nothing left to wait for
        return True
    return True
