"""Settings, notifications (issue 16): list the user's targets, add or replace one, delete
one, send a test; the same services as `/api/v1/notifications` and `martingale notify test`.

A target's apprise URL only travels inwards, as an account's key does: it is typed into a
password input, sealed as the form is handled, never put back into a form (not even after an
error) and never shown: a target is shown by its name, its URL's scheme, its events and
whether it is enabled. Delivery outcomes are not stored, so the page shows a test's outcome
only in the answer to that test.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from domain.errors import MartingaleError, ValidationError
from domain.notifications import DEFAULT_EVENTS, EVENT_NAMES
from domain.secrets import Secret
from services import notifications
from web.context import WebContext
from web.dashboard.render import page, templates
from web.dashboard.session import CurrentViewer, Viewer
from web.dashboard.strategy_forms import Form, message_of
from web.errors import describe
from web.security import Context

router = APIRouter(include_in_schema=False)

TargetName = Annotated[str, Path(min_length=1, max_length=64)]

EVENT_LABELS = {
    "cycle_closed": "a cycle closed, with its profit",
    "safety_filled": "a safety order filled (chatty)",
    "safety_exhausted": "the last safety order filled",
    "stop_loss": "a stop loss closed a cycle",
    "strategy_faulted": "a strategy was given up on after crashes",
    "strategy_degraded": "exchange or feed trouble, being retried",
    "key_rejected": "the exchange refused an API key",
}
DEFAULT_NAMES = frozenset(e.value for e in DEFAULT_EVENTS)
templates.env.globals.update(
    NOTIFY_EVENTS=[(name, EVENT_LABELS.get(name, name)) for name in EVENT_NAMES]
)


def notify_context(who: Viewer, ctx: WebContext, **extra: Any) -> dict[str, Any]:
    """The notifications section's context: the user's targets, and a form at its defaults."""
    context: dict[str, Any] = {
        "viewer": who,
        "targets": notifications.list_targets(ctx.repo, who.user_id),
        "notify_errors": {},
        "notify_values": {"events": DEFAULT_NAMES, "enabled": True},
        "notify_flash": "",
        "results": None,
        "tested": None,
    }
    return {**context, **extra}


def _part(request: Request, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return page(request, "parts/notify_targets.html", context, status_code=status)


def _problem(error: MartingaleError) -> str:
    return str(describe(error)[1]["message"])


@router.post("/ui/notifications", response_class=HTMLResponse)
def put_target(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    """Add a target, or replace the one of that name whole (URL, events, enabled)."""
    name = values.get("name", "")
    events = [e for e in EVENT_NAMES if values.get(f"event_{e}") == "on"]
    enabled = values.get("enabled") == "on"
    errors: dict[str, str] = {}
    try:
        if "url" not in values:
            raise ValidationError("is required: the apprise URL of the service", field="url")
        replaced = any(t.name == name for t in notifications.list_targets(ctx.repo, who.user_id))
        notifications.put_target(
            ctx.repo,
            ctx.vault,
            who.user_id,
            name,
            Secret(values["url"]),
            events=events,
            enabled=enabled,
            now=ctx.clock(),
        )
    except ValidationError as error:
        errors[error.field or "form"] = message_of(error)
    except MartingaleError as error:  # no master key on this server
        errors["form"] = _problem(error)
    if errors:  # the URL is never put back: it is typed again
        kept = {"name": name, "events": frozenset(events), "enabled": enabled}
        context = notify_context(who, ctx, notify_errors=errors, notify_values=kept)
        return _part(request, context, 422)
    done = "replaced" if replaced else "added"
    flash = f"Target {name} {done}; the running service uses it within seconds."
    return _part(request, notify_context(who, ctx, notify_flash=flash))


@router.post("/ui/notifications/{target_name}/delete", response_class=HTMLResponse)
def delete_target(
    request: Request, target_name: TargetName, who: CurrentViewer, ctx: Context
) -> HTMLResponse:
    notifications.delete_target(ctx.repo, who.user_id, target_name)  # NotFound: the 404 page
    return _part(request, notify_context(who, ctx, notify_flash=f"Target {target_name} deleted."))


@router.post("/ui/notifications/test", response_class=HTMLResponse)
def test_all(request: Request, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    """A test message to every target, enabled or not (`martingale notify test USER`)."""
    return _test(request, who, ctx, None)


@router.post("/ui/notifications/{target_name}/test", response_class=HTMLResponse)
def test_one(
    request: Request, target_name: TargetName, who: CurrentViewer, ctx: Context
) -> HTMLResponse:
    return _test(request, who, ctx, target_name)


def _test(request: Request, who: Viewer, ctx: WebContext, name: str | None) -> HTMLResponse:
    try:
        results = notifications.test_targets(
            ctx.repo, ctx.vault, who.user_id, now=ctx.clock(), target=name
        )
    except MartingaleError as error:
        if describe(error)[0] == 404:  # another user's target, as a missing one
            raise
        context = notify_context(who, ctx, notify_errors={"test": _problem(error)})
        return _part(request, context, 422)
    return _part(request, notify_context(who, ctx, results=results, tested=name or ""))
