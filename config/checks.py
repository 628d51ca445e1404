"""Checks that span entries: unique names, references, and whether a strategy can trade at all.

Per-field types and ranges are the schema's job; these checks need the whole file. Each problem
carries the exact path of the offending value so the loader can point at its line. Nothing here
touches the outside world: a config that passes is safe to apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path as FsPath

from config.schema import (
    CsvMarket,
    PaperAccount,
    ServiceConfig,
    SimulatedMarket,
    UserConfig,
)
from config.strategy_schema import StrategyConfig
from domain.errors import ValidationError
from domain.market import split_symbol
from domain.money import fmt
from strategy.ladder import build_plan, stop_loss_reserve, validate_plan
from strategy.options import Direction
from strategy.params import MartingaleParams

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    message: str


LADDER_OUT_OF_RANGE = (
    "the ladder cannot be computed with these values: its prices or amounts leave the range "
    "of exact decimal arithmetic (28 digits); use sizes, prices and steps of realistic scale"
)


def check_config(config: ServiceConfig) -> list[Problem]:
    """Every cross-entry problem in `config`, in file order; empty when it is fine."""
    problems = list(_check_markets(config))
    problems += _check_unique(
        [u.name for u in config.users], lambda i: ("users", i, "name"), "user"
    )
    for i, user in enumerate(config.users):
        problems += _check_user(config, user, ("users", i))
    return problems


def _check_markets(config: ServiceConfig) -> Iterator[Problem]:
    for symbol in config.markets:
        try:
            base, quote = split_symbol(symbol)
        except ValueError as exc:
            yield Problem(("markets", symbol), str(exc))
            continue
        if symbol != f"{base}/{quote}":
            yield Problem(("markets", symbol), f"write the symbol as {base}/{quote} (upper case)")
        market = config.markets[symbol]
        if isinstance(market, CsvMarket):
            reason = csv_problem(market.path)
            if reason is not None:
                yield Problem(("markets", symbol, "path"), reason)


def _check_unique(names: list[str], path_of: Callable[[int], Path], what: str) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for i, name in enumerate(names):
        if name in first:
            problems.append(
                Problem(
                    path_of(i),
                    f"duplicate {what} name {name!r} (first used at index {first[name]})",
                )
            )
        else:
            first[name] = i
    return problems


def _check_user(config: ServiceConfig, user: UserConfig, at: Path) -> list[Problem]:
    problems = _check_unique(
        [a.name for a in user.accounts], lambda i: (*at, "accounts", i, "name"), "account"
    )
    problems += _check_unique(
        [s.name for s in user.strategies], lambda i: (*at, "strategies", i, "name"), "strategy"
    )
    problems += _check_unique(
        [n.name for n in user.notifications],
        lambda i: (*at, "notifications", i, "name"),
        "notification target",
    )
    referenced = []
    for j, strategy in enumerate(user.strategies):
        found = _check_strategy(config, user, strategy, (*at, "strategies", j))
        problems += found
        if not found:
            referenced.append(j)
    return problems + _check_plans(config, user, at, referenced)


def _check_plans(
    config: ServiceConfig, user: UserConfig, at: Path, indexes: list[int]
) -> list[Problem]:
    """Parameters, then each paper ladder against its market rules and account balance (and a
    short's stop-loss buy-back against its quote balance), then the funds all live strategies
    of one paper account can commit together, per currency."""
    problems: list[Problem] = []
    committed: dict[tuple[int, str], list[tuple[str, Decimal]]] = {}
    for j in indexes:
        strategy = user.strategies[j]
        here = (*at, "strategies", j)
        try:
            params = MartingaleParams.from_mapping(strategy.parameters())
        except ValidationError as exc:
            problems.append(_from_validation(exc, here))
            continue
        account = user.account(strategy.account)
        price = reference_price(config, strategy.symbol)
        if not isinstance(account, PaperAccount) or price is None:
            continue  # a live venue's rules and balance are known only once connected
        index = user.accounts.index(account)
        quote = funds_currency(params, strategy.symbol)  # base for a short: it sells first
        balance = account.balances.get(quote, Decimal(0))
        short = params.direction is Direction.SHORT
        quote_currency = split_symbol(strategy.symbol)[1]
        # A short's stop loss buys back above its sells' average: the account's quote pays
        # the difference (`strategy.ladder.stop_loss_reserve`).
        quote_balance = account.balances.get(quote_currency, Decimal(0)) if short else None
        rules = config.markets[strategy.symbol].rules(strategy.symbol)
        try:
            plan = build_plan(params, price, rules)
            validate_plan(
                plan, rules, balance=balance, quote_balance=quote_balance, fee_rate=account.fee_rate
            )
        except ArithmeticError:  # in bounds one by one, but the ladder leaves 28-digit math
            problems.append(Problem(here, LADDER_OUT_OF_RANGE))
            continue
        except ValidationError as exc:
            if exc.field == "balance":
                path: Path = (*at, "accounts", index, "balances", quote)
                problems.append(
                    Problem(
                        path,
                        f"strategy {strategy.name!r} needs up to {fmt(plan.required_funds)} "
                        f"{quote} "
                        f"but account {account.name!r} has {fmt(balance)} {quote}",
                    )
                )
            else:
                problem = _from_validation(exc, here)
                start = f" (start price {fmt(price)} of {strategy.symbol})"
                problems.append(Problem(problem.path, problem.message + start))
            continue
        if strategy.desired_state != "stopped":
            committed.setdefault((index, quote), []).append((strategy.name, plan.required_funds))
            reserve = stop_loss_reserve(plan, account.fee_rate)
            if reserve is not None:  # a short's stop-loss buy-back holds quote too
                shares = committed.setdefault((index, quote_currency), [])
                shares.append((strategy.name, reserve.keep))
    for (index, quote), shares in committed.items():
        account = user.accounts[index]
        assert isinstance(account, PaperAccount)
        total = sum((amount for _, amount in shares), start=Decimal(0))
        balance = account.balances.get(quote, Decimal(0))
        if len(shares) > 1 and total > balance:
            each = ", ".join(f"{name} {fmt(amount)}" for name, amount in shares)
            problems.append(
                Problem(
                    (*at, "accounts", index, "balances", quote),
                    f"the strategies on account {account.name!r} can commit up to {fmt(total)} "
                    f"{quote} together ({each}) but the balance is {fmt(balance)} {quote}; "
                    "raise the balance or stop a strategy (enabled: false)",
                )
            )
    return problems


def funds_currency(params: MartingaleParams, symbol: str) -> str:
    """The currency a strategy's ladder commits: quote for a long (it buys), base for a short
    (it sells base it holds, about the sum of its quote sizes / level prices)."""
    base, quote = split_symbol(symbol)
    return base if params.direction is Direction.SHORT else quote


def _from_validation(exc: ValidationError, here: Path) -> Problem:
    field = exc.field
    message = str(exc)
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    return Problem((*here, *_field_path(field)) if field else here, message)


def _field_path(field: str) -> Path:
    """``take_profit_steps[1].percent`` -> ("take_profit_steps", 1, "percent")."""
    out: list[str | int] = []
    for part in field.split("."):
        name, _, rest = part.partition("[")
        out.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            out.append(int(index) if index.isdigit() else index)
            rest = rest.removeprefix("[")
    return tuple(out)


def _check_strategy(
    config: ServiceConfig, user: UserConfig, strategy: StrategyConfig, here: Path
) -> list[Problem]:
    account = user.account(strategy.account)
    if account is None:
        known = ", ".join(repr(a.name) for a in user.accounts) or "none"
        message = f"unknown account {strategy.account!r}; this user's accounts: {known}"
        return [Problem((*here, "account"), message)]
    try:
        split_symbol(strategy.symbol)
    except ValueError as exc:
        return [Problem((*here, "symbol"), str(exc))]
    if isinstance(account, PaperAccount) and strategy.symbol not in config.markets:
        known = ", ".join(sorted(config.markets)) or "none"
        message = (
            f"unknown market {strategy.symbol!r} for paper account {account.name!r}; "
            f"markets in this file: {known}"
        )
        return [Problem((*here, "symbol"), message)]
    return []


def reference_price(config: ServiceConfig, symbol: str) -> Decimal | None:
    """The price a paper market starts at, for checking a ladder before anything runs."""
    market = config.markets.get(symbol)
    if isinstance(market, SimulatedMarket):
        return market.price
    if isinstance(market, CsvMarket) and csv_problem(market.path) is None:
        return first_csv_open(market.path)
    return None


CSV_COLUMNS = ("timestamp", "open", "high", "low", "close")


def csv_problem(path: FsPath) -> str | None:
    """Why `path` is not a candle file we can replay, judged from its first two lines."""
    try:
        with path.open(encoding="utf-8") as handle:
            header = handle.readline().strip().split(",")
            row = handle.readline().strip().split(",")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read the candle file: {exc.__class__.__name__}"
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        expected = ",".join((*CSV_COLUMNS, "volume"))
        return f"the candle file lacks the column(s) {', '.join(missing)}; expected {expected}"
    if len(row) != len(header):
        return "the candle file has no candles (or a malformed first row)"
    try:
        price = Decimal(row[header.index("open")])
    except ArithmeticError:
        return "the first candle's open is not a number"
    if not price.is_finite() or price <= 0:
        return "the first candle's open must be a positive number"
    return None


def first_csv_open(path: FsPath) -> Decimal:
    """The first candle's open: cheap (reads two lines) and exact. Call after `csv_problem`."""
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        row = handle.readline().strip().split(",")
    return Decimal(row[header.index("open")])
