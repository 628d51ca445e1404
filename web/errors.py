"""Every error the API returns is JSON with a message; invalid input is 422 naming the field.

The mapping is by error class (domain.errors encodes the policy), so a new use case needs no
new handler. Anything unexpected is a 500 with a generic message: its text (which might quote
input) goes to the log through the redacting logger, never to the client.

The dashboard's pages get the same statuses and messages as HTML (`install(app, pages=...)`):
the hook answers for the paths it owns and returns None for the API's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import AuthenticationFailed as KeyRefused
from domain.errors import (
    ConfigurationError,
    CredentialError,
    DatabaseUnavailable,
    MartingaleError,
    TemporaryError,
)
from persistence.errors import NotFound
from services.accounts import MasterKeyProblem
from services.auth import AuthenticationFailed, Forbidden, LoginThrottled

log = structlog.get_logger(__name__)

NOT_FOUND = "not found"

# (request, status, message, headers) -> an HTML answer, or None for a path that is the API's.
PageErrors = Callable[[Request, int, str, dict[str, str] | None], Response | None]


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    return {"message": message, **extra}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    """pydantic's location ("body", "params", "base_order") as a dotted field name; the
    leading "body"/"query"/"path" says where it was and is kept."""
    return ".".join(str(part) for part in loc)


# What an error answers: HTTP status, JSON body, headers.
Answer = tuple[int, dict[str, Any], dict[str, str] | None]


def _validation(exc: RequestValidationError) -> Answer:
    errors = [
        {"field": _field_of(error.get("loc", ())), "message": str(error.get("msg", "invalid"))}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid input"}
    return 422, error_body(f"{first['field']}: {first['message']}", errors=errors), None


def _http(exc: StarletteHTTPException) -> Answer:
    message = exc.detail if isinstance(exc.detail, str) else "error"
    return exc.status_code, error_body(message), getattr(exc, "headers", None)


def describe(exc: Exception) -> Answer:
    """The HTTP status, JSON body and headers of a service error."""
    if isinstance(exc, NotFound):
        return 404, error_body(NOT_FOUND), None
    if isinstance(exc, LoginThrottled):
        retry = str(max(1, int(exc.retry_after_s)))
        return 429, error_body("too many failed logins; try again later"), {"Retry-After": retry}
    if isinstance(exc, AuthenticationFailed):
        return 401, error_body(str(exc)), {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, Forbidden):
        return 403, error_body(str(exc)), None
    if isinstance(exc, ConfigurationError):  # ValidationError included: bad input
        field = exc.field or ""
        return 422, error_body(str(exc), errors=[{"field": field, "message": str(exc)}]), None
    if isinstance(exc, MasterKeyProblem):
        return 503, error_body(str(exc)), None
    if isinstance(exc, CredentialError):
        return 409, error_body(str(exc)), None
    if isinstance(exc, KeyRefused):  # the exchange refused the account's key
        return 409, error_body(str(exc)), None
    if isinstance(exc, DatabaseUnavailable):
        return 503, error_body("the database is unavailable; try again"), {"Retry-After": "5"}
    if isinstance(exc, TemporaryError):
        return 503, error_body(str(exc)), {"Retry-After": "5"}
    return 400, error_body(str(exc)), None


def _unexpected(exc: Exception) -> Answer:
    log.error("unexpected API error", error_type=type(exc).__name__, error=str(exc))
    return 500, error_body("internal error"), None


# Headers a page keeps from its error's answer (the others are the API's, e.g. Bearer auth).
_KEPT = frozenset({"retry-after"})


def install(app: FastAPI, *, pages: PageErrors | None = None) -> None:
    def handler(answer: Callable[[Any], Answer]) -> Callable[[Request, Any], Any]:
        async def handle(request: Request, exc: Any) -> Response:
            status, body, headers = answer(exc)
            if pages is not None:
                kept = {k: v for k, v in (headers or {}).items() if k.lower() in _KEPT}
                page = pages(request, status, str(body["message"]), kept)
                if page is not None:
                    return page
            return JSONResponse(status_code=status, content=body, headers=headers)

        return handle

    answers: list[tuple[Any, Callable[[Any], Answer]]] = [
        (RequestValidationError, _validation),
        (StarletteHTTPException, _http),
        (MartingaleError, describe),
        (Exception, _unexpected),
    ]
    for kind, answer in answers:
        app.add_exception_handler(kind, handler(answer))
