"""Opening a paper account on the running service's venue, for an account created through the
API (`services.accounts.create_account` calls it before it commits the account's row).

The venue's `open_account` keeps an existing account's balances (a restart must not reset a
running account). Here the caller has just checked, in the transaction that writes the row,
that no row names this account, so a venue account already under the key is one nothing
trades: left by an earlier attempt whose row did not commit (or by an older database on the
same venue file). It is taken over and given exactly the balances asked for now, so a retry
with other balances gets what it asked for. One that has open orders is refused instead
(field "name"): those orders hold funds, and they belong to no strategy of this database.

PaperVenue is safe to call from any thread (one re-entrant lock guards its state; engines call
it from theirs): this runs on the web's thread while the engines trade. On a venue served by
another process (`RemoteVenue`) the same steps go over HTTP; a deposit whose answer was lost is
not repeated blindly: a retry of the whole reads the balances again first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from domain.errors import AuthenticationFailed, ValidationError
from domain.money import ZERO
from exchange.paper.exchange import HostedVenue


def open_paper_account(
    venue: HostedVenue, key: str, balances: Mapping[str, Decimal], fee_rate: Decimal
) -> None:
    """Open `key` on `venue` holding exactly `balances` (other assets at zero) at `fee_rate`.

    Idempotent: a second call with the same values changes nothing. Not atomic as a whole (the
    venue account may exist with other balances if this fails half-way), but every step is
    repeatable and nothing trades the account until its row commits, so a retry completes it.
    """
    wanted = {asset.upper(): amount for asset, amount in balances.items()}
    try:
        resting = venue.open_orders(key, None)
    except AuthenticationFailed:  # the venue has no such account yet
        resting = []
    if resting:
        raise ValidationError(
            f"the paper exchange already holds an account {key!r} with {len(resting)} open "
            "order(s) from an earlier database; choose another account name",
            field="name",
        )
    venue.open_account(key, balances=wanted, fee_rate=fee_rate)
    held = venue.balances(key)
    for asset in sorted(set(held) | set(wanted)):
        have = held[asset].free if asset in held else ZERO
        change = wanted.get(asset, ZERO) - have
        if change:
            venue.deposit(key, asset, change)
