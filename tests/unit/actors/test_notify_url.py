"""`usable_url`: whether apprise can use a URL, decided by parsing it (nothing is sent), with
apprise's own log record of a refused URL (which quotes it whole) kept out of the logs."""

from __future__ import annotations

import logging
import threading

import pytest

from actors.notify_send import _apprise_muted, usable_url
from domain.secrets import Secret

TOKEN = "778899001:AAGsecretUnitToken"


@pytest.mark.parametrize(
    ("url", "usable"),
    [
        ("json://127.0.0.1:9/hook", True),
        (f"tgram://{TOKEN}/-1001234", True),
        (f"  json://127.0.0.1:9/{TOKEN}  ", True),  # stored stripped, so checked stripped
        (f"foo://{TOKEN}/x", False),  # no such service
        (f"discord://{TOKEN}", False),  # a webhook id and token are both needed
        ("mailto://", False),
    ],
)
def test_apprise_decides_and_logs_nothing_of_the_url(
    url: str, usable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert usable_url(Secret(url)) is usable
    assert TOKEN not in caplog.text


def test_only_the_checking_thread_is_muted(caplog: pytest.LogCaptureFixture) -> None:
    """A delivery on another thread (the notifier's) still logs its failures while a URL is
    being checked, and this thread logs again once the check is over."""
    caplog.set_level(logging.DEBUG)
    apprise_log = logging.getLogger("apprise")
    with _apprise_muted():
        apprise_log.error("while checking")
        other = threading.Thread(target=lambda: apprise_log.error("from another thread"))
        other.start()
        other.join()
    apprise_log.error("after the check")
    assert "while checking" not in caplog.text
    assert "from another thread" in caplog.text and "after the check" in caplog.text
