"""The credential vault: AES-256-GCM under a master key that never touches the database.

Master key format (env `MARTINGALE_MASTER_KEY` or a key file, same text): one or more entries
separated by commas or newlines, each ``v<N>:<base64 of 32 random bytes>``; a bare base64 key
means version 1. The FIRST entry is the current key (new ciphertexts use it); the others are
only for reading rows sealed before a rotation. Make one with `martingale keys generate`.

Ciphertext (stored as text): ``mg1:<key version>:<base64url(nonce || ciphertext+tag)>``. The
associated data binds user id, account id, purpose and key version, so a ciphertext copied to
another row, or a header edited to name another key, fails to decrypt instead of decrypting to
someone else's keys. Nothing here ever puts a key or plaintext into a message or repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import CredentialError
from domain.secrets import Credentials, Secret, register_credentials, register_secret
from persistence.records import SealedCredentials
from persistence.records_notify import SealedUrl

MASTER_KEY_ENV = "MARTINGALE_MASTER_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = "mg1"
PURPOSE_EXCHANGE = "exchange-credentials"
PURPOSE_NOTIFY = "notification-url"
_ENTRY = re.compile(r"^(?:v(?P<version>[0-9]{1,5}):)?(?P<key>[A-Za-z0-9+/_=-]+)$")
_MAX_VERSION = 65535


@dataclass(frozen=True, slots=True)
class MasterKey:
    version: int
    key: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"MasterKey(version={self.version}, key=***)"


@dataclass(frozen=True, slots=True)
class Keyring:
    """The current key plus older ones still accepted for decryption."""

    current: MasterKey
    older: tuple[MasterKey, ...] = ()

    @property
    def versions(self) -> tuple[int, ...]:
        return (self.current.version, *(k.version for k in self.older))

    def key(self, version: int) -> MasterKey | None:
        return next((k for k in (self.current, *self.older) if k.version == version), None)

    def with_current(self, new: MasterKey) -> Keyring:
        """A keyring that seals under `new` and still reads everything this one reads."""
        if new.version in self.versions:
            raise CredentialError(
                f"the new master key has version {new.version}, which is already in use; "
                f"generate it with `martingale keys generate --version {max(self.versions) + 1}`"
            )
        if any(new.key == k.key for k in (self.current, *self.older)):
            raise CredentialError("the new master key is the same key as an existing one")
        return Keyring(current=new, older=(self.current, *self.older))


def generate_key(version: int = 1) -> str:
    """A fresh key entry, ``v<N>:<base64>``, from the OS random generator."""
    if not 1 <= version <= _MAX_VERSION:
        raise ValueError(f"key version must be between 1 and {_MAX_VERSION}")
    return f"v{version}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def parse_keyring(text: str, *, source: str) -> Keyring:
    """Parse the master key text; `source` names where it came from for error messages."""
    entries = [e.strip() for e in re.split(r"[,\n]", text) if e.strip()]
    if not entries:
        raise CredentialError(f"{source} is empty; generate a key with `martingale keys generate`")
    keys: list[MasterKey] = []
    for index, entry in enumerate(entries, start=1):
        match = _ENTRY.match(entry)
        where = f"{source}, entry {index}"
        if match is None:
            raise CredentialError(f"{where} is not 'v<N>:<base64 key>' or '<base64 key>'")
        version = int(match["version"] or 1)
        if not 1 <= version <= _MAX_VERSION:
            raise CredentialError(f"{where}: key version must be between 1 and {_MAX_VERSION}")
        try:
            raw = base64.b64decode(match["key"].replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise CredentialError(f"{where}: the key is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise CredentialError(f"{where}: the key must be {KEY_BYTES} bytes, got {len(raw)}")
        if any(k.version == version for k in keys):
            raise CredentialError(f"{where}: key version {version} appears twice")
        keys.append(MasterKey(version, raw))
    return Keyring(current=keys[0], older=tuple(keys[1:]))


def load_keyring(*, env_value: str | None, key_file: str | Path | None) -> Keyring:
    """The master key from the environment value or the key file named by the settings.

    Exactly one must be given: two sources that could disagree are refused rather than guessed.
    """
    if env_value and key_file:
        raise CredentialError(
            f"both {MASTER_KEY_ENV} and a master key file are set; use one of them"
        )
    if key_file:
        path = Path(key_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise CredentialError(
                f"master key file {path} cannot be read ({error.strerror or type(error).__name__})"
            ) from None
        return parse_keyring(text, source=f"master key file {path}")
    if env_value:
        return parse_keyring(env_value, source=MASTER_KEY_ENV)
    raise CredentialError(
        f"no master key: set {MASTER_KEY_ENV} or name a master key file in the settings; "
        "create a key with `martingale keys generate`"
    )


def fingerprint(credentials: Credentials) -> str:
    """A short, stable, non-reversible tag of the API key, to show which key an account has."""
    digest = hashlib.sha256(
        b"martingale/api-key-fingerprint\0" + credentials.api_key.reveal().encode()
    )
    return digest.hexdigest()[:16]


def _text_data(*, purpose: str, owner: str, version: int) -> bytes:
    return f"martingale/{FORMAT}\0{owner}\0purpose={purpose}\0key={version}".encode()


def _associated_data(*, user_id: int, account_id: int, purpose: str, version: int) -> bytes:
    return (
        f"martingale/{FORMAT}\0user={user_id}\0account={account_id}\0purpose={purpose}"
        f"\0key={version}"
    ).encode()


def _account_data(user_id: int, account_id: int) -> Callable[[int], bytes]:
    """An exchange key is bound to its user and account."""
    return lambda version: _associated_data(
        user_id=user_id, account_id=account_id, purpose=PURPOSE_EXCHANGE, version=version
    )


def _target_data(*, user_id: int, target: str, version: int) -> bytes:
    """A notification URL is bound to its user and its target's name (unique per user)."""
    return (
        f"martingale/{FORMAT}\0user={user_id}\0target={target}\0purpose={PURPOSE_NOTIFY}"
        f"\0key={version}"
    ).encode()


class Vault:
    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def __repr__(self) -> str:
        return f"Vault(key_versions={self._keyring.versions})"

    @property
    def current_version(self) -> int:
        return self._keyring.current.version

    @property
    def key_versions(self) -> tuple[int, ...]:
        """The current key's version first, then the older ones it still reads."""
        return self._keyring.versions

    # --- one secret text bound to what owns it (a strategy's webhook signal secret) --------
    def seal_text(self, plain: str, *, purpose: str, owner: str) -> str:
        """``mg1:<key version>:...`` of `plain`, bound to `purpose` and `owner` (e.g.
        "strategy=7"): opened with another purpose or owner, it fails to decrypt."""
        return self._seal(
            plain, lambda version: _text_data(purpose=purpose, owner=owner, version=version)
        )

    def open_text(self, ciphertext: str, *, purpose: str, owner: str, what: str) -> Secret:
        """The text `seal_text` sealed, as a `Secret`; `what` names it in errors."""
        return Secret(
            self._open(
                ciphertext,
                lambda version: _text_data(purpose=purpose, owner=owner, version=version),
                what=what,
                owner="owner",
            )
        )

    def seal(self, credentials: Credentials, *, user_id: int, account_id: int) -> SealedCredentials:
        payload = {"api_key": credentials.api_key.reveal(), "secret": credentials.secret.reveal()}
        if credentials.passphrase is not None:
            payload["passphrase"] = credentials.passphrase.reveal()
        return SealedCredentials(
            ciphertext=self._seal(json.dumps(payload), _account_data(user_id, account_id)),
            key_version=self._keyring.current.version,
            fingerprint=fingerprint(credentials),
        )

    def open(self, sealed: SealedCredentials, *, user_id: int, account_id: int) -> Credentials:
        what = f"the API key of account {account_id}"
        plain = self._open(
            sealed.ciphertext, _account_data(user_id, account_id), what=what, owner="account"
        )
        try:
            payload: Mapping[str, str] = json.loads(plain)
            passphrase = payload.get("passphrase")
            credentials = Credentials(
                api_key=Secret(payload["api_key"]),
                secret=Secret(payload["secret"]),
                passphrase=Secret(passphrase) if passphrase else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            # Sealed by us under this very binding, yet not our payload: never quote it.
            raise CredentialError(f"{what} decrypts to something that is not an API key") from None
        # A key read back from the database is as secret as one read from the environment:
        # the log redactor masks it wherever it turns up (an exchange error, a library's log).
        register_credentials(credentials)
        return credentials

    def reseal(
        self, sealed: SealedCredentials, *, user_id: int, account_id: int
    ) -> SealedCredentials:
        """Re-encrypt under the current key (for master key rotation)."""
        return self.seal(
            self.open(sealed, user_id=user_id, account_id=account_id),
            user_id=user_id,
            account_id=account_id,
        )

    # --- notification target URLs (apprise URLs hold bot tokens and passwords) -----------

    def seal_url(self, url: Secret, *, user_id: int, target: str) -> SealedUrl:
        key_version = self._keyring.current.version
        text = self._seal(
            url.reveal(),
            lambda version: _target_data(user_id=user_id, target=target, version=version),
        )
        return SealedUrl(ciphertext=text, key_version=key_version)

    def open_url(self, sealed: SealedUrl, *, user_id: int, target: str) -> Secret:
        """The URL, registered with the log redactor (with its parts that hold secrets)."""
        url = Secret(
            self._open(
                sealed.ciphertext,
                lambda version: _target_data(user_id=user_id, target=target, version=version),
                what=f"the URL of notification target {target!r}",
                owner="target",
            )
        )
        register_url(url)
        return url

    # --- the sealing every secret uses: AES-GCM under the current key, bound to `data(version)`

    def _seal(self, plain: str, data: Callable[[int], bytes]) -> str:
        key = self._keyring.current
        nonce = os.urandom(NONCE_BYTES)
        box = AESGCM(key.key).encrypt(nonce, plain.encode(), data(key.version))
        return f"{FORMAT}:{key.version}:{base64.urlsafe_b64encode(nonce + box).decode()}"

    def _open(self, ciphertext: str, data: Callable[[int], bytes], *, what: str, owner: str) -> str:
        fmt, _, rest = ciphertext.partition(":")
        version_text, _, body = rest.partition(":")
        if fmt != FORMAT or not version_text.isdigit() or not body:
            raise CredentialError(f"{what} is not in a format this version can read")
        version = int(version_text)
        key = self._keyring.key(version)
        if key is None:
            raise CredentialError(
                f"{what} is sealed under master key version {version}, which is not configured "
                f"(configured: {', '.join(map(str, self._keyring.versions))}); add it to "
                f"{MASTER_KEY_ENV} (or the key file) after the current key"
            )
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            plain = AESGCM(key.key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], data(version))
            return plain.decode()
        except (InvalidTag, ValueError, TypeError, binascii.Error):
            raise CredentialError(
                f"{what} cannot be decrypted: the ciphertext was altered, belongs to another "
                f"{owner}, or the master key is wrong"
            ) from None


def register_url(url: Secret) -> None:
    """Mask an apprise URL in every later log line: whole, and each part of it that can hold a
    token or a password (user, password, host and path segments, query values), since a
    library's message may quote only a part (a bot token as a path segment, say)."""
    register_secret(url)
    for part in url_secret_parts(url.reveal()):
        register_secret(part)


def url_secret_parts(url: str) -> list[str]:
    """The pieces of `url` after its scheme that may hold a secret: 8+ characters each (a port
    or "chat" must not mask half of every log line), no host name or IP address, and no bare
    number (a chat or bot id: masking "127.0.0.1", "api.telegram.org" or 123456789 wherever a
    log line has them, in a price say, would hide more than it protects)."""
    _, _, rest = url.partition("://")
    pieces = re.split(r"[/?&=@:#,;]", rest)
    return [
        p for p in pieces if len(p) >= 8 and not _HOST.fullmatch(p) and not p.lstrip("+-").isdigit()
    ]


_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
