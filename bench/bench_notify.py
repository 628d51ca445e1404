"""What notifications cost the engines, and how fast the notifier delivers (issue 16).

The engine side: one committed step of a user without targets asks `wants` (a dict lookup)
only when the step closed a cycle or began a safety fill; a user with targets builds a
`Notify` and `tell`s it (a locked deque append; when full the oldest is dropped). Timed per
call over many calls, with the cost of an empty Python call beside it for scale.

The notifier side: notices through the real apprise json:// plugin to an HTTP server on
loopback, with 1 and 2 workers: sends per second (each is one HTTP POST).

    .venv/bin/python bench/bench_notify.py [--calls 1000000] [--sends 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from datetime import UTC, datetime
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from actors.notifier import Notifier, NotifierSettings
from actors.notify_queue import Notifications
from actors.notify_send import send_apprise
from domain.notifications import DEFAULT_EVENTS, Notify, NotifyEvent
from domain.secrets import Secret
from persistence.records_notify import NotificationTarget, SealedUrl
from tests.notify_hook import Hook

AT = datetime(2024, 1, 1, tzinfo=UTC)


def per_call_ns(statement: str, calls: int, scope: dict[str, object]) -> float:
    best = min(timeit.repeat(statement, globals=scope, number=calls, repeat=5))
    return best / calls * 1e9


def engine_side(calls: int) -> None:
    inbox = Notifications(capacity=1000)
    inbox.set_wanted({1: DEFAULT_EVENTS})
    notice = Notify(
        user_id=1,
        event=NotifyEvent.CYCLE_CLOSED,
        at=AT,
        strategy_id=7,
        symbol="BTC/USDT",
        cycle=3,
        profit=Decimal("1.25"),
        currency="USDT",
    )

    def empty() -> None:
        return None

    scope: dict[str, object] = {
        "inbox": inbox,
        "notice": notice,
        "E": NotifyEvent.CYCLE_CLOSED,
        "empty": empty,
        "Notify": Notify,
        "AT": AT,
    }
    base = per_call_ns("empty()", calls, scope)
    miss = per_call_ns("inbox.wants(2, E)", calls, scope)
    hit = per_call_ns("inbox.wants(1, E)", calls, scope)
    build = per_call_ns(
        "Notify(user_id=1, event=E, at=AT, strategy_id=7, symbol='BTC/USDT', cycle=3)",
        calls // 4,
        scope,
    )
    tell = per_call_ns("inbox.tell(notice)", calls // 4, scope)  # full after 1,000: drops
    print("engine side (per call, best of 5)")
    print(f"  empty Python call                    {base:8.0f} ns   (1.00x)")
    print(f"  wants(), user without targets        {miss:8.0f} ns   ({miss / base:.2f}x)")
    print(f"  wants(), user with targets           {hit:8.0f} ns   ({hit / base:.2f}x)")
    print(f"  build a Notify                       {build:8.0f} ns   ({build / base:.2f}x)")
    print(f"  tell() into a full queue (drops)     {tell:8.0f} ns   ({tell / base:.2f}x)")
    print(f"  dropped while full: {inbox.dropped:,} of {inbox.told:,} told")


def notifier_side(sends: int) -> None:
    hook = Hook()
    target = NotificationTarget(
        id=1,
        user_id=1,
        name="hook",
        scheme="json",
        events=DEFAULT_EVENTS,
        enabled=True,
        sealed=SealedUrl(ciphertext="x", key_version=1),
        created_at=AT,
        updated_at=AT,
    )
    url = Secret(hook.url("bench"))
    try:
        print("notifier side (real apprise json:// to a loopback HTTP server)")
        rates = []
        for workers in (1, 2):
            before = len(hook.bodies)
            notifier = Notifier(
                Notifications(capacity=sends + 10),
                load_targets=lambda: [target],
                open_url=lambda _t: url,
                strategy_name=lambda _sid: "bench",
                send=send_apprise,
                settings=NotifierSettings(workers=workers, refresh_interval=60.0),
            )
            for n in range(sends):
                notifier.inbox.tell(
                    Notify(user_id=1, event=NotifyEvent.CYCLE_CLOSED, at=AT, cycle=n)
                )
            started = time.perf_counter()
            notifier.start()
            while len(hook.bodies) - before < sends and notifier.failed == 0:
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
            notifier.stop()
            rates.append(sends / elapsed)
            print(
                f"  {workers} worker(s): {sends} sends in {elapsed:.2f} s = "
                f"{sends / elapsed:,.0f}/s (failed {notifier.failed})"
            )
        print(f"  ratio 2 workers / 1 worker: {rates[1] / rates[0]:.2f}")
    finally:
        hook.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    engine_side(args.calls)
    notifier_side(args.sends)


if __name__ == "__main__":
    main()
