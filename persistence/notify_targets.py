"""Notification target operations that need both the vault and the repository (issue 16).

Sealing binds a URL to its user and its target's name; opening registers the URL (and its
parts that may hold a token) with the log redactor. Master key rotation moves these rows the
way `persistence.credentials.rotate_master` moves exchange keys: row by row, each swap guarded
by the old ciphertext and read back under the new key before the next.
"""

from __future__ import annotations

from datetime import datetime

from domain.errors import CredentialError, ValidationError
from domain.notifications import NotifyEvent, target_name_problem, url_scheme
from domain.secrets import Secret
from persistence.records_notify import NotificationTarget
from persistence.repository_notify import NotifyRepository
from persistence.vault import Vault, register_url

URL_MAX = 4000  # far above any apprise URL; keeps a pasted document out of the table


def checked_url(url: Secret) -> str:
    """The URL's scheme; ValidationError (field "url", never quoting the URL) when it has none."""
    text = url.reveal()
    scheme = url_scheme(text)
    if scheme is None or len(text) > URL_MAX or any(c.isspace() for c in text.strip()):
        raise ValidationError(
            "url must be an apprise URL such as tgram://BOT_TOKEN/CHAT_ID or "
            "json://host/path (the URL is not repeated here: it may hold a token)",
            field="url",
        )
    return scheme


def store_target(
    repo: NotifyRepository,
    vault: Vault,
    user_id: int,
    name: str,
    url: Secret,
    *,
    events: frozenset[NotifyEvent],
    enabled: bool,
    now: datetime,
    source: str = "api",
) -> NotificationTarget:
    """Seal and store (create or replace) one target; the URL never leaves as plaintext."""
    problem = target_name_problem(name)
    if problem is not None:
        raise ValidationError(f"name {problem}", field="name")
    url = Secret(url.reveal().strip())
    scheme = checked_url(url)
    register_url(url)
    sealed = vault.seal_url(url, user_id=user_id, target=name)
    return repo.save_notification_target(
        user_id,
        name,
        scheme=scheme,
        sealed=sealed,
        events=events,
        enabled=enabled,
        now=now,
        source=source,
    )


def open_target(vault: Vault, target: NotificationTarget) -> Secret:
    return vault.open_url(target.sealed, user_id=target.user_id, target=target.name)


def rotate_targets(repo: NotifyRepository, vault: Vault) -> tuple[int, int, int]:
    """(resealed, changed meanwhile, remaining) for the notification targets: every row not
    yet under the vault's current key re-encrypted, one transaction per row."""
    resealed = changed = 0
    for stored in repo.list_notification_targets(not_key_version=vault.current_version):
        plain = open_target(vault, stored)
        fresh = vault.seal_url(plain, user_id=stored.user_id, target=stored.name)
        expected = stored.sealed.ciphertext
        if not repo.reseal_notification_target(
            stored.id, expected_ciphertext=expected, sealed=fresh
        ):
            changed += 1
            continue
        written = next(
            (
                t
                for t in repo.list_notification_targets(user_id=stored.user_id)
                if t.id == stored.id
            ),
            None,
        )
        try:
            same = written is None or open_target(vault, written) == plain
        except CredentialError:
            same = False
        if not same:
            assert written is not None
            repo.reseal_notification_target(
                stored.id, expected_ciphertext=written.sealed.ciphertext, sealed=stored.sealed
            )
            raise CredentialError(
                f"rotation stopped at notification target {stored.name!r} of user "
                f"{stored.user_id}: its URL re-encrypted under version {vault.current_version} "
                "did not decrypt back from the database, so its previous ciphertext was put "
                "back; check that the database stores the ciphertext whole, then run again"
            )
        resealed += 1
    remaining = len(repo.list_notification_targets(not_key_version=vault.current_version))
    return resealed, changed, remaining
