"""Users' notification targets during an onboarding sync (issue 16).

The file names each target's URL source (`url_env`, `url_file`); the URL is sealed under the
master key like an exchange key (`persistence.notify_targets`), and written only when it, the
events or the enabled flag differ from the stored row (the stored URL is opened and compared:
nothing is re-encrypted for nothing). A target whose source is absent keeps its stored URL
(its events and enabled flag still follow the file); with nothing stored it is reported like
a missing key. Targets the file no longer names are deleted if the file made them (source
"config"); those made through the REST API are the API's, and a sync leaves them alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from config.loader import ConfigProblem
from config.notify_schema import NotificationConfig
from config.notify_secrets import UrlLookup
from domain.errors import CredentialError
from domain.notifications import parse_events
from domain.secrets import Secret
from persistence.notify_targets import open_target, store_target
from persistence.repository import Repository
from persistence.vault import Vault


@dataclass(slots=True, kw_only=True)
class NotifySync:
    repo: Repository
    vault: Vault | None
    urls: UrlLookup
    now: datetime
    count: Callable[[str], None]  # "created", "updated", "unchanged" or "stopped" (deleted)
    missing: list[ConfigProblem]

    def user(self, user_name: str, user_id: int, targets: list[NotificationConfig]) -> None:
        stored = {t.name: t for t in self.repo.list_notification_targets(user_id=user_id)}
        for target in targets:
            found = stored.pop(target.name, None)
            key = (user_name, target.name)
            url = self.urls.found.get(key)
            events = parse_events(target.events)
            if url is None and found is None:
                self.missing.extend(self.urls.absent.get(key, []))
                continue
            vault = self.vault
            if vault is None:
                raise CredentialError(
                    "the config has notification targets but no vault was given to seal them"
                )
            if found is not None and (
                (found.events, found.enabled, found.source) == (events, target.enabled, "config")
                and (url is None or open_target(vault, found) == url)
            ):
                self.count("unchanged")
                continue
            if url is None:  # absent source: the stored URL stays, the rest follows the file
                assert found is not None
                url = Secret(open_target(vault, found).reveal())
            store_target(
                self.repo,
                vault,
                user_id,
                target.name,
                url,
                events=events,
                enabled=target.enabled,
                now=self.now,
                source="config",
            )
            self.count("created" if found is None else "updated")
        for removed in stored.values():
            if removed.source == "config":
                self.repo.delete_notification_target(user_id, removed.name)
                self.count("stopped")


def check_vault_opens_targets(repo: Repository, vault: Vault) -> None:
    """Refuse a master key that cannot open every stored notification URL (as for keys)."""
    # not_key_version=-1 (no key has it): every row, deleted users' too
    for target in repo.list_notification_targets(not_key_version=-1):
        try:
            open_target(vault, target)
        except CredentialError:
            raise CredentialError(
                f"the configured master key cannot open the stored URL of notification target "
                f"{target.name!r} of user {target.user_id} (sealed under key version "
                f"{target.sealed.key_version}); nothing was written"
            ) from None
