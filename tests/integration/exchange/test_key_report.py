"""The API key report through the real ccxt.binance client against the loopback fake binance:
what binance's apiRestrictions says becomes a `KeyReport` with its warnings, and its errors
come out as domain errors like every other call's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import AuthenticationFailed, ExchangeUnavailable
from domain.keys import KeyReport, KeyWarningLevel
from exchange.ccxt_adapter import CcxtExchange
from tests.integration.exchange.conftest import API_KEY, API_SECRET
from tests.integration.exchange.fake_binance import API_RESTRICTIONS, FakeBinance, Fault

Make = Callable[..., CcxtExchange]
DANGER, WARNING = KeyWarningLevel.DANGER, KeyWarningLevel.WARNING


def levels(report: KeyReport | None) -> list[tuple[KeyWarningLevel, str]]:
    assert report is not None
    return [(w.level, w.message.split(" ")[0]) for w in report.warnings]


def test_a_trade_only_ip_restricted_key_has_no_warnings(make_adapter: Make, fake: FakeBinance):
    report = make_adapter().key_report()

    assert report == KeyReport(can_trade=True, can_withdraw=False, ip_restricted=True)
    assert fake.count("GET", API_RESTRICTIONS) == 1


def test_withdrawals_and_no_ip_restriction_are_warned_about(make_adapter: Make, fake: FakeBinance):
    fake.api_restrictions.update(enableWithdrawals=True, ipRestrict=False)

    report = make_adapter().key_report()

    assert report is not None
    assert (report.can_withdraw, report.ip_restricted, report.can_trade) == (True, False, True)
    assert levels(report) == [(DANGER, "withdrawals"), (WARNING, "this")]
    assert "IP" in report.warnings[1].message


def test_a_key_that_cannot_trade_is_a_danger(make_adapter: Make, fake: FakeBinance):
    fake.api_restrictions["enableSpotAndMarginTrading"] = False

    report = make_adapter().key_report()

    assert report is not None and report.can_trade is False
    assert levels(report) == [(DANGER, "spot")]


def test_a_flag_the_venue_leaves_out_is_unknown(make_adapter: Make, fake: FakeBinance):
    del fake.api_restrictions["ipRestrict"]

    report = make_adapter().key_report()

    assert report is not None and report.ip_restricted is None
    assert report.warnings == ()  # unknown is not a warning


def test_an_unreadable_answer_is_the_venues_problem(make_adapter: Make, fake: FakeBinance):
    fake.api_restrictions["enableWithdrawals"] = "maybe"

    with pytest.raises(ExchangeUnavailable, match="key_report"):
        make_adapter().key_report()


def test_a_refused_key_is_authentication_failed_without_the_secret(
    make_adapter: Make, fake: FakeBinance
):
    fake.revoke_key()

    with pytest.raises(AuthenticationFailed) as caught:
        make_adapter().key_report()

    assert API_KEY not in str(caught.value) and API_SECRET not in str(caught.value)


def test_an_outage_is_retried_like_any_read(make_adapter: Make, fake: FakeBinance):
    fake.inject(Fault.http("GET", API_RESTRICTIONS, 503, "<html>busy</html>"))

    report = make_adapter().key_report()

    assert report is not None and report.can_trade is True
    assert fake.count("GET", API_RESTRICTIONS) == 2


def test_the_testnet_and_other_venues_do_not_tell(make_adapter: Make, fake: FakeBinance):
    # binance's testnet has no sapi section: asking would be a configuration error, not news
    # about the key; other venues have no such endpoint listed here.
    assert make_adapter(sandbox=True, base_url=None).key_report() is None
    assert make_adapter(exchange_id="binanceus").key_report() is None
    assert make_adapter(api_key=None, secret=None).key_report() is None
    assert fake.count("GET", API_RESTRICTIONS) == 0
