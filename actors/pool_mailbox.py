"""A pooled actor's inbox (`actors.pool`): pykka's ActorInbox, plus whether its actor is queued
on, or running in, the pool. A message told to an idle pooled actor queues it."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from pykka import ActorDeadError, messages

if TYPE_CHECKING:
    from actors.pool import ActorPool, PooledActor


class Mailbox:
    """An actor's inbox (pykka's ActorInbox protocol) that also knows whether its actor is
    queued on, or running in, the pool: a message told to an idle pooled actor queues it."""

    __slots__ = ("_actor", "_closed", "_cond", "_items", "_pool", "_scheduled", "_started")

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Any] = deque()
        self._pool: ActorPool | None = None
        self._actor: PooledActor | None = None
        self._started = False
        self._scheduled = False
        self._closed = False

    def bind(self, actor: PooledActor, pool: ActorPool) -> None:
        self._actor = actor
        self._pool = pool

    # --- pykka's ActorInbox ---------------------------------------------------------------

    def put(self, envelope: Any, /) -> None:
        with self._cond:
            if self._closed:
                dead = True
            else:
                dead = False
                self._items.append(envelope)
                submit = self._pool is not None and self._started and not self._scheduled
                if submit:
                    self._scheduled = True
                self._cond.notify()
        if dead:
            _refuse(envelope)  # told after its stop: pykka's teardown would have refused it too
        elif submit:
            self._submit()

    def get(self) -> Any:
        """Blocks until a message is there (the thread mode); pooled, only called when one is."""
        with self._cond:
            while not self._items:
                self._cond.wait()
            return self._items.popleft()

    def empty(self) -> bool:
        with self._cond:
            return not self._items

    # --- the pool's side ------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            self._started = True
            self._scheduled = True
        self._submit()

    def take(self) -> Any:
        """The next message, or None: then the actor is no longer scheduled, and the next put
        queues it again."""
        with self._cond:
            if self._items:
                return self._items.popleft()
            self._scheduled = False
            return None

    def more(self) -> bool:
        """Whether the actor must run again (messages left); if not, it is unscheduled."""
        with self._cond:
            if self._items:
                return True
            self._scheduled = False
            return False

    def close(self) -> None:
        """The actor stopped: later messages are refused at once."""
        with self._cond:
            self._closed = True

    def _submit(self) -> None:
        assert self._pool is not None and self._actor is not None
        self._pool.submit(self._actor)


def _refuse(envelope: Any) -> None:
    reply_to = getattr(envelope, "reply_to", None)
    if reply_to is None:
        return
    if isinstance(envelope.message, messages._ActorStop):
        reply_to.set(None)
    else:
        reply_to.set_exception(
            exc_info=(ActorDeadError, ActorDeadError("the actor stopped before this message"), None)
        )
