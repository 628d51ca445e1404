"""A loopback TCP proxy that can go silent: what a half-open connection looks like to a client.

While frozen it reads and drops every byte both ways and sends nothing, not even a FIN (a peer
gone behind a dead VPN or a failed-over address): a client that gives up and closes leaves its
server session alive. New connections are accepted and then hear nothing either. Thawed, it forwards again; connections that lost bytes stay useless, as they
would in life, and fresh ones work.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest


class FreezableProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        """Cut: nothing listens any more (new connections are refused) and every connection
        is dropped. The shutdown wakes the accept thread: on Linux a bare close() of a socket
        another thread is blocked accepting on leaves it listening."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._flowing.is_set():
                    dst.sendall(data)
        except OSError:
            pass
        if not self._flowing.is_set():
            return  # a close is not passed on either: the other side still sees the peer up
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxy(mysql_url: str) -> Iterator[FreezableProxy]:
    """A proxy to the test's MySQL server (import it into a test module to use it)."""
    parts = urlsplit(mysql_url)
    running = FreezableProxy(parts.hostname or "127.0.0.1", parts.port or 3306)
    try:
        yield running
    finally:
        running.close()


def through(url: str, proxy: FreezableProxy) -> str:
    """`url` (a MySQL URL) with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = f"{parts.username or 'root'}"
    if parts.password:
        netloc += f":{parts.password}"
    return urlunsplit(parts._replace(netloc=f"{netloc}@127.0.0.1:{proxy.port}"))
