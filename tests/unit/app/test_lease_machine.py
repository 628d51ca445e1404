"""How a process tells a dead sibling on its machine (app.leases): its pid, zombies included."""

from __future__ import annotations

import os
import subprocess
import time

from app.leases import idle_timeout, machine, pid_alive


def test_a_killed_child_is_dead_even_before_it_is_reaped() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while pid_alive(child.pid):  # a zombie until waited for: dead all the same
            assert time.monotonic() < deadline, "a killed child still looks alive"
            time.sleep(0.01)
    finally:
        child.wait()
    assert not pid_alive(child.pid)


def test_this_processs_own_pid_is_a_dead_predecessors() -> None:
    assert not pid_alive(os.getpid())  # a row with it is an earlier process's, reused pid
    assert pid_alive(1)


def test_the_machine_name_is_stable_and_bounded() -> None:
    assert machine() == machine()
    assert len(machine()) <= 64


def test_silent_connections_outlive_a_few_leases_never_under_ten_seconds() -> None:
    assert idle_timeout(20) == 60
    assert idle_timeout(2) == 10
