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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

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

T = TypeVar("T")


def sealed_count(repo: Repository) -> int:
    """How many signal secrets and notification URLs are stored (they need a master key)."""
    return len(repo.list_signal_keys()) + len(_targets(repo, None))


@dataclass(frozen=True, slots=True)
class _Sealed:
    """One kind of sealed row, as the doctor reports it."""

    name: str  # the check's name
    what: str  # "signal secret", "notification URL"
    broken: str  # what a row that does not open breaks
    again: str  # how to make one again


def _check(
    kind: _Sealed,
    read: Callable[[], Sequence[T]],
    opens: Callable[[T], object],
    label: Callable[[T], str],
    vault: Vault | None,
) -> Check:
    """Every row `read` gives must open (`opens` raises CredentialError if not); a failing one
    is named by `label`, never shown."""
    try:
        rows = read()
    except MartingaleError as error:
        return fail(kind.name, f"cannot read the stored {kind.what}s: {error}")
    if not rows:
        return na(kind.name, f"no {kind.what}s are stored")
    if vault is None:
        return skip(kind.name, f"{len(rows)} stored {kind.what}(s), but no usable master key")
    failed: list[str] = []
    for row in rows:
        try:
            opens(row)
        except CredentialError:
            failed.append(label(row))
    if failed:
        return fail(
            kind.name,
            f"{len(failed)} of {len(rows)} stored {kind.what}(s) do not decrypt "
            f"({kind.broken}): {listed(failed)}",
            ACTION.format(again=kind.again),
        )
    return ok(kind.name, f"all {len(rows)} stored {kind.what}(s) decrypt")


def signal_secret_check(repo: Repository, vault: Vault | None) -> Check:
    kind = _Sealed(
        "signal_secrets",
        "signal secret",
        "their webhooks refuse every signal",
        f"make their signal URLs again ({SIGNAL_URL_AGAIN})",
    )
    return _check(
        kind,
        repo.list_signal_keys,
        lambda key: open_secret(vault, key) if vault is not None else None,
        lambda key: (
            f"{_strategy_label(repo, key.strategy_id)} (strategy {key.strategy_id}, "
            f"key version {key.key_version})"
        ),
        vault,
    )


def notification_url_check(repo: Repository, vault: Vault | None) -> Check:
    kind = _Sealed(
        "notification_urls",
        "notification URL",
        "no message reaches them",
        "store those targets' URLs again",
    )
    return _check(
        kind,
        lambda: _targets(repo, vault),
        lambda target: open_target(vault, target) if vault is not None else None,
        lambda target: (
            f"{user_name(repo, target.user_id)}/{target.name} (target {target.id}, "
            f"key version {target.sealed.key_version})"
        ),
        vault,
    )


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
