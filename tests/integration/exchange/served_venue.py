"""A paper venue served over loopback in a thread (`app.venue_server` on uvicorn, as
`martingale paper-venue` serves it), and the `RemoteVenue` client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.venue_server import venue_app
from domain.secrets import Secret
from exchange.paper import PaperVenue
from exchange.paper.remote import RemoteVenue
from web.server import WebServer

TOKEN = Secret("paper-venue-test-token-0123456789")


@contextmanager
def serving(venue: PaperVenue, token: Secret = TOKEN) -> Iterator[str]:
    """The venue's URL while it is served (on a port the OS picks)."""
    server = WebServer(venue_app(venue, token), host="127.0.0.1", port=0, setting="paper.serve")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.bound_port}"
    finally:
        server.stop()


@contextmanager
def remote(venue: PaperVenue, **kwargs: float) -> Iterator[RemoteVenue]:
    """A client of `venue` served over loopback; closed, then the server stopped, on exit."""
    with serving(venue) as url:
        client = RemoteVenue(url, TOKEN, name=venue.name, **kwargs)
        try:
            yield client
        finally:
            client.close()
