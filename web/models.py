"""Shared pieces of the API's JSON models: strict input, decimal strings for money."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path, Response
from pydantic import BaseModel, ConfigDict, TypeAdapter

from domain.money import fmt

# Row ids are 32-bit integers in both databases: a larger one is a 422, never a driver error.
Id = Annotated[int, Path(ge=1, le=2_147_483_647)]


class Input(BaseModel):
    """A request body: unknown fields are refused (422 naming them), never ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


def money(value: Decimal | None) -> str | None:
    """Every number that is money goes out as a decimal string, never a float."""
    return None if value is None else fmt(value)


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def page_json(items: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


class Json(Response):
    """An answer already serialized by the endpoint, in the thread it ran in.

    FastAPI validates and serializes a plain-def endpoint's return value against its
    `response_model` in another trip through the thread pool; the busiest reads return this
    instead (their `response_model` still documents them). `adapter` checks the value's shape
    as it serializes it."""

    media_type = "application/json"

    def __init__(self, adapter: TypeAdapter[Any], value: Any, status_code: int = 200) -> None:
        super().__init__(adapter.dump_json(value), status_code=status_code)
