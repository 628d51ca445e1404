"""A key the vault decrypts is registered with the log redactor like one read from a file."""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator

import pytest
import structlog

from config.logging import clear_context, configure_logging, get_logger
from domain.secrets import Credentials, Secret, registered_secrets
from persistence.vault import Vault, generate_key, parse_keyring


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_context()
    structlog.reset_defaults()


def test_opened_credentials_are_masked_in_every_later_log_line() -> None:
    # Values made here, never read through config/: only the vault can have registered them.
    key, secret, passphrase = (f"{name}-{secrets.token_hex(8)}" for name in ("k", "s", "p"))
    vault = Vault(parse_keyring(generate_key(), source="test"))
    sealed = vault.seal(
        Credentials(api_key=Secret(key), secret=Secret(secret), passphrase=Secret(passphrase)),
        user_id=1,
        account_id=2,
    )
    assert not {key, secret, passphrase} & registered_secrets()[1]

    vault.open(sealed, user_id=1, account_id=2)

    out = io.StringIO()
    configure_logging(format="json", stream=out)
    get_logger("exchange").error(f"binance said: invalid key {key}; signed with {secret}")
    logging.getLogger("urllib3").warning("body passphrase %s", passphrase)
    text = out.getvalue()
    assert key not in text and secret not in text and passphrase not in text
    assert "invalid key ***; signed with ***" in text
