"""Templates and the filters that format money, times and ages for people.

Money stays Decimal until a template shows it: `num` rounds half-even to a number of places
for display only (never for a computation) and drops trailing zeros; `signed` adds the sign a
profit column needs. Jinja2 escapes every value (autoescape), so a strategy named
`<script>` shows as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from domain.money import fmt

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def num(value: Decimal | int | None, places: int = 8) -> str:
    if value is None:
        return "—"
    try:
        shown = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:  # too many digits for the context: show it whole
        shown = Decimal(value)
    text = fmt(shown)
    return "0" if text in ("-0", "") else text


def signed(value: Decimal | None, places: int = 8) -> str:
    if value is None:
        return "—"
    text = num(value, places)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def tone(value: Decimal | None) -> str:
    """A CSS class for a profit: gain, loss or nothing."""
    if value is None or value == 0:
        return ""
    return "gain" if value > 0 else "loss"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s"


def age(seconds: int | None) -> str:
    return "never" if seconds is None else span(timedelta(seconds=seconds)) + " ago"


templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.filters.update(num=num, signed=signed, tone=tone, when=when, span=span, age=age)
templates.env.globals["ZERO"] = Decimal(0)


def page(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response
