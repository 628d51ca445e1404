"""Changes to the set of working orders, each paired with the command that causes it.

Placing an order and recording it happen in one step, so the state can never hold an order the
engine was not told to place, nor the other way round.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from domain.commands import Command, PlaceOrder
from domain.ids import client_order_id
from domain.orders import OrderType, Side
from strategy.state import MartingaleState, Role, WorkingOrder

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

Commands = list[Command]


def place(
    s: MartingaleState,
    cmds: Commands,
    *,
    role: Role,
    leg: str,
    side: Side,
    type_: OrderType,
    amount: Decimal,
    price: Decimal | None,
    cost: Decimal | None = None,
) -> MartingaleState:
    coid = client_order_id(s.strategy_id, s.cycle, leg, tag=s.order_tag)
    cmds.append(
        PlaceOrder(
            client_order_id=coid,
            symbol=s.symbol,
            side=side,
            order_type=type_,
            amount=amount,
            price=price,
            cycle=s.cycle,
            leg=leg,
            cost=cost,
        )
    )
    order = WorkingOrder(
        client_order_id=coid,
        role=role,
        leg=leg,
        side=side,
        order_type=type_,
        amount=amount,
        price=price,
        quote=cost,
    )
    return replace(s, orders=(*s.orders, order))


def put_order(s: MartingaleState, order: WorkingOrder) -> MartingaleState:
    orders = tuple(order if o.client_order_id == order.client_order_id else o for o in s.orders)
    return replace(s, orders=orders)


def drop_order(s: MartingaleState, order: WorkingOrder) -> MartingaleState:
    orders = tuple(o for o in s.orders if o.client_order_id != order.client_order_id)
    return replace(s, orders=orders)
