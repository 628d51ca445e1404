"""Each account's Exchange client, built from its database row: the one recipe the service and
the REST API share.

The row, not the config file, says which exchange and environment (sandbox / base_url) an
account trades on, so a client built here and the account's price feed always agree, and an
account created through the API gets the same client as one from the file. Here in app/, the
composition root, because only app/ chooses adapters; the web is handed the result.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.errors import ConfigurationError
from domain.venues import paper_account_key
from exchange.ccxt_adapter.adapter import CcxtExchange
from exchange.ccxt_adapter.client import CcxtConfig
from exchange.paper import PaperExchange
from exchange.paper.exchange import Venue
from exchange.port import Exchange
from persistence.credentials import load_credentials
from persistence.repository import Repository
from persistence.vault import Vault

PAPER = "paper"

__all__ = ["PAPER", "account_exchanges", "paper_account_key"]


def account_exchanges(
    repo: Repository,
    *,
    vault: Vault | None,
    venue: Venue | None,
    paper: Callable[[str], Exchange] | None = None,
) -> Callable[[int], Exchange]:
    """account id -> a new client for it (the caller closes it). Paper accounts trade on
    `venue`, or get `paper(account key)` when given (the web process's view of the service's
    venue); live ones need `vault` to open their stored key."""

    def exchange_for(account_id: int) -> Exchange:
        account = repo.get_account(account_id)
        user = repo.get_user(account.user_id)
        if account.exchange == PAPER:
            if paper is not None:
                return paper(paper_account_key(user.name, account.name))
            if venue is None:
                raise ConfigurationError("no paper venue is configured", field="accounts")
            return PaperExchange(venue, paper_account_key(user.name, account.name))
        if vault is None:
            raise ConfigurationError("live accounts need the master key", field="master_key")
        credentials = load_credentials(repo, vault, account_id)
        if credentials is None:
            raise ConfigurationError(
                f"account {user.name}/{account.name} has no stored API key", field="accounts"
            )
        return CcxtExchange(
            CcxtConfig.for_account(
                account.exchange, credentials, sandbox=account.sandbox, base_url=account.base_url
            )
        )

    return exchange_for
