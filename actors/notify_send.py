"""One delivery through apprise, with a time limit, and errors that never quote the URL.

Apprise URLs carry bot tokens, webhook secrets and passwords, and the errors of the HTTP
libraries under apprise quote the URL they failed on. So nothing apprise says reaches our
messages: a failure is `DeliveryFailed` with a reason in our own words, and apprise's own log
records are kept at ERROR and above (the log redactor masks the URL in those too: the vault
registers every URL it opens, `persistence.vault.register_url`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import apprise

from domain.secrets import MASK, Secret, registered_secrets

DEFAULT_TIMEOUT_S = 10.0

# What a delivery is: (url, title, body, timeout) -> None, or DeliveryFailed.
Sender = Callable[[Secret, str, str, float], None]


class DeliveryFailed(Exception):
    """A notification did not go out. `retry`: whether trying again may help (a refused or
    unreachable service may recover; a URL apprise cannot parse will not)."""

    def __init__(self, reason: str, *, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def quiet_apprise() -> None:
    """Apprise logs each failure with the service's details at WARNING: ours say it without."""
    logging.getLogger("apprise").setLevel(logging.ERROR)


class _MutedThreads(logging.Filter):
    """Drops apprise's records made on the threads listed: apprise logs a URL it cannot parse
    whole, at ERROR, and a URL that is refused at the door is never registered with the log
    redactor (it is not stored)."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in self.threads


_MUTED = _MutedThreads()


@contextmanager
def _apprise_muted() -> Iterator[None]:
    logging.getLogger("apprise").addFilter(_MUTED)  # once: a filter is added only once
    me = threading.get_ident()
    _MUTED.threads.add(me)
    try:
        yield
    finally:
        _MUTED.threads.discard(me)


def usable_url(url: Secret) -> bool:
    """Whether apprise can use the URL (a scheme it has a plugin for, with the parts that
    plugin needs). Only parses: nothing is sent, and apprise logs nothing of it."""
    sender = apprise.Apprise()
    with _apprise_muted():
        try:
            return bool(sender.add(url.reveal().strip())) and len(sender) > 0
        except Exception:  # a plugin that raises while parsing refuses the URL as well
            return False


def send_apprise(url: Secret, title: str, body: str, timeout: float) -> None:
    """Send one notification to one apprise URL, giving up after `timeout` seconds."""
    sender = apprise.Apprise()
    try:
        added = sender.add(url.reveal())
    except Exception:  # a plugin that raises while parsing: the same as one that refuses
        added = False
    if not added or len(sender) == 0:
        raise DeliveryFailed(
            "the URL is not one apprise can use (unknown scheme or missing parts)", retry=False
        )
    for service in sender:
        # Each HTTP request of the plugin, bounded too (apprise's defaults are 4 s each).
        service.socket_connect_timeout = min(timeout, service.socket_connect_timeout)
        service.socket_read_timeout = timeout
    try:
        result = sender.notify(body=body, title=title, timeout=timeout)
    except Exception as exc:
        raise DeliveryFailed(f"apprise failed ({type(exc).__name__})") from None
    if result:
        return
    status = getattr(result, "status", None)
    if status == apprise.AppriseResultStatus.TIMEOUT:
        raise DeliveryFailed(f"no answer within {timeout:g}s")
    raise DeliveryFailed("the service refused the notification or could not be reached")


def masked(text: str) -> str:
    """`text` with every registered secret value masked: an error that goes into a message
    (an exchange's answer, say) leaves the process, past the log redactor."""
    _, values = registered_secrets()
    for value in sorted((v for v in values if v in text), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text
