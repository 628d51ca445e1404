"""A service whose one-service lock is lost stops placing orders and shuts down (issue 11,
item 14): the lock's keep-alive tells the service, which sets its stop flag at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from app.bootstrap import Service, Tuning
from config.loader import load_config
from persistence.migrate import upgrade
from persistence.ownership import ServiceLock


class _RecordingLock(ServiceLock):
    """A real lock on the test's SQLite file that remembers who listens for its loss."""

    listener: Callable[[str], None] | None = None

    def notify_on_lost(self, on_lost: Callable[[str], None]) -> None:
        self.listener = on_lost
        super().notify_on_lost(on_lost)


def test_a_lost_lock_stops_the_service(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"database:\n  url: {url}\npaper:\n  state_file: {tmp_path / 'paper.sqlite'}\n"
        "markets: {}\nusers: []\n",
        encoding="utf-8",
    )
    upgrade(url)
    lock = _RecordingLock(url)
    lock.acquire()
    service = Service(load_config(config_file), vault=None, tuning=Tuning(), lock=lock)
    service.start()
    try:
        assert lock.listener is not None
        assert not service.stopping.is_set()
        lock.listener("another process holds the lock now (test)")
        assert service.stopping.is_set()  # no engine places anything from here on
        assert service.root is not None and service.root.is_alive()
    finally:
        service.stop()
