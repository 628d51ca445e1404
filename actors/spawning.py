"""The base of every supervised actor: a failed start leaves nothing behind.

pykka (4.x) registers an actor before it starts the actor's thread. When the thread cannot
start (the process's thread or pids limit: RuntimeError "can't start new thread"), the caller
gets the exception, but the ref would stay in `pykka.ActorRegistry` for ever, looking alive,
and the registry would no longer be empty after shutdown. The supervisor treats the failed
start as a crash of that one child (restart policy, then FAULTED with the error).
"""

from __future__ import annotations

import pykka


class SupervisedActor(pykka.ThreadingActor):
    def _start_actor_loop(self) -> None:
        try:
            self._launch()
        except BaseException:
            pykka.ActorRegistry.unregister(self.actor_ref)
            raise

    def _launch(self) -> None:
        """Start handling messages: a thread of its own (`actors.pool` overrides it)."""
        super()._start_actor_loop()
