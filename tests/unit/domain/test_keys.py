"""Which permissions of an API key raise which warning, and the paper exchange's report."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from domain.keys import (
    NO_IP_RESTRICTION,
    TRADING_DISABLED,
    WITHDRAWALS_ENABLED,
    KeyReport,
    KeyWarningLevel,
)
from exchange.paper import PaperExchange, PaperVenue

FLAGS = (True, False, None)


@pytest.mark.parametrize(
    ("can_trade", "can_withdraw", "ip_restricted"), list(itertools.product(FLAGS, FLAGS, FLAGS))
)
def test_each_risky_permission_and_only_a_known_one_is_warned_about(
    can_trade: bool | None, can_withdraw: bool | None, ip_restricted: bool | None
) -> None:
    report = KeyReport.from_permissions(
        can_trade=can_trade, can_withdraw=can_withdraw, ip_restricted=ip_restricted
    )

    expected = []
    if can_withdraw is True:
        expected.append((KeyWarningLevel.DANGER, WITHDRAWALS_ENABLED))
    if can_trade is False:
        expected.append((KeyWarningLevel.DANGER, TRADING_DISABLED))
    if ip_restricted is False:
        expected.append((KeyWarningLevel.WARNING, NO_IP_RESTRICTION))
    assert [(w.level, w.message) for w in report.warnings] == expected
    assert (report.can_trade, report.can_withdraw, report.ip_restricted) == (
        can_trade,
        can_withdraw,
        ip_restricted,
    )


def test_warning_levels_are_the_words_the_web_shows() -> None:
    assert [level.value for level in KeyWarningLevel] == ["danger", "warning"]


def test_a_paper_account_trades_never_withdraws_and_warns_of_nothing(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "paper.sqlite")
    try:
        report = PaperExchange(venue, "alice/main").key_report()
    finally:
        venue.close()

    assert report == KeyReport(can_trade=True, can_withdraw=False, ip_restricted=None)
