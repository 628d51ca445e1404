"""The `paper:` section of the config file: where the paper exchange lives.

Three ways, one per process kind:

- ``state_file`` only (the default, ``var/paper.sqlite``): `martingale run` opens the venue
  file itself, one process its one owner.
- ``state_file`` and ``serve``: `martingale paper-venue` opens the file and serves it over HTTP
  on ``serve.host:serve.port`` (loopback by default) to holders of the token
  (``serve.token_env`` or ``serve.token_file``).
- ``venue_url`` (+ ``venue_token_env`` or ``venue_token_file``): `martingale run` trades on
  that served venue and opens no file; several service processes share it. Exclusive with
  ``state_file`` and ``serve``.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, model_validator

from config.fields import EnvName, Int, SecretFilePath, StrictModel, WritablePath

DEFAULT_PAPER_STATE_FILE = Path("var/paper.sqlite")
LOOPBACK = "127.0.0.1"

_URL = re.compile(r"^https?://(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}/?$")
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45})$")


def _one_token(env: str | None, file: object, where: str) -> None:
    if env is not None and file is not None:
        raise ValueError(f"give {where}token_env or {where}token_file, not both")
    if env is None and file is None:
        raise ValueError(
            f"needs the shared token: {where}token_env (an environment variable name) or "
            f"{where}token_file (a private file)"
        )


class PaperServe(StrictModel):
    """Where `martingale paper-venue` listens, and the token every request must carry."""

    host: str = Field(default=LOOPBACK, min_length=1, max_length=253)
    port: Int = Field(ge=1, le=65535)
    token_env: EnvName | None = None
    token_file: SecretFilePath | None = None

    @model_validator(mode="after")
    def _checks(self) -> PaperServe:
        if not _HOST.match(self.host):
            raise ValueError("host must be a host name or an IP address, e.g. 127.0.0.1")
        _one_token(self.token_env, self.token_file, "")
        return self


class PaperConfig(StrictModel):
    state_file: WritablePath = DEFAULT_PAPER_STATE_FILE
    serve: PaperServe | None = None
    venue_url: str | None = None
    venue_token_env: EnvName | None = None
    venue_token_file: SecretFilePath | None = None

    @model_validator(mode="after")
    def _one_venue(self) -> PaperConfig:
        if self.venue_url is None:
            if self.venue_token_env is not None or self.venue_token_file is not None:
                raise ValueError("venue_token_env / venue_token_file go with venue_url only")
            return self
        if not _URL.match(self.venue_url):
            raise ValueError(
                "venue_url must be http://HOST:PORT without a path or credentials, e.g. "
                "http://127.0.0.1:8765 (the paper.serve address of `martingale paper-venue`)"
            )
        if "state_file" in self.model_fields_set:
            raise ValueError(
                "venue_url and state_file exclude each other: a service on a served venue "
                "opens no venue file (the venue process does); remove state_file"
            )
        if self.serve is not None:
            raise ValueError(
                "venue_url and serve exclude each other: serve belongs in the venue "
                "process's config, venue_url in the services'"
            )
        _one_token(self.venue_token_env, self.venue_token_file, "venue_")
        return self
