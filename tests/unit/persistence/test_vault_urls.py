"""Notification URLs in the vault: sealed bound to user and target, and the parts of a URL
that may hold a token are what the log redactor is taught to mask."""

from __future__ import annotations

import pytest

from domain.errors import CredentialError
from domain.secrets import Secret, registered_secrets
from persistence.vault import Vault, generate_key, parse_keyring, register_url, url_secret_parts

VAULT = Vault(parse_keyring(generate_key(3), source="test"))


def test_a_url_opens_only_for_its_user_and_target_name() -> None:
    url = Secret("discord://112233445566/AbCdEfGhIjKlMnOpQrStUvWxYz0123456789")
    sealed = VAULT.seal_url(url, user_id=4, target="alerts")
    assert sealed.key_version == 3
    assert "AbCdEf" not in sealed.ciphertext and "AbCdEf" not in repr(sealed)
    assert VAULT.open_url(sealed, user_id=4, target="alerts") == url
    for user_id, target in ((5, "alerts"), (4, "alerts2")):
        with pytest.raises(CredentialError, match="cannot be decrypted") as caught:
            VAULT.open_url(sealed, user_id=user_id, target=target)
        assert "AbCdEf" not in str(caught.value)


def test_the_secret_parts_of_a_url_skip_hosts_and_short_words() -> None:
    parts = url_secret_parts(
        "json://hook:Passw0rdLong@127.0.0.1:8080/notify/PathTokenXYZ123?key=QueryValue99&x=1"
    )
    assert set(parts) == {"Passw0rdLong", "PathTokenXYZ123", "QueryValue99"}
    # the bot's id and the chat's are numbers: not secret, and masking them would garble
    # any log line with those digits in a price
    assert url_secret_parts("tgram://123456789:AAHtokenPart0123/-100123456789") == [
        "AAHtokenPart0123"
    ]
    assert "api.telegram.org" not in url_secret_parts("https://api.telegram.org/botX/send")


def test_registering_a_url_registers_its_secret_parts() -> None:
    register_url(Secret("mailtos://user:MailPassw0rd-77@smtp.example.com"))
    _, values = registered_secrets()
    assert "MailPassw0rd-77" in values
    assert "smtp.example.com" not in values
