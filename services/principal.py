"""Who is asking, and the errors that refuse them: shared by passwords, tokens and users.

Import these from `services.auth` (the one place the CLI and the web layer look); they live
here so that `services.passwords` and `services.tokens` can use them without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import MartingaleError, Policy

LOGIN_FAILED = "invalid user name or password"
TOKEN_FAILED = "invalid, expired or revoked token"  # noqa: S105 (a message, not a secret)


class AuthenticationFailed(MartingaleError):
    """A login, token or session was refused. The message never says which check failed
    (unknown user, wrong password, revoked token...): that would help whoever is guessing.

    Not `domain.errors.AuthenticationFailed`, which means an exchange refused our API key.
    """


class LoginThrottled(MartingaleError):
    """Too many failed logins for this account or from this address: try again later."""

    policy = Policy.RETRY

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Forbidden(MartingaleError):
    """Authenticated, but the role does not allow it (or an admin acting on itself)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """The authenticated caller. `kind`: "password" (a login), "api" (an API token),
    "session" (a dashboard session) or "operator" (the CLI, which holds the database itself);
    `token_id` is the token or session used, None for the others."""

    user_id: int
    name: str
    role: str
    token_id: int | None
    kind: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# Whoever runs `martingale users ...` can open the database directly, so nothing they could do
# through the API is kept from them; user id 0 is no user's.
OPERATOR = Principal(user_id=0, name="operator", role="admin", token_id=None, kind="operator")


def require_admin(principal: Principal) -> None:
    """Managing users (create, set roles, delete) needs the admin role."""
    if not principal.is_admin:
        raise Forbidden(f"{principal.name!r} is not an admin; only admins manage users")
