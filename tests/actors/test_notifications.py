"""Notifications from a real actor tree (issue 16) to a real HTTP server over loopback, through
apprise's json:// plugin: a closed cycle reaches the target with its profit, and a target that
is down or refusing changes nothing about trading, and is logged without its URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from actors.notifier import Notifier, NotifierSettings
from actors.notify_queue import Notifications
from actors.notify_send import send_apprise
from domain.errors import AuthenticationFailed
from domain.notifications import ALL_EVENTS, DEFAULT_EVENTS, Notify, NotifyEvent
from domain.secrets import Secret
from persistence.notify_targets import open_target, store_target
from persistence.records import ActualState, DesiredState
from persistence.vault import Vault, generate_key, parse_keyring
from tests.actors.fakes import SYMBOL, Crash, wait_until
from tests.actors.tree import T0, Tree
from tests.notify_hook import Hook, closed_port

VAULT = Vault(parse_keyring(generate_key(1), source="test"))
PATH_TOKEN = "PathTokenQ7xv9SecretZZ"
PASSWORD = "HookPassw0rdSecret"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    try:
        yield h
    finally:
        h.close()


def _url(hook: Hook) -> str:
    return hook.url(f"notify/{PATH_TOKEN}", userinfo=f"hook:{PASSWORD}@")


def _notifier(tree: Tree) -> Notifier:
    notifier = Notifier(
        Notifications(),
        load_targets=tree.sql.list_notification_targets,
        open_url=lambda t: open_target(VAULT, t),
        strategy_name=lambda sid: tree.sql.get_strategy(sid).name,
        send=send_apprise,
        settings=NotifierSettings(
            refresh_interval=0.2, attempts=2, backoff=0.01, timeout=5.0, workers=1
        ),
    )
    tree.notifications = notifier.inbox
    return notifier


def _target(tree: Tree, user: str, name: str, url: str) -> None:
    user_id = tree.sql.find_user(user)
    assert user_id is not None
    store_target(
        tree.sql, VAULT, user_id.id, name, Secret(url), events=DEFAULT_EVENTS, enabled=True, now=T0
    )


def _close_cycle(tree: Tree, sid: int) -> None:
    """Base and take-profit are placed; the price reaches the take-profit: the cycle closes
    and, after the cooldown (1 s), the next cycle's base order is placed."""
    tree.wait_orders(sid, 3)
    wait_until(lambda: tree.watching() >= 1, what="the engine watching its levels")
    tree.source.push("101.5")
    wait_until(
        lambda: any(o.client_order_id == tree.coid(sid, 2, "b") for o in tree.orders_of(sid)),
        what="the next cycle's base order",
        timeout=20,
    )


def test_a_closed_cycle_posts_its_profit_to_the_users_target(tree: Tree, hook: Hook) -> None:
    sid = tree.add("alice", "main", "btc-dca")
    tree.add("bob", "main", "quiet")  # no targets: never notified
    _target(tree, "alice", "hook", _url(hook))
    notifier = _notifier(tree)
    notifier.start()
    try:
        tree.start()
        _close_cycle(tree, sid)
        wait_until(lambda: len(hook.bodies) >= 1, what="a POST to the hook", timeout=20)
    finally:
        tree.stop()
        notifier.stop()

    [body] = hook.bodies
    [cycle] = [c for c in tree.sql.list_cycles(sid) if c.number == 1]
    assert cycle.realized_profit is not None and cycle.realized_profit > 0
    assert body["title"].startswith("btc-dca: profit +")
    assert f"btc-dca ({SYMBOL}): cycle 1 closed with +" in body["message"]
    assert body["message"].rstrip(".").endswith("USDT")
    assert notifier.failed == 0 and notifier.inbox.dropped == 0


def test_a_target_that_is_down_or_refusing_leaves_trading_untouched(tree: Tree) -> None:
    refusing = Hook(status=500)
    sid = tree.add("alice", "main", "s1")
    _target(tree, "alice", "refusing", _url(refusing))
    _target(
        tree, "alice", "down", f"json://hook:{PASSWORD}@127.0.0.1:{closed_port()}/x/{PATH_TOKEN}"
    )
    notifier = _notifier(tree)
    notifier.start()
    try:
        with capture_logs() as logs:
            tree.start()
            _close_cycle(tree, sid)
            wait_until(lambda: notifier.failed >= 2, what="both deliveries given up", timeout=30)
    finally:
        tree.stop()
        notifier.stop()
        refusing.close()

    assert len(refusing.bodies) == 2  # tried, and retried once (attempts=2)
    closed = [c for c in tree.sql.list_cycles(sid) if c.closed_at is not None]
    assert [c.number for c in closed] == [1]
    assert any(o.client_order_id == tree.coid(sid, 2, "b") for o in tree.orders_of(sid))
    failures = [e for e in logs if e["event"] == "notifier: delivery failed"]
    assert sorted(e["target"] for e in failures) == ["down", "refusing"]
    text = repr(logs)
    for secret in (PATH_TOKEN, PASSWORD, "json://"):
        assert secret not in text


def _inbox_for_everything(tree: Tree, *users: str) -> Notifications:
    inbox = Notifications()
    wanted = {}
    for name in users:
        user = tree.sql.find_user(name)
        assert user is not None
        wanted[user.id] = ALL_EVENTS
    inbox.set_wanted(wanted)
    tree.notifications = inbox
    return inbox


def _told(inbox: Notifications) -> list[Notify]:
    out = []
    while (notice := inbox.take(0)) is not None:
        out.append(notice)
    return out


def test_a_rejected_key_and_a_faulted_strategy_are_told_once_each(tree: Tree) -> None:
    rejected = tree.add("alice", "main", "a1")
    broken = tree.add("alice", "broken", "a2")
    tree.add("bob", "main", "b1")  # no targets: tells nothing
    tree.exchange_of(rejected).outage = AuthenticationFailed("Invalid API-key, IP, or permissions")
    tree.exchange_of(broken).outage = Crash("boom in the exchange client")
    inbox = _inbox_for_everything(tree, "alice")
    tree.start()
    tree.wait_state(broken, ActualState.FAULTED)
    wait_until(
        lambda: tree.strategy(rejected).desired_state is DesiredState.STOPPED,
        what="the rejected key's strategy stopped",
    )
    wait_until(lambda: inbox.waiting >= 2, what="two notices")
    tree.stop()

    told = {(n.event, n.strategy_id) for n in _told(inbox)}
    assert (NotifyEvent.KEY_REJECTED, rejected) in told
    assert (NotifyEvent.STRATEGY_FAULTED, broken) in told
    assert inbox.told == len(told)  # nothing for bob, nothing twice
    assert {n[0] for n in told} <= {NotifyEvent.KEY_REJECTED, NotifyEvent.STRATEGY_FAULTED}
