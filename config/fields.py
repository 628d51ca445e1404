"""Field types shared by the config schema: exact decimals, names, and file paths.

Decimals refuse floats (already inexact) and non-finite values. Paths written in the config
file are relative to the file's directory (the loader passes it as validation context ``base_dir``).
Validators of credential-related fields never echo the value: a secret pasted into the wrong
key must not end up in an error message.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from config.numbers import number_problem, shown, text_problem

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EMAIL_MAX = 254  # the users.email column (RFC 5321 path limit)


def _exact_decimal(value: Any) -> Decimal:
    """Accept Decimal, int or a numeric string; refuse floats, which are already inexact, and
    numbers no setting needs (`config.numbers`: too many digits, too large an exponent)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"expected a decimal number, got {type(value).__name__}")
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        raise ValueError(f"{shown(value)} {problem}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except ArithmeticError:
        raise ValueError(f"{shown(value)} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{shown(value)} is not a finite number")
    if (problem := number_problem(result)) is not None:
        raise ValueError(f"{shown(value)} {problem}")
    return result


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {value}")
    return value


def _non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")
    return value


def _fraction(value: Decimal) -> Decimal:
    if not 0 <= value < 1:
        raise ValueError(f"must be a fraction in [0, 1) such as 0.001 for 0.1%, got {value}")
    return value


NAME_RULE = "use 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"


def is_name(value: str) -> bool:
    """The rule of every name (users, accounts, strategies), for the API's inputs as well."""
    return _NAME.fullmatch(value) is not None


def name_problem(value: str) -> str | None:
    """Why `value` is not a valid name (of a user, account or strategy), or None; shared with
    the services, so a name the API accepts is one a config file could hold."""
    return None if is_name(value) else f"{value!r} is not a valid name: {NAME_RULE}"


def email_problem(value: str) -> str | None:
    """Why `value` is not an email address, or None (a sanity check, not RFC 5322)."""
    if _EMAIL.fullmatch(value) is None or len(value) > EMAIL_MAX:
        return f"{value!r} is not an email address"
    return None


def _name(value: str) -> str:
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _env_name(value: str) -> str:
    # Never echo the value: a secret pasted here by mistake must not reach an error message.
    # Requiring the conventional upper-case form also catches most pasted keys.
    if not _ENV_NAME.match(value):
        raise ValueError(
            "must be the NAME of an environment variable (upper case letters, digits and '_', "
            "e.g. BINANCE_API_KEY), not the secret itself"
        )
    return value


def _whole_number(value: Any) -> Any:
    # YAML's `yes`/`true` would otherwise be the integer 1 (pydantic's lax mode): a port, a
    # day count or a number of safety orders set to 1 by a typo.
    if isinstance(value, bool):
        raise ValueError("must be a whole number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
Dec = Annotated[Decimal, BeforeValidator(_exact_decimal)]
PositiveDec = Annotated[Decimal, BeforeValidator(_exact_decimal), AfterValidator(_positive)]
NonNegDec = Annotated[Decimal, BeforeValidator(_exact_decimal), AfterValidator(_non_negative)]
Fraction = Annotated[Decimal, BeforeValidator(_exact_decimal), AfterValidator(_fraction)]
Name = Annotated[str, AfterValidator(_name)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class StrictModel(BaseModel):
    """Unknown keys are errors, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, str_strip_whitespace=True)


def _resolve_path(value: Any, info: ValidationInfo) -> Any:
    """Relative paths written in the file are relative to the file's directory."""
    base = (info.context or {}).get("base_dir")
    if isinstance(value, str) and value.strip() and base is not None:
        path = Path(value.strip()).expanduser()
        return path if path.is_absolute() else Path(base) / path
    return value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"file {str(value)!r} does not exist or is not a file")
    return value


def _existing_secret_file(value: Path) -> Path:
    # The path is not echoed: a secret pasted here by mistake must not reach an error message.
    if not value.is_file():
        raise ValueError(
            "the file does not exist or is not a file (a relative path is relative to the "
            "config file's directory)"
        )
    return value


FilePath = Annotated[Path, BeforeValidator(_resolve_path), AfterValidator(_existing_file)]
SecretFilePath = Annotated[
    Path, BeforeValidator(_resolve_path), AfterValidator(_existing_secret_file)
]
# An account's key file is checked when it is read (config.secrets): it may be absent on
# purpose once the database holds the account's keys.
SecretFileRef = Annotated[Path, BeforeValidator(_resolve_path)]
WritablePath = Annotated[Path, BeforeValidator(_resolve_path)]
