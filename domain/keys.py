"""What an exchange says an API key may do, and the warnings a user should see about it.

A key that can withdraw turns a leaked key (a log, a backup, a stolen database and master key)
into lost funds; a key with no IP restriction can be used from anywhere; a key that cannot trade
cannot run a strategy at all. Venues that tell (binance's apiRestrictions) fill in a `KeyReport`;
a field is None where the venue does not say, and an unknown value raises no warning.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class KeyWarningLevel(enum.StrEnum):
    DANGER = "danger"  # shown in red: funds are at risk, or the key cannot do its job
    WARNING = "warning"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyWarning:
    level: KeyWarningLevel
    message: str


WITHDRAWALS_ENABLED = (
    "withdrawals are enabled on this API key: anyone who obtains it can move funds off the "
    "exchange; disable withdrawals for the key on the exchange (the service never withdraws)"
)
TRADING_DISABLED = (
    "spot trading is not enabled on this API key: the service cannot place orders with it; "
    "enable spot trading for the key on the exchange"
)
NO_IP_RESTRICTION = (
    "this API key is not restricted to trusted IP addresses: it works from anywhere; restrict "
    "it to the service's IP addresses on the exchange"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyReport:
    can_trade: bool | None
    can_withdraw: bool | None
    ip_restricted: bool | None
    warnings: tuple[KeyWarning, ...] = ()

    @classmethod
    def from_permissions(
        cls, *, can_trade: bool | None, can_withdraw: bool | None, ip_restricted: bool | None
    ) -> KeyReport:
        """The report with its warnings, dangers first."""
        warnings = []
        if can_withdraw is True:
            warnings.append(KeyWarning(level=KeyWarningLevel.DANGER, message=WITHDRAWALS_ENABLED))
        if can_trade is False:
            warnings.append(KeyWarning(level=KeyWarningLevel.DANGER, message=TRADING_DISABLED))
        if ip_restricted is False:
            warnings.append(KeyWarning(level=KeyWarningLevel.WARNING, message=NO_IP_RESTRICTION))
        return cls(
            can_trade=can_trade,
            can_withdraw=can_withdraw,
            ip_restricted=ip_restricted,
            warnings=tuple(warnings),
        )
