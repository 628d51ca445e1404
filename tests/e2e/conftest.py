"""End-to-end tests: the running service (in-process `Service` or `martingale run` processes)
on the paper exchange, judged by what it leaves in the database and the venue file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import ServiceProcess


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    """Processes a test started; any still running at teardown (a failed test) is killed,
    by its own handle, so no service outlives its test."""
    started: list[ServiceProcess] = []
    yield started
    for service in started:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait(timeout=30)
