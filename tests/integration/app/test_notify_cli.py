"""`martingale notify test` (issue 16): sends to every target of the user through apprise, to
real HTTP servers on loopback, says which worked and which failed, and never prints a URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.cli import main
from persistence.sql_repository import SqlRepository
from persistence.vault import generate_key
from tests.integration.app.conftest import config_text
from tests.notify_hook import Hook

TOKEN = "778899001:AAGsecretBotTokenForCliTests"
USER = """
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {BTC: 1}
    notifications:
      - name: good
        url_env: GOOD_URL
      - name: bad
        url_env: BAD_URL
        enabled: false
"""


def test_notify_test_reports_each_target_without_its_url(
    db_url: str,
    sql_repo: SqlRepository,
    write_config: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good, bad = Hook(200), Hook(500)
    try:
        monkeypatch.setenv("MARTINGALE_MASTER_KEY", generate_key())
        monkeypatch.setenv("GOOD_URL", good.url(f"hook/{TOKEN}"))
        monkeypatch.setenv("BAD_URL", bad.url(f"hook/{TOKEN}"))
        path = write_config(config_text(db_url, USER))
        assert main(["onboard", "--config", str(path)]) == 0
        capsys.readouterr()

        everyone = main(["notify", "test", "alice", "--config", str(path)])
        out_all = capsys.readouterr()
        only_good = main(["notify", "test", "alice", "--target", "good", "--config", str(path)])
        out_good = capsys.readouterr()
        missing = main(["notify", "test", "alice", "--target", "nope", "--config", str(path)])
        out_missing = capsys.readouterr()
    finally:
        good.close()
        bad.close()

    assert everyone == 1  # one target failed
    assert "good" in out_all.out and " ok" in out_all.out
    assert "bad" in out_all.out and "FAILED" in out_all.out
    assert "1 of 2 target(s)" in out_all.out
    assert only_good == 0 and "1 of 1 target(s)" in out_good.out
    assert missing == 2 and "'nope'" in out_missing.err
    assert len(good.bodies) == 2 and len(bad.bodies) == 1
    for text in (out_all.out, out_all.err, out_good.out, out_good.err, out_missing.err):
        assert TOKEN not in text and "json://" not in text
