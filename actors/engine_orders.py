"""What one engine sends to the exchange and how it reads the answers: placing and canceling
orders, asking the exchange for one order by its client order id, the order that never arrived
(placed again only after the resubmit grace), the fills behind an order's filled amount, and
strays carrying our ids canceled. Every answer comes back as `Observed` items for the engine's
loop (`actors.engine_steps`) to decide on; nothing here decides or commits.

Kept apart from the engine's start path (`actors.engine`) and its loop so that the money rule
"never blindly resubmit a create" reads in one place. A mixin of `Engine`, which sets the
attributes declared here in its constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from actors.engine_policy import shown
from actors.engine_ports import FillsNotVisible, Host
from actors.order_sync import Observed, needs_fills, observe
from actors.sends import SendLog
from domain.commands import CancelOrder, Command, PlaceOrder, ScheduleWakeup
from domain.errors import (
    DuplicateOrder,
    ExchangeUnavailable,
    InsufficientFunds,
    MarketFilterRejected,
    OrderError,
    OrderNotFound,
    OrderOutcomeUnknown,
    RateLimited,
    TemporaryError,
)
from domain.events import OrderCanceled, OrderRejected
from domain.ids import client_order_id_tag, parse_client_order_id
from domain.market import MarketRules
from domain.orders import Fill, Order, OrderState, OrderType, Side
from exchange.port import Exchange
from strategy.state import MartingaleState, WorkingOrder, WorkingStatus

MARKET_RECHECK = timedelta(seconds=2)


class EngineOrders:
    """The engine's calls to the exchange (see the module docstring)."""

    strategy_id: int
    state: MartingaleState | None
    ordered_at: datetime | None  # when the exchange last accepted an order this engine sent
    _exchange: Exchange
    _host: Host
    _sends: SendLog
    _clock: Callable[[], datetime]
    _market: Callable[[], datetime]
    _symbol: str
    _resubmit_grace: timedelta
    _acting: MartingaleState | None  # see `_execute`

    # --- commands against the exchange ---------------------------------------------------

    def _execute(self, command: Command, decided: MartingaleState | None = None) -> list[Observed]:
        """Send `command`; its answer is read against `decided`, the state the decision that
        made it left (the machine may have decided more items since, in the same round)."""
        outer, self._acting = self._acting, decided
        try:
            if isinstance(command, PlaceOrder):
                return self._place(command)
            if isinstance(command, CancelOrder):
                return self._cancel(command)
            if isinstance(command, ScheduleWakeup):
                self._host.schedule(command.at, "cooldown")
            return []
        finally:
            self._acting = outer

    def _decided(self) -> MartingaleState:
        """The state a command being sent was decided in; outside `_execute`, the current one."""
        return self._acting if self._acting is not None else self._require_state()

    def _place(self, c: PlaceOrder) -> list[Observed]:
        self._host.guard()
        try:
            # The grace before any resubmit counts from the last send, not from the intent.
            with self._sends.sending(c.client_order_id, self._clock()):
                remote = self._create(c)
        except DuplicateOrder:
            remote = self._exchange.fetch_order(c.symbol, client_order_id=c.client_order_id)
        except OrderOutcomeUnknown:
            # The row stays PENDING_SUBMIT. Raising sends the engine down the start path later
            # (DEGRADED, with backoff), where reconcile resolves it by client order id.
            self._host.report("unknown_outcome", c.client_order_id)
            raise
        except (RateLimited, ExchangeUnavailable):
            # Refused at the gate (429/418, an open circuit, maintenance, our own rate limit):
            # not placed. The row stays PENDING_SUBMIT and the retry, after the wait the venue
            # asked for, places it at once: no unknown-outcome grace for an order never sent.
            self._sends.refused(c.client_order_id)
            self._host.report("not_placed", c.client_order_id)
            raise
        except OrderError as exc:
            self._sends.refused(c.client_order_id)
            if isinstance(exc, InsufficientFunds) and c.side is Side.SELL:
                self._host.warn(
                    "sell_refused",
                    f"the exchange refused to sell {shown(c.amount)} for lack of funds "
                    f"(order {c.client_order_id}): the account holds less than this strategy's "
                    "position; was it sold or withdrawn outside the service?",
                )
            rejected = self._rejected_row(c.client_order_id, c)
            # A filter refusal may mean the market's rules changed under us: read them again,
            # and the machine places the order again under the new ones.
            rules = self._fresh_rules() if isinstance(exc, MarketFilterRejected) else None
            return [
                Observed(
                    event=OrderRejected(
                        at=self._market(),
                        client_order_id=c.client_order_id,
                        reason=str(exc),
                        rules=rules if rules != self._decided().rules else None,
                    ),
                    order=rejected,
                )
            ]
        self.ordered_at = self._clock()
        working = self._decided().order(c.client_order_id)
        if c.order_type is OrderType.MARKET and not remote.state.is_terminal:
            # Acknowledged but not done: no price level will wake us for it, so look again.
            self._host.schedule(self._market() + MARKET_RECHECK, "sync")
        return self._observe(working, remote) if working is not None else []

    def _create(self, c: PlaceOrder) -> Order:
        return self._exchange.create_order(
            client_order_id=c.client_order_id,
            symbol=c.symbol,
            side=c.side,
            type=c.order_type,
            amount=c.amount,
            price=c.price,
            cost=c.cost,
        )

    def _fresh_rules(self) -> MarketRules | None:
        try:
            return self._exchange.load_market_rules(self._symbol, fresh=True)
        except TemporaryError:
            return None  # the refusal takes its usual course; the next cycle reads them

    def _cancel(self, c: CancelOrder) -> list[Observed]:
        working = self._decided().order(c.client_order_id)
        if working is None:
            return []
        self._host.guard()
        try:
            remote = self._exchange.cancel_order(c.symbol, client_order_id=c.client_order_id)
        except OrderNotFound:
            # Closed already (filled or canceled), or it never reached the venue: never place
            # an order we are canceling.
            return self._observed_now(working, resubmit=False)
        except OrderOutcomeUnknown:
            raise  # still CANCELING in the machine: reconcile on the retry cancels again
        return self._observe(working, remote)

    # --- asking the exchange about one order ---------------------------------------------

    def _observed_now(self, working: WorkingOrder, *, resubmit: bool = True) -> list[Observed]:
        """What the exchange says of `working` now (its fetch by client order id), not yet
        handled: `Engine._sync_one` hands it to the loop; a cancel the exchange no longer knows
        returns it as its answer (never placing again an order being canceled)."""
        try:
            remote = self._exchange.fetch_order(
                self._symbol, client_order_id=working.client_order_id
            )
        except OrderNotFound:
            return self._never_arrived(working, resubmit=resubmit)
        return self._observe(working, remote)

    def _never_arrived(self, working: WorkingOrder, *, resubmit: bool) -> list[Observed]:
        """The exchange has no such order: a create that never landed. Place it now (same id).

        Not too soon: after a create with no clear answer a venue may list the order only
        seconds later, and binance accepts a reused client order id once the first order is
        closed, so an early resubmit could buy twice. Within the grace period this raises
        OrderOutcomeUnknown (DEGRADED, retried later). The paper venue answers at once: 0 s.
        """
        if resubmit and working.status is WorkingStatus.SUBMITTED:
            sent = self._sends.sent_at(working.client_order_id)
            if sent is not None and self._clock() - sent < self._resubmit_grace:
                raise OrderOutcomeUnknown(
                    f"order {working.client_order_id} is not on the exchange yet; it is "
                    "placed again only after the grace period",
                    client_order_id=working.client_order_id,
                )
            state = self._require_state()
            command = PlaceOrder(
                client_order_id=working.client_order_id,
                symbol=state.symbol,
                side=working.side,
                order_type=working.order_type,
                amount=working.amount,
                price=working.price,
                cycle=state.cycle,
                leg=working.leg,
                cost=working.quote,
            )
            self._host.report("resubmit", working.client_order_id)
            return self._place(command)
        # Being canceled, or acknowledged once and gone without trace: it is canceled.
        row = Order(
            client_order_id=working.client_order_id,
            symbol=self._symbol,
            side=working.side,
            type=working.order_type,
            amount=working.amount,
            price=working.price,
            state=OrderState.CANCELED,
        )
        return [
            Observed(
                event=OrderCanceled(at=self._market(), client_order_id=working.client_order_id),
                order=row,
            )
        ]

    def _observe(self, working: WorkingOrder, remote: Order) -> list[Observed]:
        state = self._decided()
        if remote.state is OrderState.CANCELED and working.status is not WorkingStatus.CANCELING:
            self._host.warn(
                "canceled_outside",
                f"order {working.client_order_id} ({working.role.value} {working.side.value} "
                f"{shown(working.amount)} at {working.price or 'market'}) was canceled on the "
                "exchange, not by this strategy",
            )
        fills: list[Fill] = []
        if needs_fills(working, remote):
            since = remote.created_at
            fills = [
                f
                for f in self._exchange.fetch_fills(self._symbol, since=since)
                if f.client_order_id == working.client_order_id
            ]
            seen = sum(
                (f.amount for f in fills if f.trade_id not in state.applied_trades), Decimal(0)
            )
            if working.filled + seen < remote.filled:
                fills = [
                    f
                    for f in self._exchange.fetch_fills(self._symbol)
                    if f.client_order_id == working.client_order_id
                ]
                seen = sum(
                    (f.amount for f in fills if f.trade_id not in state.applied_trades), Decimal(0)
                )
                if working.filled + seen < remote.filled:
                    raise FillsNotVisible(
                        f"order {working.client_order_id}: exchange reports {remote.filled} filled "
                        f"but lists trades for {working.filled + seen}"
                    )
        return observe(working, remote, fills, frozenset(state.applied_trades), at=self._market())

    def _adopt_strangers(self) -> None:
        """Cancel open exchange orders carrying our strategy's ids that the machine does not track.

        They can only be leftovers (e.g. a cancel lost before a crash); left alone they would
        fill into a position nobody manages. Only ids with this database's deployment tag are
        ours: another deployment on the same account (a second service, a restored copy) may
        number its strategies like us, and its orders are never touched.
        """
        state = self._require_state()
        tracked = {o.client_order_id for o in state.orders}
        for remote in self._exchange.fetch_open_orders(self._symbol):
            coid = remote.client_order_id
            parsed = parse_client_order_id(coid)
            if (
                parsed is None
                or parsed[0] != self.strategy_id
                or client_order_id_tag(coid) != state.order_tag
                or coid in tracked
            ):
                continue
            self._host.guard()  # a replaced instance must not cancel its successor's orders
            self._host.report("orphan_canceled", remote.client_order_id)
            try:
                self._exchange.cancel_order(self._symbol, client_order_id=remote.client_order_id)
            except OrderNotFound:
                continue

    def _rejected_row(self, coid: str, c: PlaceOrder) -> Order:
        return Order(
            client_order_id=coid,
            symbol=c.symbol,
            side=c.side,
            type=c.order_type,
            amount=c.amount,
            price=c.price,
            state=OrderState.REJECTED,
        )

    # --- shared by the engine's parts ------------------------------------------------------

    def _require_state(self) -> MartingaleState:
        if self.state is None:
            raise RuntimeError(f"engine {self.strategy_id} used before start()")
        return self.state
