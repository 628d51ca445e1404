"""Signal keys on the in-memory repository: what is stored, what is shown, and the binding of
the sealed secret to its strategy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.errors import CredentialError
from persistence.memory import MemoryRepository
from persistence.records import DesiredState
from persistence.vault import Vault, generate_key, parse_keyring
from services.account_input import MasterKeyProblem
from services.signals import SignalKeyExists, issue_signal_key, open_secret
from services.tokens import token_digest

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PARAMS = {
    "base_order": Decimal(10),
    "safety_order": Decimal(20),
    "max_safety_orders": 3,
    "price_deviation": Decimal("1.5"),
    "take_profit": Decimal("1.5"),
    "start_condition": {"type": "signal", "max_lag": "60"},
}


def world() -> tuple[MemoryRepository, Vault, list[int]]:
    repo = MemoryRepository()
    user = repo.upsert_user("alice", now=NOW)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=NOW)
    ids = [
        repo.upsert_strategy(
            user.id,
            name,
            account_id=account.id,
            symbol="ETH/USDT",
            params=PARAMS,
            desired_state=DesiredState.RUNNING,
            now=NOW,
        ).id
        for name in ("a", "b")
    ]
    return repo, Vault(parse_keyring(generate_key(), source="test")), ids


def test_only_the_token_hash_and_the_sealed_secret_are_stored() -> None:
    repo, vault, (a, _) = world()
    issued = issue_signal_key(repo, vault, repo.get_strategy(a), now=NOW)
    assert issued.token.startswith("mgw_") and len(issued.token) >= 4 + 43
    assert issued.secret not in repr(issued) and issued.token not in repr(issued)
    stored = repo.find_signal_key(token_digest(issued.token))
    assert stored is not None and stored.strategy_id == a
    assert issued.secret not in stored.secret_ciphertext
    assert stored.secret_ciphertext not in repr(stored)
    assert open_secret(vault, stored).reveal() == issued.secret


def test_a_secret_moved_to_another_strategy_does_not_open() -> None:
    repo, vault, (a, b) = world()
    issued = issue_signal_key(repo, vault, repo.get_strategy(a), now=NOW)
    stored = repo.get_signal_key(a)
    assert stored is not None
    with pytest.raises(CredentialError) as err:
        open_secret(vault, replace(stored, strategy_id=b))
    assert issued.secret not in str(err.value)


def test_a_second_key_needs_rotate_and_no_master_key_means_none() -> None:
    repo, vault, (a, _) = world()
    issue_signal_key(repo, vault, repo.get_strategy(a), now=NOW)
    with pytest.raises(SignalKeyExists, match="rotate"):
        issue_signal_key(repo, vault, repo.get_strategy(a), now=NOW)
    with pytest.raises(MasterKeyProblem, match="master key"):
        issue_signal_key(repo, None, repo.get_strategy(a), now=NOW, rotate=True)
