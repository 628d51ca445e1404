"""`martingale run` serves the REST API (issue 12, "Serving"), from a process of its own by
default (app.web_process): an API client drives the running service through it, a SIGTERM
closes the web before the actors, and a SIGKILL of the service takes the web down with it.

The port is 0 (the OS picks a free one) and read back from the service's log
(`ServiceProcess.web_port`), so parallel test workers never fight over 8000.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from persistence.migrate import upgrade
from tests.e2e.configs import trading_config
from tests.e2e.harness import MARTINGALE, ServiceProcess, launch, wait_for

PARAMS = {
    "base_order": "20",
    "safety_order": "40",
    "max_safety_orders": 3,
    "price_deviation": "0.5",
    "take_profit": "0.3",
}


def _token(tmp_path: Path, config: Path, user: str) -> str:
    made = subprocess.run(
        [MARTINGALE, "users", "token", "create", user, "--name", "e2e", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@pytest.mark.slow
def test_an_api_client_drives_the_running_service_and_sigterm_closes_the_web_first(
    tmp_path: Path, db_url: str, processes: list[ServiceProcess]
) -> None:
    config = trading_config(tmp_path, db_url, moving=True, name="service.yaml")
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["web"] = {"host": "127.0.0.1", "port": 0}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    upgrade(db_url)
    run = launch(["run", "--config", str(config)], cwd=tmp_path, log=tmp_path / "run.log")
    processes.append(run)
    run.wait_started()
    base = f"http://127.0.0.1:{run.web_port()}"
    token = _token(tmp_path, config, "alice")
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    assert httpx.get(f"{base}/health/live").status_code == 200
    mine = {s["name"]: s for s in api.get("/api/v1/strategies").json()}
    assert set(mine) == {"btc", "sol"}  # alice's only

    # A command through the API reaches the engine: it reports itself paused.
    paused = api.post(f"/api/v1/strategies/{mine['btc']['id']}/actions/pause")
    assert paused.status_code == 200, paused.text
    wait_for(
        lambda: api.get(f"/api/v1/strategies/{mine['btc']['id']}").json()["actual_state"],
        lambda state: state == "paused",
        what="the engine to pause",
    )

    # A strategy created through the API starts trading in the running service.
    created = api.post(
        "/api/v1/strategies",
        json={"name": "api-btc", "account": "main", "symbol": "BTC/USDT", "params": PARAMS},
    )
    assert created.status_code == 201, created.text
    assert created.json()["plan"]["levels"], created.json()
    new_id = created.json()["strategy"]["id"]
    wait_for(
        lambda: api.get(f"/api/v1/strategies/{new_id}/orders").json()["items"],
        lambda items: len(items) > 0,
        what="the new strategy's first order",
        timeout=120,
    )

    assert run.stop(signal.SIGTERM) == 0, run.output()[-3000:]
    log = run.output()
    web_stopped = log.index("web server stopped")
    assert web_stopped < log.index("service stopped")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/health/live", timeout=5)


@pytest.mark.slow
def test_the_web_process_never_outlives_a_killed_service(
    tmp_path: Path, db_url: str, processes: list[ServiceProcess]
) -> None:
    """`web.mode: process` (the default): SIGKILL leaves the service no time to stop its web;
    the web sees its stdin close and exits on its own, freeing the port for the next start."""
    config = trading_config(tmp_path, db_url, moving=True, name="service.yaml")
    data: dict[str, Any] = yaml.safe_load(config.read_text())
    data["web"] = {"host": "127.0.0.1", "port": 0}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    upgrade(db_url)
    run = launch(["run", "--config", str(config)], cwd=tmp_path, log=tmp_path / "run.log")
    processes.append(run)
    run.wait_started()
    base = f"http://127.0.0.1:{run.web_port()}"
    assert httpx.get(f"{base}/health/live").status_code == 200
    assert run.stop(signal.SIGKILL) == -signal.SIGKILL

    def refused() -> bool:
        try:
            httpx.get(f"{base}/health/live", timeout=2)
        except httpx.TransportError:
            return True
        return False

    wait_for(refused, lambda gone: gone, what="the orphaned web to exit", timeout=30)
