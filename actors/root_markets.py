"""The markets the root supervisor's engines trade: a strategy row becomes the `EngineSpec` a
user actor runs, on the venue of its account (exchange id plus environment, `domain.venues`); a
live market's feed is started when the first engine trading it is spawned; and a feed's health
change reaches every user with strategies on that market.

Kept apart from the root (`actors.root`), which starts, supervises and stops the actors, because
this is the root's one bookkeeping of who trades where: the account rows it read, and the users
of each market. A plain object used on the root's thread only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pykka

from actors.feed_pool import FeedPool, FeedSpec
from actors.messages import EngineSpec, MarketHealthChanged
from actors.root_poll import DatabasePoll
from actors.root_users import UserChild
from domain.events import StopMode
from domain.venues import PAPER_VENUE
from persistence.records import ActualState, DesiredState

# Builds the feed of a live market from the account row of the first engine trading it: the
# row says the environment (sandbox / base_url). None: that market gets no feed.
LiveFeedFactory = Callable[[Any, str], FeedSpec | None]


class Markets:
    """`users`: the root's user children (shared, not copied); `db`: the root's poll, whose
    account rows are the venues' source and which is told of every strategy row read here;
    `read(method, *args)`: a repository read (the root's RepoClient.call); `log`: the root's
    logger, so these lines read as the root's own."""

    def __init__(
        self,
        users: dict[int, UserChild],
        db: DatabasePoll,
        *,
        feeds: FeedPool,
        live_feed: LiveFeedFactory | None,
        read: Callable[..., Any],
        log: Any,
    ) -> None:
        self._users = users
        self._db = db
        self._accounts = db.accounts  # account rows by id: venues, feeds, key changes
        self._feeds = feeds
        self._live_feed = live_feed
        self._read = read
        self._log = log
        self._market_users: dict[tuple[str, str], set[int]] = {}  # who to tell about health

    def specs(self, records: list[Any]) -> list[EngineSpec]:
        """How the user actor runs each of these strategies (none for one it must not run)."""
        specs = []
        for record in records:
            self._db.saw(record)
            if record.actual_state in (ActualState.FAULTED, ActualState.FINISHED):
                continue  # a person has to look first: resume sets it running again
            finishing = record.desired_state is DesiredState.STOPPED
            if finishing and record.actual_state is ActualState.STOPPED:
                continue
            account = self._accounts.get(record.account_id)
            if account is None:
                account = self._accounts[record.account_id] = self._read(
                    "get_account", record.account_id
                )
            venue = account.venue  # exchange id plus environment (domain.venues)
            self._market_users.setdefault((venue, record.symbol), set()).add(record.user_id)
            self._ensure_feed(venue, record.symbol, account)
            specs.append(
                EngineSpec(
                    strategy_id=record.id,
                    account_id=record.account_id,
                    venue=venue,
                    symbol=record.symbol,
                    desired=record.desired_state,
                    stop_mode=(record.stop_mode or StopMode.FINISH_CYCLE) if finishing else None,
                )
            )
        return specs

    def _ensure_feed(self, venue: str, symbol: str, account: Any) -> None:
        """A live market gets its feed when the first engine trading it is spawned."""
        if venue == PAPER_VENUE or self._live_feed is None or self._feeds.has(venue, symbol):
            return
        try:
            spec = self._live_feed(account, symbol)
        except Exception:  # its engines run without a feed (they size from the exchange)
            self._log.exception("root: cannot build a live feed", venue=venue, symbol=symbol)
            return
        if spec is not None:
            self._feeds.start(spec)

    def tell(self, change: MarketHealthChanged | None) -> None:
        """Parents tell children: every user with strategies on that market hears of it."""
        if change is None:
            return
        for user_id in self._market_users.get((change.venue, change.symbol), ()):
            child = self._users.get(user_id)
            if child is not None and child.ref is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    child.ref.tell(change)
