"""Logging for the whole process: structlog on top of stdlib, one output path, secrets redacted.

Why one path: our structlog events and stdlib records from libraries (ccxt, SQLAlchemy, uvicorn)
all end in the same handler and go through the same `ProcessorFormatter` chain, so the
redaction step cannot be bypassed by a library that logs on its own. Exceptions are rendered to
text *before* redaction, so a secret inside an exception message is masked too.

Redaction, applied recursively to every event dict:

- values under keys that name a credential (api_key, secret, password, passphrase, token,
  master_key, authorization, signature, ...) become ``***``;
- values registered with `register_secret` (every credential `config.secrets` reads, and every
  key the vault decrypts: the registry is `domain.secrets`) are masked wherever they appear
  inside any string, including rendered exceptions and reprs;
- ``key=value`` / ``"key": "value"`` pairs with such keys inside strings (exchange auth headers
  such as OK-ACCESS-*, CB-ACCESS-*, API-Sign and a ``Signature=`` query parameter included, in
  any letter case), and the password of a ``scheme://user:password@host`` URL, are masked even
  when nobody registered the value.

ccxt logs every request and response at DEBUG with its headers (API key, signature) and body;
those records are dropped whatever the configured level, as is any ccxt record below INFO.

Context (user, strategy, cycle, order) is bound with `bound_context` / `bind_context`, which
use contextvars, so each actor thread carries its own.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor

from config.masking import SecretMasker
from domain.secrets import (
    MASK,
    MIN_SECRET_LENGTH,
    Secret,
    register_secret,
    registered_secrets,
    secrets_generation,
)

__all__ = [
    "MIN_SECRET_LENGTH",
    "bind_context",
    "bound_context",
    "clear_context",
    "configure_logging",
    "get_logger",
    "redact_text",
    "redact_value",
    "register_secret",
]

LogFormat = Literal["auto", "console", "json"]

_SENSITIVE_WORDS = (
    "apikey",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "masterkey",
    "authorization",
    "signature",
    "privatekey",
    "credential",
    "cookie",
    "apisign",  # Kraken's API-Sign, KuCoin's KC-API-SIGN, Bybit's X-BAPI-SIGN
    "okaccess",  # OKX: OK-ACCESS-KEY, -SIGN, -PASSPHRASE, -TIMESTAMP
    "cbaccess",  # Coinbase: CB-ACCESS-KEY, -SIGN, -PASSPHRASE, -TIMESTAMP
    "accesskey",
    "accesssign",
)
_SENSITIVE_IN_TEXT = re.compile(
    r"""(?ix)
    (["']?\b[\w-]*(?:api[_-]?key|api[_-]?sign|secret|password|passwd|passphrase|token
        |signature|authorization|private[_-]?key|(?:ok|cb)-access-|access[_-]?(?:key|sign))
        [\w-]*["']?\s*[:=]\s*)                                    # key and separator
    (["']?)                                                      # optional opening quote
    ((?:bearer\s+|basic\s+)?[^\s"'&,;}\]]+)                      # the value
    """
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)([^@\s/]+)(@)", re.IGNORECASE)

_LEADING_KEYS = ("timestamp", "level", "logger", "event")

_HANDLER_MARK = "_martingale_handler"
# Loggers whose records below INFO never reach the output: ccxt's DEBUG lines are request and
# response dumps with their headers (API keys, signatures) and bodies.
_QUIET_BELOW_INFO = ("ccxt",)

_masker_lock = threading.Lock()
_masker: tuple[int, SecretMasker | None] = (0, None)  # (registry generation, its masker)


def _current_masker() -> SecretMasker | None:
    """The masker of the registered secrets, rebuilt once after any batch of registrations."""
    global _masker  # noqa: PLW0603 (one process-wide cache, replaced as a whole)
    generation, masker = _masker
    if generation == secrets_generation():
        return masker
    with _masker_lock:
        generation, values = registered_secrets()
        if _masker[0] != generation:
            _masker = (generation, SecretMasker(values) if values else None)
        return _masker[1]


def is_sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    normalized = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(word in normalized for word in _SENSITIVE_WORDS)


def redact_text(text: str) -> str:
    """`text` with registered secrets, credential-looking pairs and URL passwords masked."""
    masker = _current_masker()
    if masker is not None:
        text = masker.mask(text, MASK)
    text = _SENSITIVE_IN_TEXT.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}{MASK}{m[3]}", text)


def redact_value(value: Any, depth: int = 0) -> Any:
    """A JSON-friendly copy of `value` with secrets masked; unknown objects become masked text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Secret):
        return MASK
    if depth > 8:
        return redact_text(repr(value))
    if isinstance(value, Mapping):
        return {
            str(k): MASK if is_sensitive_key(k) else redact_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return redact_value(value.value, depth + 1)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return redact_text(repr(value))


def redact_event(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every key and value of the event."""
    cleaned: MutableMapping[str, Any] = {}
    # Fixed keys first, so JSON lines read naturally: when, how bad, who, what, then the rest.
    for key in (*_LEADING_KEYS, *event_dict):
        if key in event_dict and key not in cleaned:
            value = event_dict[key]
            cleaned[key] = MASK if is_sensitive_key(key) else redact_value(value)
    return dict(cleaned)


def _drop_quiet_library_debug(record: logging.LogRecord) -> bool:
    if record.levelno >= logging.INFO:
        return True
    return not any(
        record.name == name or record.name.startswith(f"{name}.") for name in _QUIET_BELOW_INFO
    )


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _resolve_format(fmt: LogFormat, stream: TextIO) -> Literal["console", "json"]:
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "console" if callable(isatty) and isatty() else "json"


def configure_logging(
    *, format: LogFormat = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Set up structlog and the stdlib root logger; safe to call again (replaces the setup).

    ``auto`` renders for humans on a terminal and JSON lines otherwise. uvicorn must be started
    with ``log_config=None`` so its records reach this handler instead of its own.
    """
    out = stream if stream is not None else sys.stderr
    chosen = _resolve_format(format, out)
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"logging.level: unknown level {level!r}")
    renderer: Processor
    if chosen == "console":
        renderer = structlog.dev.ConsoleRenderer(
            colors=bool(getattr(out, "isatty", lambda: False)()),
            exception_formatter=structlog.dev.plain_traceback,
        )
    else:
        renderer = structlog.processors.JSONRenderer(sort_keys=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_drop_quiet_library_debug)
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _QUIET_BELOW_INFO:  # not even formatted; the handler's filter is the guarantee
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    logging.captureWarnings(True)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a reconfiguration (tests, a changed level) must reach existing loggers.
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; `initial` values are bound to every line it writes."""
    return structlog.stdlib.get_logger(name).bind(**initial)


def bind_context(**values: Any) -> None:
    """Bind user/strategy/cycle/order (or anything) to every later line of this context."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()


@contextmanager
def bound_context(**values: Any) -> Iterator[None]:
    """Bind values for the duration of a block, restoring the previous context afterwards."""
    with structlog.contextvars.bound_contextvars(**values):
        yield
