"""`martingale run` for the multi-process tests: the same `Service` on a config file, with the
polls of a test (prices every 0.3 s, the database every 0.2 s), so a failover shows in seconds.

Run: python -m tests.e2e.fast_run CONFIG (from the repository root)."""

from __future__ import annotations

import sys

from app.bootstrap import Service, Tuning
from config.loader import load_config
from config.logging import configure_logging
from services.onboarding import vault_for


def main(path: str) -> int:
    config = load_config(path)
    configure_logging(format="json", level="info")
    tuning = Tuning(
        poll_interval=0.2, live_poll_interval=0.3, heartbeat_interval=1.0, reconcile_interval=2.0
    )
    return Service(config, vault=vault_for(config), tuning=tuning).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
