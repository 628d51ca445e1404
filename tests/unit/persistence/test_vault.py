"""The vault on its own: sealing, tampering, binding to user and account, key parsing."""

from __future__ import annotations

import base64
import json
import os
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.errors import CredentialError
from domain.secrets import Credentials, Secret
from persistence.records import SealedCredentials
from persistence.vault import (
    MasterKey,
    Vault,
    generate_key,
    load_keyring,
    parse_keyring,
)

CREDS = Credentials(
    api_key=Secret("AK-live-0123456789"),
    secret=Secret("SK-very-secret-abcdef"),
    passphrase=Secret("pass-phrase-42"),
)
PLAINTEXTS = ("AK-live-0123456789", "SK-very-secret-abcdef", "pass-phrase-42")


def _vault(version: int = 1) -> Vault:
    return Vault(parse_keyring(generate_key(version), source="test"))


def test_seal_then_open_gives_back_the_credentials() -> None:
    vault = _vault()
    sealed = vault.seal(CREDS, user_id=1, account_id=2)
    assert vault.open(sealed, user_id=1, account_id=2) == CREDS
    assert sealed.key_version == 1
    assert sealed.ciphertext.startswith("mg1:1:")
    for text in PLAINTEXTS:
        assert text not in sealed.ciphertext and text not in repr(sealed)
    assert vault.seal(CREDS, user_id=1, account_id=2).ciphertext != sealed.ciphertext  # fresh nonce


def test_no_passphrase_round_trips_as_none() -> None:
    vault = _vault()
    creds = Credentials(api_key=Secret("a"), secret=Secret("b"))
    assert vault.open(vault.seal(creds, user_id=1, account_id=1), user_id=1, account_id=1) == creds


@pytest.mark.parametrize(("user_id", "account_id"), [(1, 3), (2, 2), (9, 9)])
def test_a_ciphertext_moved_to_another_row_does_not_decrypt(user_id: int, account_id: int) -> None:
    vault = _vault()
    sealed = vault.seal(CREDS, user_id=1, account_id=2)
    with pytest.raises(CredentialError, match="cannot be decrypted") as info:
        vault.open(sealed, user_id=user_id, account_id=account_id)
    assert not any(text in str(info.value) for text in PLAINTEXTS)


def test_every_flipped_byte_is_detected() -> None:
    vault = _vault()
    sealed = vault.seal(CREDS, user_id=1, account_id=2)
    prefix, body = sealed.ciphertext.rsplit(":", 1)
    raw = base64.urlsafe_b64decode(body)
    for index in range(len(raw)):
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        text = f"{prefix}:{base64.urlsafe_b64encode(bytes(flipped)).decode()}"
        with pytest.raises(CredentialError):
            vault.open(replace(sealed, ciphertext=text), user_id=1, account_id=2)


def test_a_header_claiming_another_key_version_fails() -> None:
    old = parse_keyring(generate_key(1), source="old")
    keyring = old.with_current(MasterKey(2, os.urandom(32)))
    vault = Vault(keyring)
    sealed = vault.seal(CREDS, user_id=1, account_id=2)
    forged = sealed.ciphertext.replace("mg1:2:", "mg1:1:", 1)
    with pytest.raises(CredentialError):
        vault.open(replace(sealed, ciphertext=forged), user_id=1, account_id=2)


def test_a_missing_key_version_is_named_in_the_error() -> None:
    sealed = _vault(version=3).seal(CREDS, user_id=1, account_id=2)
    with pytest.raises(CredentialError, match="version 3, which is not configured"):
        _vault(version=1).open(sealed, user_id=1, account_id=2)


def test_the_wrong_master_key_fails() -> None:
    sealed = _vault().seal(CREDS, user_id=1, account_id=2)
    with pytest.raises(CredentialError, match="cannot be decrypted"):
        _vault().open(sealed, user_id=1, account_id=2)


def test_keyring_text_formats() -> None:
    raw = base64.b64encode(b"k" * 32).decode()
    assert parse_keyring(raw, source="s").current.version == 1
    ring = parse_keyring(f"v3:{raw},\n v2:{base64.b64encode(b'j' * 32).decode()}\n", source="s")
    assert ring.versions == (3, 2)
    assert ring.current.key == b"k" * 32
    assert "kkkk" not in repr(ring) and raw not in repr(ring)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("not base64!!", "not 'v<N>"),
        ("v1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
        ("v0:" + base64.b64encode(b"k" * 32).decode(), "between 1 and"),
        ("v1:{k},v1:{k}".format(k=base64.b64encode(b"k" * 32).decode()), "appears twice"),
        ("v1:QUJD$", "not 'v<N>"),
    ],
)
def test_malformed_keys_stop_with_a_clear_message_that_hides_the_key(
    text: str, problem: str
) -> None:
    with pytest.raises(CredentialError, match="MARTINGALE_MASTER_KEY") as info:
        parse_keyring(text, source="MARTINGALE_MASTER_KEY")
    assert problem in str(info.value)
    if len(text) > 8:
        assert text.rsplit(":", maxsplit=1)[-1] not in str(info.value)


def test_load_keyring_needs_exactly_one_source(tmp_path: Path) -> None:
    key = generate_key(2)
    path = tmp_path / "master.key"
    path.write_text(key + "\n")
    assert load_keyring(env_value=None, key_file=path).current.version == 2
    assert load_keyring(env_value=key, key_file=None).current.version == 2
    with pytest.raises(CredentialError, match="no master key"):
        load_keyring(env_value=None, key_file=None)
    with pytest.raises(CredentialError, match="use one of them"):
        load_keyring(env_value=key, key_file=path)
    with pytest.raises(CredentialError, match="cannot be read"):
        load_keyring(env_value=None, key_file=tmp_path / "missing.key")


def test_rotation_keyring_refuses_a_reused_version_or_key() -> None:
    ring = parse_keyring(generate_key(1), source="s")
    with pytest.raises(CredentialError, match="generate it with"):
        ring.with_current(MasterKey(1, os.urandom(32)))
    with pytest.raises(CredentialError, match="same key"):
        ring.with_current(MasterKey(2, ring.current.key))


def test_secrets_never_show_in_repr_str_or_format() -> None:
    for shown in (repr(CREDS), str(CREDS), f"{CREDS.secret}", f"{CREDS.api_key!r}", repr(_vault())):
        assert not any(text in shown for text in PLAINTEXTS)
    assert CREDS.secret.reveal() == "SK-very-secret-abcdef"
    with pytest.raises(TypeError):
        pickle.dumps(CREDS.secret)


# Ciphertexts sealed by the vault before `Vault.open` went through the shared `_open`: rows
# already in databases look like these, and must keep opening (the stored format is fixed).
FIXTURE_KEYS = (
    "v2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,"
    "v1:ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM="
)
FIXTURE_V2 = (  # user 4, account 7, under key version 2, with a passphrase
    "mg1:2:s6e0G9adRURucFLxd0lPop6F1RO3bztYqlDHMFb_nMI-XsIW2Iwd-yDRDKMwkSsl62BtkOcoLlyAkWYtHXa"
    "lFRPiRSMPzllAmQI0SVzulNwxf-ICuEGUtqW_y3ca7UUud971btUwIVdPHRW-NGY9"
)
FIXTURE_V1 = (  # user 4, account 8, under key version 1, no passphrase
    "mg1:1:nmc117RRWx-ErJp6GHQzoq2dPvLshyElyivHAdHFOyY3av15vqJk3fnKl8DpgZWtgXvhCAe-VyOdmzhY86KQ"
    "A3SffffOjE-BkQ=="
)


def test_ciphertexts_stored_by_earlier_versions_still_open() -> None:

    vault = Vault(parse_keyring(FIXTURE_KEYS, source="test"))
    newer = SealedCredentials(ciphertext=FIXTURE_V2, key_version=2, fingerprint="61d7452c49a8c0af")
    older = SealedCredentials(ciphertext=FIXTURE_V1, key_version=1, fingerprint="dc085b33b5f68e25")

    assert vault.open(newer, user_id=4, account_id=7) == Credentials(
        api_key=Secret("AK-fixture-1"),
        secret=Secret("SK-fixture-2"),
        passphrase=Secret("PP-fixture-3"),
    )
    assert vault.open(older, user_id=4, account_id=8) == Credentials(
        api_key=Secret("AK-old-1"), secret=Secret("SK-old-2")
    )
    with pytest.raises(CredentialError, match="belongs to another account"):
        vault.open(newer, user_id=4, account_id=8)  # still bound to its own row


def test_what_seal_writes_opens_as_the_earlier_format_did() -> None:
    """The layout of a new ciphertext is the stored one: mg1, key version, nonce || box,
    and its associated data is the account binding (decrypted here by hand)."""
    keyring = parse_keyring(FIXTURE_KEYS, source="test")
    sealed = Vault(keyring).seal(CREDS, user_id=4, account_id=7)
    fmt, version, body = sealed.ciphertext.split(":")
    raw = base64.urlsafe_b64decode(body)
    data = b"martingale/mg1\0user=4\0account=7\0purpose=exchange-credentials\0key=2"
    plain = AESGCM(keyring.current.key).decrypt(raw[:12], raw[12:], data)
    assert (fmt, version, sealed.key_version) == ("mg1", "2", 2)
    assert json.loads(plain) == {
        "api_key": "AK-live-0123456789",
        "secret": "SK-very-secret-abcdef",
        "passphrase": "pass-phrase-42",
    }


def test_a_missing_key_version_says_where_to_add_it() -> None:
    sealed = _vault(version=3).seal(CREDS, user_id=1, account_id=2)
    with pytest.raises(CredentialError, match="after the current key") as info:
        _vault(version=1).open(sealed, user_id=1, account_id=2)
    assert "account 2" in str(info.value)
