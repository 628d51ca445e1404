"""Authentication and authorisation for the CLI and the web layer: import from here.

- passwords (argon2id, rehash on login), the login itself and a user changing its own
  password: `services.passwords`;
- failed-login limits per account and per address: `services.login_limit`;
- API tokens, dashboard sessions and their CSRF tokens: `services.tokens`;
- who is asking (`Principal`), role checks and the errors: `services.principal`.

Nothing here logs or returns a secret: passwords are hashed at once, token secrets are handed
back once (`IssuedToken.secret`, left out of its repr) and stored only as SHA-256 digests.
"""

from __future__ import annotations

from services.login_limit import LoginLimiter, Reservation
from services.passwords import (
    HASHER,
    authenticate_password,
    change_password,
    check_password_rules,
    hash_password,
    set_password,
)
from services.principal import (
    OPERATOR,
    AuthenticationFailed,
    Forbidden,
    LoginThrottled,
    Principal,
    require_admin,
)
from services.tokens import (
    SESSION_TTL,
    IssuedToken,
    authenticate_session,
    authenticate_token,
    check_csrf,
    csrf_token,
    end_session,
    issue_session,
    issue_token,
    list_tokens,
    revoke_token,
)

__all__ = [
    "HASHER",
    "OPERATOR",
    "SESSION_TTL",
    "AuthenticationFailed",
    "Forbidden",
    "IssuedToken",
    "LoginLimiter",
    "LoginThrottled",
    "Principal",
    "Reservation",
    "authenticate_password",
    "authenticate_session",
    "authenticate_token",
    "change_password",
    "check_csrf",
    "check_password_rules",
    "csrf_token",
    "end_session",
    "hash_password",
    "issue_session",
    "issue_token",
    "list_tokens",
    "require_admin",
    "revoke_token",
    "set_password",
]
