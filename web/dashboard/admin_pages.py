"""Admin: users and roles; add a user (with a first password), disable or enable one (a
disabled user's strategies stop, cancelling their resting orders, and its sessions and tokens
end), delete one. The rules are services.users': never without an enabled admin, and an admin
cannot disable or delete itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain.errors import MartingaleError
from services import users
from services.passwords import check_password_rules, set_password
from web.context import WebContext
from web.dashboard.render import page
from web.dashboard.session import AdminViewer, Viewer
from web.dashboard.strategy_forms import Form
from web.errors import describe
from web.models import Id
from web.security import Context

router = APIRouter(include_in_schema=False)


def _context(who: Viewer, ctx: WebContext, **extra: Any) -> dict[str, Any]:
    listed = users.list_users(ctx.repo)
    return {"viewer": who, "nav": "admin", "users": listed, "error": "", "flash": "", **extra}


def _problem(error: MartingaleError) -> str:
    return str(describe(error)[1]["message"])


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, who: AdminViewer, ctx: Context) -> HTMLResponse:
    return page(request, "admin_users.html", _context(who, ctx))


@router.post("/ui/admin/users", response_class=HTMLResponse)
def add_user(request: Request, values: Form, who: AdminViewer, ctx: Context) -> HTMLResponse:
    now = ctx.clock()
    password = values.get("password")
    try:
        if password is not None:
            check_password_rules(password)  # before the user exists: nothing half-made
        user = users.create_user(
            ctx.repo,
            values.get("name", ""),
            now=now,
            email=values.get("email"),
            role="admin" if values.get("admin") == "on" else "user",
        )
        if password is not None:
            set_password(ctx.repo, user.id, password, now=now)
    except MartingaleError as error:
        context = _context(who, ctx, error=_problem(error))
        return page(request, "parts/users.html", context, status_code=422)
    context = _context(who, ctx, flash=f"User {user.name} added.")
    return page(request, "parts/users.html", context)


@router.post("/ui/admin/users/{user_id}/{change}", response_class=HTMLResponse)
def change_user(
    request: Request, user_id: Id, change: str, *, values: Form, who: AdminViewer, ctx: Context
) -> HTMLResponse:
    now = ctx.clock()
    try:
        target = users.get_user(ctx.repo, user_id)
        if change == "role":
            users.set_role(ctx.repo, who.principal, user_id, values.get("role", ""), now=now)
            flash = f"{target.name} is now {values.get('role')}."
        elif change in ("disable", "enable"):
            users.set_disabled(ctx.repo, who.principal, user_id, change == "disable", now=now)
            flash = f"{target.name} {change}d."
        elif change == "delete":
            users.delete_user(ctx.repo, who.principal, user_id, now=now)
            flash = f"{target.name} deleted; their strategies stop."
        else:
            return page(request, "parts/users.html", _context(who, ctx), status_code=404)
    except MartingaleError as error:
        if describe(error)[0] == 404:
            raise
        context = _context(who, ctx, error=_problem(error))
        return page(request, "parts/users.html", context, status_code=422)
    return page(request, "parts/users.html", _context(who, ctx, flash=flash))
