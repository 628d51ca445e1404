"""Users' notification targets (issue 16): list, create or replace, delete, send a test.

Shared by the REST API and `martingale notify`. Every call is scoped to one user: another
user's target is simply not found (`NotFound`, a 404), as for accounts. A URL arrives as
`Secret`, is sealed at once and never comes back out: a target is shown by its name, events,
enabled flag and its URL's scheme only. A running service picks a change up at its notifier's
next refresh (a few seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from actors.notifier import Delivery, NotifierSettings, deliver_now
from actors.notify_send import Sender, send_apprise, usable_url
from domain.errors import ValidationError
from domain.notifications import DEFAULT_EVENTS, Notify, NotifyEvent, parse_events
from domain.secrets import Secret
from persistence.errors import NotFound
from persistence.notify_targets import checked_url, open_target, store_target
from persistence.records_notify import NotificationTarget
from persistence.repository import Repository
from persistence.vault import Vault
from services.account_input import MasterKeyProblem


def list_targets(repo: Repository, user_id: int) -> list[NotificationTarget]:
    return repo.list_notification_targets(user_id=user_id)


def get_target(repo: Repository, user_id: int, name: str) -> NotificationTarget:
    found = next((t for t in list_targets(repo, user_id) if t.name == name), None)
    if found is None:
        raise NotFound(f"notification target {name!r} does not exist")
    return found


def events_from(values: Iterable[str] | None) -> frozenset[NotifyEvent]:
    """The events asked for (None: the defaults); ValidationError naming the bad one."""
    if values is None:
        return DEFAULT_EVENTS
    listed = list(values)
    if not listed:
        raise ValidationError("events: list at least one event", field="events")
    try:
        return parse_events(listed)
    except ValueError as exc:
        raise ValidationError(f"events: {exc}", field="events") from None


def check_url(url: Secret) -> str:
    """The URL's scheme, if apprise can use the URL; else ValidationError on the field "url"
    saying so without repeating the URL (it may hold a token)."""
    scheme = checked_url(url)
    if not usable_url(url):
        raise ValidationError(
            f"url: apprise cannot use this {scheme}:// URL: the scheme is not one of apprise's "
            "services, or parts it needs are missing (see apprise's documentation of the "
            "service; the URL is not repeated here: it may hold a token)",
            field="url",
        )
    return scheme


def put_target(
    repo: Repository,
    vault: Vault | None,
    user_id: int,
    name: str,
    url: Secret,
    *,
    events: Iterable[str] | None,
    enabled: bool,
    now: datetime,
) -> NotificationTarget:
    """Create the target, or replace it whole (URL, events, enabled); made through the API, so
    a config file's sync leaves it alone."""
    if repo.get_user(user_id).deleted:
        raise NotFound(f"user {user_id} does not exist")
    if vault is None:
        raise MasterKeyProblem(
            "this server has no master key, so it cannot store notification URLs: set "
            "MARTINGALE_MASTER_KEY or master_key_file (create a key with "
            "`martingale keys generate`)"
        )
    check_url(url)
    return store_target(
        repo,
        vault,
        user_id,
        name,
        url,
        events=events_from(events),
        enabled=enabled,
        now=now,
        source="api",
    )


def delete_target(repo: Repository, user_id: int, name: str) -> None:
    if not repo.delete_notification_target(user_id, name):
        raise NotFound(f"notification target {name!r} does not exist")


def test_targets(
    repo: Repository,
    vault: Vault | None,
    user_id: int,
    *,
    now: datetime,
    target: str | None = None,
    send: Sender = send_apprise,
    settings: NotifierSettings | None = None,
) -> list[Delivery]:
    """Send a test message to the user's targets (or the one named), enabled or not, at once
    (one attempt each, so a dead target answers within its timeout); the outcome per target."""
    targets = list_targets(repo, user_id)
    if target is not None:
        targets = [get_target(repo, user_id, target)]
    if not targets:
        return []
    if vault is None:
        raise MasterKeyProblem("this server has no master key, so it cannot open the targets")
    return deliver_now(
        targets,
        Notify(user_id=user_id, event=NotifyEvent.TEST, at=now),
        open_url=lambda t: open_target(vault, t),
        send=send,
        settings=settings or NotifierSettings(attempts=1),
    )
