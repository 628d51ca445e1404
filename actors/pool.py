"""Actors on a shared pool of threads, behind pykka's own interface.

One thread per actor does not hold 10,000 engines on two cores: 11,000 threads, each waking
for its own messages, spend the interpreter's lock on hand-offs instead of work, and each costs
a stack. A `PooledActor` is a `pykka.ThreadingActor` for everyone else (ActorRef, tell, ask,
proxy, stop, on_start / on_stop / on_failure, the registry) whose messages are handled by the
workers of an `ActorPool` instead of a thread of its own. Without a pool it is a plain
ThreadingActor.

What pykka promises, and the pool keeps: one message at a time per actor, in the order told;
on_start before the first message; a stopped actor answers what is left in its inbox with
ActorDeadError.

Scheduling:
- Each actor has a lane (its user). A lane runs at most `per_lane` of its actors at once, and
  lanes with work take turns. A user whose exchange hangs holds at most `per_lane` workers;
  the others go on serving every other user.
- A worker handles at most `batch` messages of one actor, then the next lane has its turn.
- An actor whose next work is `heavy` (an engine not yet started: its start path loads,
  reconciles and commits) runs only while fewer than `heavy_slots` heavy turns run; the others
  wait in arrival order without holding a worker. A restart of thousands of strategies
  therefore goes through at the writer's pace, while started engines' ticks keep their
  workers. (This is `actors.admission.BootGate` for pooled actors: a gate that blocks would
  hold a worker per waiter.)
- Work inside a pooled actor holds its worker for as long as it takes: every wait there must
  be bounded (a repository call, an exchange call with its timeout).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Any

from pykka import ActorRegistry

from actors.pool_mailbox import Mailbox
from actors.spawning import SupervisedActor

logger = logging.getLogger(__name__)


class PooledActor(SupervisedActor):
    """A ThreadingActor whose messages run on an `ActorPool` once `use_pool` was called in
    its constructor (`lane`: whose turn it shares, e.g. its user)."""

    actor_inbox: Mailbox
    _pool: ActorPool | None = None
    _lane: Hashable = None
    _set_up = False

    @staticmethod
    def _create_actor_inbox() -> Mailbox:
        return Mailbox()

    def use_pool(self, pool: ActorPool | None, lane: Hashable) -> None:
        if pool is None:
            return
        self._pool = pool
        self._lane = lane
        self.actor_inbox.bind(self, pool)

    @property
    def pool_lane(self) -> Hashable:
        return self._lane

    @property
    def pool_heavy(self) -> bool:
        """Whether the next turn is heavy (see the module's docstring). Read by the pool while
        the actor is not running; override."""
        return False

    def _launch(self) -> None:
        if self._pool is None:
            super()._launch()
        else:
            self.actor_inbox.start()

    def run_turn(self, batch: int) -> bool:
        """Handle up to `batch` messages (on_start first, once); True if the actor has more
        to do and must be queued again. Called by one pool worker at a time."""
        if not self._set_up:
            self._set_up = True
            self._actor_loop_setup()
        inbox = self.actor_inbox
        handled = 0
        while not self.actor_stopped.is_set() and handled < batch:
            envelope = inbox.take()
            if envelope is None:
                return False
            self._handle_envelope(envelope)
            handled += 1
        if self.actor_stopped.is_set():
            inbox.close()
            self._actor_loop_teardown()
            return False
        return inbox.more()

    def _handle_envelope(self, envelope: Any) -> None:
        """pykka's `_actor_loop_running`, for one message."""
        try:
            response = self._handle_receive(envelope.message)
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        except Exception:
            if envelope.reply_to is not None:
                logger.info(f"Exception returned from {self} to caller:", exc_info=sys.exc_info())
                envelope.reply_to.set_exception()
            else:
                self._handle_failure(*sys.exc_info())
                try:
                    self.on_failure(*sys.exc_info())
                except Exception:
                    self._handle_failure(*sys.exc_info())
        except BaseException:
            logger.debug(f"{sys.exc_info()[1]!r} in {self}. Stopping all actors.")
            self._stop()
            # not block=True: the other pooled actors' stops need this pool's workers
            ActorRegistry.stop_all(block=False)


class ActorPool:
    """`workers` threads (started as work needs them) running `PooledActor`s' turns."""

    def __init__(
        self,
        workers: int,
        *,
        per_lane: int = 4,
        heavy_slots: int = 32,
        batch: int = 8,
        name: str = "pool",
    ) -> None:
        if workers < 1 or per_lane < 1 or heavy_slots < 1 or batch < 1:
            raise ValueError("an actor pool needs at least one worker, lane place, slot, batch")
        self.workers = workers
        self.per_lane = per_lane
        self.heavy_slots = heavy_slots
        self._batch = batch
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._lanes: dict[Hashable, deque[PooledActor]] = {}  # ready actors by lane
        self._turns: deque[Hashable] = deque()  # lanes with a ready actor and a free place
        self._queued: set[Hashable] = set()  # the lanes in _turns
        self._running: dict[Hashable, int] = {}
        self._heavy_waiting: deque[PooledActor] = deque()
        self._heavy_running = 0  # heavy slots taken, granted ones included
        self._granted: set[int] = set()  # id() of waiters a freed slot was handed to
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a turn
        self._woken = 0  # of those, notified and not yet awake
        self._closed = False

    def submit(self, actor: PooledActor) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError(f"actor pool {self._name} is closed")
            self._ready(actor)
            try:
                self._wake_one()
            except BaseException:  # no worker can start: the actor is not left queued
                self._unready(actor)
                raise

    @property
    def heavy_idle(self) -> bool:
        """No heavy turn running or waiting (no engine starting)."""
        with self._cond:
            return self._heavy_running == 0 and not self._heavy_waiting

    def counts(self) -> dict[str, int]:
        with self._cond:
            return {
                "threads": len(self._threads),
                "idle": self._idle,
                "ready": sum(len(ready) for ready in self._lanes.values()),
                "heavy_running": self._heavy_running,
                "heavy_waiting": len(self._heavy_waiting),
            }

    def close(self, timeout: float = 10.0) -> None:
        """Let the workers go once they are idle (stop the actors first); waits up to
        `timeout` in all for them (they are daemon threads: one stuck in a call is left)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # --- under the lock --------------------------------------------------------------------

    def _ready(self, actor: PooledActor) -> None:
        lane = actor.pool_lane
        self._lanes.setdefault(lane, deque()).append(actor)
        self._offer(lane)

    def _unready(self, actor: PooledActor) -> None:
        lane = actor.pool_lane
        ready = self._lanes.get(lane)
        if ready is not None and actor in ready:
            ready.remove(actor)
            if not ready:
                del self._lanes[lane]
                if lane in self._queued:
                    self._queued.discard(lane)
                    self._turns.remove(lane)

    def _offer(self, lane: Hashable) -> None:
        if (
            lane not in self._queued
            and self._lanes.get(lane)
            and self._running.get(lane, 0) < self.per_lane
        ):
            self._turns.append(lane)
            self._queued.add(lane)

    def _wake_one(self) -> None:
        """A worker for a turn waiting: an idle one not woken yet, else a new one up to
        `workers`. Every worker that takes a turn while others wait wakes the next, so a
        worker blocked in its turn never leaves turns waiting while the pool has room."""
        if self._idle > self._woken:
            self._woken += 1
            self._cond.notify()
        elif len(self._threads) < self.workers:
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:
            if not self._threads:
                raise  # no worker at all: the actor cannot run (SupervisedActor's failure)
            logger.warning("actor pool %s: cannot start another worker", self._name)
            return
        self._threads.append(thread)

    def _next(self) -> tuple[PooledActor, bool] | None:
        with self._cond:
            while True:
                while not self._turns:
                    if self._closed:
                        return None
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                    if self._woken:
                        self._woken -= 1
                lane = self._turns.popleft()
                self._queued.discard(lane)
                ready = self._lanes[lane]
                actor = ready.popleft()
                if not ready:
                    del self._lanes[lane]
                if id(actor) in self._granted:
                    self._granted.discard(id(actor))  # its slot was counted when handed over
                    heavy = True
                elif actor.pool_heavy:
                    if self._heavy_running >= self.heavy_slots:
                        self._heavy_waiting.append(actor)  # a freed slot is handed to it
                        self._offer(lane)
                        continue
                    self._heavy_running += 1
                    heavy = True
                else:
                    heavy = False
                self._running[lane] = self._running.get(lane, 0) + 1
                self._offer(lane)  # another of its actors may run beside it
                if self._turns:
                    self._wake_one()
                return actor, heavy

    def _done(self, actor: PooledActor, heavy: bool, again: bool) -> None:
        with self._cond:
            lane = actor.pool_lane
            left = self._running[lane] - 1
            if left:
                self._running[lane] = left
            else:
                del self._running[lane]
            if heavy and self._heavy_waiting:
                waiter = self._heavy_waiting.popleft()  # the slot passes on, in arrival order
                self._granted.add(id(waiter))
                self._ready(waiter)
            elif heavy:
                self._heavy_running -= 1
            if again:
                self._ready(actor)
            else:
                self._offer(lane)
            # no wake-up here: this worker takes the next turn itself (and wakes others then)

    def _work(self) -> None:
        while (turn := self._next()) is not None:
            actor, heavy = turn
            again = False
            try:
                again = actor.run_turn(self._batch)
            except BaseException:  # run_turn handles the actor's own; this is the pool's bug
                logger.exception("actor pool %s: a turn failed", self._name)
            finally:
                self._done(actor, heavy, again)


__all__ = ["ActorPool", "PooledActor"]
