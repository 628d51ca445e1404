"""The doctor's look at the other secrets the vault seals under the master key (issue 16):

- each strategy's webhook signal secret (`services.signals`, migration 0012), which the web
  opens on every signal request to check its HMAC;
- each notification target's URL (`persistence.notify_targets`, migration 0011), which the
  notifier opens to send.

A row that does not open breaks its feature silently at run time (a webhook refused, a message
never sent) and stops `martingale keys rotate-master` at that row, so each one is named: by id,
user and strategy or target name, and key version, never by content.

The rows checked are those something will open: every signal key, the targets of users not
deleted (the notifier's), and the targets of deleted users still sealed under an older key
(a rotation moves those too).
"""

from __future__ import annotations

from domain.errors import CredentialError, MartingaleError
from persistence.notify_targets import open_target
from persistence.records_notify import NotificationTarget
from persistence.repository import Repository
from persistence.vault import Vault
from services.doctor.keys import listed, user_name
from services.doctor.report import Check, fail, na, ok, skip
from services.signals import open_secret

ACTION = (
    "configure the master key they were sealed with (older versions after the current one), "
    "or {again}"
)

SIGNAL_URL_AGAIN = "`martingale strategy signal-url USER STRATEGY --rotate`"


def sealed_count(repo: Repository) -> int:
    """How many signal secrets and notification URLs are stored (they need a master key)."""
    return len(repo.list_signal_keys()) + len(_targets(repo, None))


def signal_secret_check(repo: Repository, vault: Vault | None) -> Check:
    name = "signal_secrets"
    try:
        keys = repo.list_signal_keys()
    except MartingaleError as error:
        return fail(name, f"cannot read the stored signal keys: {error}")
    if not keys:
        return na(name, "no signal secrets are stored")
    if vault is None:
        return skip(name, f"{len(keys)} stored signal secret(s), but no usable master key")
    failed: list[str] = []
    for key in keys:
        try:
            open_secret(vault, key)
        except CredentialError:
            label = _strategy_label(repo, key.strategy_id)
            failed.append(f"{label} (strategy {key.strategy_id}, key version {key.key_version})")
    if failed:
        return fail(
            name,
            f"{len(failed)} of {len(keys)} stored signal secret(s) do not decrypt (their "
            f"webhooks refuse every signal): {listed(failed)}",
            ACTION.format(again=f"make their signal URLs again ({SIGNAL_URL_AGAIN})"),
        )
    return ok(name, f"all {len(keys)} stored signal secret(s) decrypt")


def notification_url_check(repo: Repository, vault: Vault | None) -> Check:
    name = "notification_urls"
    try:
        targets = _targets(repo, vault)
    except MartingaleError as error:
        return fail(name, f"cannot read the stored notification targets: {error}")
    if not targets:
        return na(name, "no notification targets are stored")
    if vault is None:
        return skip(name, f"{len(targets)} stored notification URL(s), but no usable master key")
    failed: list[str] = []
    for target in targets:
        try:
            open_target(vault, target)
        except CredentialError:
            failed.append(
                f"{user_name(repo, target.user_id)}/{target.name} (target {target.id}, "
                f"key version {target.sealed.key_version})"
            )
    if failed:
        return fail(
            name,
            f"{len(failed)} of {len(targets)} stored notification URL(s) do not decrypt (no "
            f"message reaches them): {listed(failed)}",
            ACTION.format(again="store those targets' URLs again"),
        )
    return ok(name, f"all {len(targets)} stored notification URL(s) decrypt")


def _targets(repo: Repository, vault: Vault | None) -> list[NotificationTarget]:
    """The notifier's targets, and those a rotation to the current key would move."""
    found = {t.id: t for t in repo.list_notification_targets()}
    if vault is not None:
        moved = repo.list_notification_targets(not_key_version=vault.current_version)
        found.update((t.id, t) for t in moved)
    return sorted(found.values(), key=lambda t: t.id)


def _strategy_label(repo: Repository, strategy_id: int) -> str:
    """ "user/strategy"; "a deleted strategy" when its row cannot be read any more."""
    try:
        strategy = repo.get_strategy(strategy_id)
    except MartingaleError:
        return "a deleted strategy"
    return f"{user_name(repo, strategy.user_id)}/{strategy.name}"
