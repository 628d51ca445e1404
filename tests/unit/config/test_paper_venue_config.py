"""`paper:` for a served venue: `serve` (the venue process) or `venue_url` (its services), each
with its shared token; contradictions refused at load, naming the keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import ConfigError
from config.schema import ServiceConfig
from config.secrets import resolve_paper_token
from tests.unit.config.conftest import MINIMAL

TOKEN = "shared-venue-token-0123456789"


def _with(paper: str) -> str:
    return "paper:\n" + paper + MINIMAL


def test_a_service_on_a_served_venue_reads_its_token_from_the_environment(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    config = load_ok(
        _with("  venue_url: http://127.0.0.1:8765\n  venue_token_env: MG_PAPER_TOKEN\n")
    )
    assert config.paper.venue_url == "http://127.0.0.1:8765"
    token = resolve_paper_token(config, serving=False, env={"MG_PAPER_TOKEN": TOKEN})
    assert token.reveal() == TOKEN
    assert TOKEN not in repr(config) and TOKEN not in repr(token)


def test_the_venue_process_reads_its_token_from_a_private_file(
    load_ok: Callable[[str], ServiceConfig], tmp_path: Path
) -> None:
    (tmp_path / "venue.token").write_text(TOKEN + "\n", encoding="utf-8")
    (tmp_path / "venue.token").chmod(0o600)
    config = load_ok(
        _with("  state_file: v.sqlite\n  serve:\n    port: 8765\n    token_file: venue.token\n")
    )
    assert config.paper.serve is not None
    assert (config.paper.serve.host, config.paper.serve.port) == ("127.0.0.1", 8765)
    assert resolve_paper_token(config, serving=True, env={}).reveal() == TOKEN


def test_an_unset_token_variable_names_the_key(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(_with("  venue_url: http://127.0.0.1:8765\n  venue_token_env: MG_UNSET\n"))
    with pytest.raises(ConfigError, match=r"paper\.venue_token_env.*MG_UNSET"):
        resolve_paper_token(config, serving=False, env={})


@pytest.mark.parametrize(
    ("paper", "problem"),
    [
        (
            "  state_file: p.sqlite\n  venue_url: http://127.0.0.1:8765\n  venue_token_env: T\n",
            "venue_url and state_file exclude each other",
        ),
        (
            "  venue_url: http://127.0.0.1:8765\n  venue_token_env: T\n"
            "  serve:\n    port: 1\n    token_env: T\n",
            "venue_url and serve exclude each other",
        ),
        ("  venue_url: http://127.0.0.1:8765\n", "venue_token_env"),
        ("  venue_token_env: T\n", "go with venue_url only"),
        ("  venue_url: http://u:pw@127.0.0.1:8765\n  venue_token_env: T\n", "venue_url must"),
        ("  venue_url: http://127.0.0.1:8765/x\n  venue_token_env: T\n", "venue_url must"),
        ("  serve:\n    port: 8765\n", "token_env"),
        ("  serve:\n    token_env: T\n", "port"),
        ("  serve:\n    port: 1\n    token_env: T\n    token_file: f\n", "not both"),
    ],
)
def test_contradictions_are_refused_at_load_naming_the_keys(
    load_error: Callable[[str], ConfigError], tmp_path: Path, paper: str, problem: str
) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    (tmp_path / "f").chmod(0o600)
    error = load_error(_with(paper))
    assert "paper" in str(error) and problem in str(error)
    assert "pw@" not in str(error)
