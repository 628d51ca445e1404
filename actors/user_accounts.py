"""A user's exchange clients, one per account, replaceable while the account's engines run.

Engines and the account's periodic reconciliation hold an `AccountClient`, never the client
itself: every call goes through it to the account's current client. When the owner replaces the
account's API key (the root's poll sees its credentials change), `AccountClients.replace` builds
a client for the new key through the same factory a start uses and swaps it in: each engine's
next call uses the new key, none is stopped or restarted. The old client is closed once the
calls it is answering have returned (closing it under a create in flight would turn a placed
order into an unknown outcome).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any, cast

import pykka
import structlog

from actors.engine_waits import retry_delay
from actors.messages import CredentialsChanged
from actors.timers import TimerService
from domain.errors import MartingaleError, TemporaryError
from exchange.port import Exchange

log = structlog.get_logger(__name__)


class AccountClient:
    """One account's exchange client as its engines see it (an `Exchange`): a handle whose
    client can be replaced under running callers."""

    def __init__(self, client: Exchange) -> None:
        self._lock = threading.Lock()
        self._client = client
        self._calls: dict[int, int] = {}  # id(client) -> calls in flight
        self._retired: dict[int, Exchange] = {}  # replaced, still answering a call

    @property
    def current(self) -> Exchange:
        with self._lock:
            return self._client

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.current, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            client = self._enter()
            try:
                return getattr(client, name)(*args, **kwargs)
            finally:
                self._leave(client)

        return call

    def replace(self, client: Exchange) -> None:
        """Send every later call to `client`; close the old one when its calls have returned."""
        with self._lock:
            old, self._client = self._client, client
            if self._calls.get(id(old)):
                self._retired[id(old)] = old
                return
        old.close()

    def retire(self) -> None:
        """Close the client once the calls it is answering have returned (its engines are
        being stopped)."""
        with self._lock:
            client = self._client
            if self._calls.get(id(client)):
                self._retired[id(client)] = client
                return
        client.close()

    def close(self) -> None:
        """Close the client and any replaced one (at shutdown: its engines have stopped)."""
        with self._lock:
            clients = [self._client, *self._retired.values()]
            self._retired.clear()
        for client in clients:
            client.close()

    def _enter(self) -> Exchange:
        with self._lock:
            client = self._client
            self._calls[id(client)] = self._calls.get(id(client), 0) + 1
            return client

    def _leave(self, client: Exchange) -> None:
        with self._lock:
            left = self._calls[id(client)] - 1
            if left:
                self._calls[id(client)] = left
                return
            del self._calls[id(client)]
            retired = self._retired.pop(id(client), None)
        if retired is not None:
            retired.close()


class AccountClients:
    """The user actor's clients by account id; called on the user actor's thread only."""

    def __init__(
        self,
        exchange_for: Callable[[int], Exchange],
        *,
        owner: pykka.ActorRef[Any],
        timers: TimerService,
        rng: random.Random,
        user_id: int,
    ) -> None:
        self._exchange_for = exchange_for
        self._owner = owner
        self._timers = timers
        self._rng = rng
        self._log = log.bind(user=user_id)
        self._clients: dict[int, AccountClient] = {}

    def get(self, account_id: int) -> Exchange | None:
        return cast(Exchange | None, self._clients.get(account_id))

    def account_ids(self) -> list[int]:
        return list(self._clients)

    def client(self, account_id: int) -> Exchange:
        """The account's client, built on first use (raises what the factory raises)."""
        found = self._clients.get(account_id)
        if found is None:
            found = self._clients[account_id] = AccountClient(self._exchange_for(account_id))
        return cast(Exchange, found)

    def drop(self, account_id: int) -> None:
        """Forget the account's client (its key was refused): the next start builds a new one,
        on the key stored then. Closed once the calls in flight have returned."""
        found = self._clients.pop(account_id, None)
        if found is not None:
            found.retire()

    def credentials_changed(self, message: CredentialsChanged) -> None:
        """The account's stored key changed: swap a client built on it in under the running
        engines. An account without a client (no engine has run on it yet, or its old key was
        refused) gets the new key when its next engine starts. A client that cannot be built
        yet is tried again with backoff; one that cannot be built at all leaves the old client
        in place (its key may still work) and says why."""
        handle = self._clients.get(message.account_id)
        if handle is None:
            return
        try:
            client = self._exchange_for(message.account_id)
        except TemporaryError as exc:
            attempt = message.attempt + 1
            delay = retry_delay(exc, attempt, base=1.0, cap=60.0, rng=self._rng)
            self._log.warning(
                "user: cannot use the new API key yet; retrying",
                account=message.account_id,
                error=str(exc),
            )
            retry = CredentialsChanged(account_id=message.account_id, attempt=attempt)
            self._timers.tell_later(delay, self._owner, retry)
            return
        except MartingaleError as exc:
            self._log.error(
                "user: cannot use the new API key; the old one stays in use",
                account=message.account_id,
                error=str(exc),
            )
            return
        handle.replace(client)
        self._log.info("user: new API key in use", account=message.account_id)

    def close(self) -> None:
        for handle in self._clients.values():
            handle.close()
        self._clients.clear()
