"""The notifier: delivers users' notifications (issue 16) on threads of its own.

Engines and supervisors only `tell` a `Notify` to the shared inbox (`actors.notify_queue`):
they never wait on it, and nothing a target does (slow, down, refusing, a bad URL) reaches
them. A few worker threads take notices from the inbox, find the user's targets that want the
event, render the text (with the strategy's name, looked up here, off the engine's path) and
send to each target with apprise (`actors.notify_send`): a time limit per send, a few retries
with exponential backoff (tenacity), then a warning that names the target and its URL's
scheme, never the URL.

Targets are read from the database every `refresh_interval` seconds (one small query) and
their URLs decrypted once per stored ciphertext: a target created, changed, disabled or
deleted (config sync, REST API) takes effect at the next refresh. The refresh also tells the
inbox which users want which events, so that engines of users without targets tell nothing.
A degraded strategy is told at most once per `quiet_period` (a venue that flaps must not send
a message a minute).

A plain object with `start`/`stop` owned by the composition root (`app.bootstrap`), like the
timer thread: started before the actor tree, stopped after it, so every engine can tell it
until the end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import structlog
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from actors.notify_queue import Notifications
from actors.notify_send import (
    DEFAULT_TIMEOUT_S,
    DeliveryFailed,
    Sender,
    masked,
    quiet_apprise,
)
from domain.errors import MartingaleError
from domain.notifications import Notify, NotifyEvent, render
from domain.secrets import Secret
from persistence.records_notify import NotificationTarget

log = structlog.get_logger(__name__)

_QUIETED = frozenset({NotifyEvent.STRATEGY_DEGRADED})
_NAMES_MAX = 20_000


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierSettings:
    workers: int = 2
    timeout: float = DEFAULT_TIMEOUT_S  # per send
    attempts: int = 3  # sends per target and notice, the first included
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    backoff_cap: float = 30.0
    refresh_interval: float = 5.0
    quiet_period: float = 900.0  # one "degraded" per strategy per this long


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """The outcome of one notice at one target (what `notify test` reports)."""

    target: str
    scheme: str
    ok: bool
    reason: str | None = None


class Notifier:
    def __init__(
        self,
        inbox: Notifications,
        *,
        load_targets: Callable[[], list[NotificationTarget]],
        open_url: Callable[[NotificationTarget], Secret],
        strategy_name: Callable[[int], str | None],
        send: Sender,
        settings: NotifierSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`load_targets`: every target of every user (the repository's read); `open_url`:
        a target's URL (the vault); `strategy_name`: a strategy's name, or None."""
        self.inbox = inbox
        self._load = load_targets
        self._open = open_url
        self._strategy_name = strategy_name
        self._send = send
        self.settings = settings or NotifierSettings()
        self._clock = clock
        self._sleep = sleep
        self._targets: dict[int, list[NotificationTarget]] = {}
        self._urls: dict[tuple[int, str], Secret] = {}  # (target id, ciphertext) -> URL
        self._names: dict[int, str] = {}
        self._told: dict[tuple[int, int | None, NotifyEvent], float] = {}
        self._refresh_lock = threading.Lock()
        self._refreshed_at: float | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent = 0
        self.failed = 0

    def __repr__(self) -> str:
        return f"Notifier(sent={self.sent}, failed={self.failed}, inbox={self.inbox!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        quiet_apprise()
        self.refresh()
        for index in range(max(1, self.settings.workers)):
            thread = threading.Thread(target=self._work, name=f"notifier-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; a notice still waiting is dropped (a send under way finishes or
        times out; the threads are daemons, so a stuck one never holds the process)."""
        self._stop.set()
        self.inbox.wake_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                self._refresh_if_due()
                notice = self.inbox.take(self.settings.refresh_interval)
                if notice is not None and not self._stop.is_set():
                    self.deliver(notice)
            except Exception as exc:  # never let one notice end a worker
                log.warning("notifier: notice skipped", error=type(exc).__name__)

    # --- targets -----------------------------------------------------------------------------

    def _refresh_if_due(self) -> None:
        last = self._refreshed_at
        if last is None or self._clock() - last >= self.settings.refresh_interval:
            self.refresh()

    def refresh(self) -> None:
        """Read every target again and tell the inbox who wants what."""
        if not self._refresh_lock.acquire(blocking=False):
            return  # another worker refreshes right now
        try:
            self._refreshed_at = self._clock()
            try:
                targets = self._load()
            except MartingaleError as exc:  # database down: keep what we had
                log.warning("notifier: targets not refreshed", error=type(exc).__name__)
                return
            by_user: dict[int, list[NotificationTarget]] = {}
            for target in targets:
                by_user.setdefault(target.user_id, []).append(target)
            self._targets = by_user
            live = {(t.id, t.sealed.ciphertext) for t in targets}
            self._urls = {k: v for k, v in self._urls.items() if k in live}
            self.inbox.set_wanted(
                {
                    user: frozenset(e for t in found if t.enabled for e in t.events)
                    for user, found in by_user.items()
                    if any(t.enabled and t.events for t in found)
                }
            )
        finally:
            self._refresh_lock.release()

    def _url(self, target: NotificationTarget) -> Secret:
        key = (target.id, target.sealed.ciphertext)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = self._open(target)
        return url

    def _name(self, strategy_id: int | None) -> str | None:
        if strategy_id is None:
            return None
        name = self._names.get(strategy_id)
        if name is None:
            try:
                name = self._strategy_name(strategy_id)
            except Exception:  # the text says "strategy 12" instead
                return None
            if name is not None:
                if len(self._names) >= _NAMES_MAX:
                    self._names.clear()
                self._names[strategy_id] = name
        return name

    # --- delivery ----------------------------------------------------------------------------

    def deliver(self, notice: Notify) -> list[Delivery]:
        """Send `notice` to each enabled target of its user that wants its event (a test:
        to each target, enabled or not); the outcome per target."""
        if notice.event is NotifyEvent.TEST:
            targets = self._targets.get(notice.user_id, [])
        else:
            targets = [
                t
                for t in self._targets.get(notice.user_id, [])
                if t.enabled and notice.event in t.events
            ]
        if not targets or self._quieted(notice):
            return []
        if notice.detail:
            notice = replace(notice, detail=masked(notice.detail))
        title, body = render(notice, self._name(notice.strategy_id))
        return [self._deliver_one(target, notice, title, body) for target in targets]

    def _quieted(self, notice: Notify) -> bool:
        if notice.event not in _QUIETED:
            return False
        key = (notice.user_id, notice.strategy_id, notice.event)
        now = self._clock()
        last = self._told.get(key)
        if last is not None and now - last < self.settings.quiet_period:
            return True
        if len(self._told) >= _NAMES_MAX:
            self._told.clear()
        self._told[key] = now
        return False

    def _deliver_one(
        self, target: NotificationTarget, notice: Notify, title: str, body: str
    ) -> Delivery:
        settings = self.settings
        retrying = Retrying(
            stop=stop_after_attempt(max(1, settings.attempts)),
            wait=wait_exponential(multiplier=settings.backoff, max=settings.backoff_cap),
            retry=retry_if_exception(lambda e: isinstance(e, DeliveryFailed) and e.retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            url = self._url(target)
            retrying(self._send, url, title, body, settings.timeout)
        except (DeliveryFailed, MartingaleError) as exc:
            reason = exc.reason if isinstance(exc, DeliveryFailed) else str(exc)
            return self._failed(target, notice, reason)
        except Exception as exc:  # a bug in a plugin: still never the URL, only the type
            return self._failed(target, notice, f"unexpected {type(exc).__name__}")
        self.sent += 1
        return Delivery(target=target.name, scheme=target.scheme, ok=True)

    def _failed(self, target: NotificationTarget, notice: Notify, reason: str) -> Delivery:
        self.failed += 1
        log.warning(
            "notifier: delivery failed",
            user=notice.user_id,
            strategy=notice.strategy_id,
            target=target.name,
            scheme=target.scheme,
            notify_event=notice.event.value,
            reason=reason,
        )
        return Delivery(target=target.name, scheme=target.scheme, ok=False, reason=reason)


def deliver_now(
    targets: Iterable[NotificationTarget],
    notice: Notify,
    *,
    open_url: Callable[[NotificationTarget], Secret],
    send: Sender,
    settings: NotifierSettings | None = None,
    strategy_name: Callable[[int], str | None] = lambda _sid: None,
) -> list[Delivery]:
    """Deliver one notice at once, on the caller's thread, to the given targets (for `notify
    test` and the API's test): the same path as the service's, without its inbox."""
    listed = list(targets)
    notifier = Notifier(
        Notifications(),
        load_targets=lambda: listed,
        open_url=open_url,
        strategy_name=strategy_name,
        send=send,
        settings=settings,
    )
    notifier.refresh()
    return notifier.deliver(notice)
