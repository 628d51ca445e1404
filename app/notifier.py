"""The service's notifier (issue 16), built from the database and the vault: the composition
root starts it before the actor tree and stops it after (see `actors.notifier`)."""

from __future__ import annotations

from actors.notifier import Notifier, NotifierSettings
from actors.notify_queue import Notifications
from actors.notify_send import Sender, send_apprise
from persistence.notify_targets import open_target
from persistence.repository import Repository
from persistence.vault import Vault


def build_notifier(
    repo: Repository,
    vault: Vault | None,
    *,
    settings: NotifierSettings | None = None,
    send: Sender = send_apprise,
) -> Notifier | None:
    """None without a vault: no target can be stored, nor opened, without the master key."""
    if vault is None:
        return None

    def strategy_name(strategy_id: int) -> str | None:
        return repo.get_strategy(strategy_id).name

    return Notifier(
        Notifications(),
        load_targets=repo.list_notification_targets,
        open_url=lambda target: open_target(vault, target),
        strategy_name=strategy_name,
        send=send,
        settings=settings,
    )
