"""The production files (deploy/systemd, Dockerfile, compose.yaml, docs/production.md) stay
true to the code: every `martingale ...` line in them is a real command with real options, the
unit's stop timeout covers the service's own graceful stop, and the configs they ship load."""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from actors import leases
from app import bootstrap, web_process
from app.cli import build_parser
from config.loader import load_config, parse_config
from config.secrets import resolved_url
from persistence.lease_book import LEASE_S
from tests.unit.deploy.cli_lines import (
    CommandLine,
    commands_in,
    markdown_commands,
    problem,
)

ROOT = Path(__file__).resolve().parents[3]
SYSTEMD = ROOT / "deploy" / "systemd"
DOCS = ROOT / "docs" / "production.md"
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_CONFIG = ROOT / "deploy" / "compose" / "martingale.yaml.example"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    assert parser.read(SYSTEMD / name), name
    return parser


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def seconds(value: str) -> float:
    """A systemd or compose time span: 240s, 4m, 2min, 1h, 5min30s."""
    factors = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*([a-z]*)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), value
    return sum(int(n) * factors[u] for n, u in parts)


def graceful_stop_bound_s() -> float:
    """The longest a `martingale run` stop can take by the service's own timeouts: the web
    process (end: stdin, terminate, kill, each waited STOP_TIMEOUT_S; the watcher's join), the
    bridge (5 s), the actor tree, the timers (5 s), leftover actors (10 s), the lease keeper's
    round under way (MySQL)."""
    web = 4 * web_process.STOP_TIMEOUT_S + 5
    keeper = LEASE_S / 4 + leases.STOP_JOIN_S
    return web + bootstrap.ROOT_STOP_TIMEOUT_S + 5 + 10 + keeper + 5


# --- the command lines ---------------------------------------------------------------------


def dockerfile_commands() -> list[CommandLine]:
    text = DOCKERFILE.read_text()
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert entry and cmd, "the Dockerfile has an exec-form ENTRYPOINT and CMD"
    assert yaml.safe_load(entry[1]) == ["martingale"]
    return [CommandLine("Dockerfile CMD", tuple(yaml.safe_load(cmd[1])), True)]


def compose_commands() -> list[CommandLine]:
    found: list[CommandLine] = []
    for name, service in compose()["services"].items():
        if not str(service.get("image", "")).startswith("martingale"):
            continue
        entrypoint = service.get("entrypoint")
        if entrypoint is None:  # the image's: martingale
            found.append(CommandLine(f"compose {name}", tuple(service["command"]), True))
        else:
            assert entrypoint[:2] == ["sh", "-c"], name
            found += commands_in(entrypoint[2].replace("$$", "$"), f"compose {name}", whole=True)
    return found


def unit_commands() -> list[CommandLine]:
    found: list[CommandLine] = []
    for path in sorted(SYSTEMD.glob("*.service")):
        for key, value in unit(path.name)["Service"].items():
            if key.startswith("Exec"):
                found += commands_in(value, f"{path.name} {key}", whole=True)
    return found


def all_commands() -> list[CommandLine]:
    return [
        *unit_commands(),
        *compose_commands(),
        *dockerfile_commands(),
        *markdown_commands(DOCS.read_text(), "docs/production.md"),
    ]


def test_every_martingale_command_line_is_a_real_command_with_real_options() -> None:
    parser = build_parser()
    lines = all_commands()
    problems = [f"{c.where}: {p}" for c in lines if (p := problem(parser, c)) is not None]
    assert problems == []
    ran = {c.args[:2] for c in lines if c.whole}
    # The lines that matter were found at all (the check cannot pass on an empty list).
    assert {("run", "--config"), ("db", "upgrade"), ("db", "backup"), ("keys", "generate")} <= ran
    assert len([c for c in lines if c.where.startswith("docs/")]) >= 15


@pytest.mark.parametrize(
    ("text", "whole", "expected"),
    [
        ("martingale db upgrad", True, "is not a command"),
        ("/opt/martingale/bin/martingale run --config x.yaml --bogus", True, "unrecognized"),
        ("martingale keys rotate-master", True, "--new-key-file"),
        ("martingale status --jsn", False, "has no option --jsn"),
        ("martingale doctor --config x --fix", False, "`martingale doctor` has no option --fix"),
        ("martingale keys", True, "needs a subcommand"),
    ],
)
def test_the_checker_refuses_wrong_lines(text: str, whole: bool, expected: str) -> None:
    [line] = list(commands_in(text, "here", whole=whole))
    found = problem(build_parser(), line)
    assert found is not None and expected in found


def test_the_checker_accepts_right_lines_and_skips_what_is_no_command() -> None:
    parser = build_parser()
    text = (
        "useradd --system --home-dir /var/lib/martingale martingale; "
        "systemctl restart martingale && sudo -u martingale "
        "/opt/martingale/bin/martingale keys rotate-master --new-key-file n.key > out"
    )
    [line] = list(commands_in(text, "here", whole=True))
    assert line.args == ("keys", "rotate-master", "--new-key-file", "n.key")
    assert problem(parser, line) is None
    mention = next(commands_in("martingale keys rotate-master", "prose", whole=False))
    assert problem(parser, mention) is None  # a mention need not carry required options
    spans = list(markdown_commands("See `martingale db\nupgrade --db URL` first.\n", "x.md"))
    assert [s.args for s in spans] == [("db", "upgrade", "--db", "URL")]


# --- systemd -------------------------------------------------------------------------------


def test_service_unit_restarts_stops_and_is_hardened_as_documented() -> None:
    service = unit("martingale.service")["Service"]
    assert service["Type"] == "exec"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # a bad config: a restart cannot fix it
    assert seconds(service["RestartSec"]) > 0
    assert service["KillMode"] == "mixed"  # the service stops its web process itself
    assert seconds(service["TimeoutStopSec"]) >= graceful_stop_bound_s()
    assert int(service["TasksMax"]) >= 12_000  # ~10,000 strategies, a thread each, and users
    assert int(service["LimitNOFILE"]) >= 65_536
    assert service["User"] not in ("root", "0") and service["User"] == service["Group"]
    assert service["ProtectSystem"] == "strict"
    assert service["WorkingDirectory"] in service["ReadWritePaths"].split()
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert service[option] == "yes", option
    assert {"AF_UNIX", "AF_INET", "AF_INET6"} == set(service["RestrictAddressFamilies"].split())
    assert service["SystemCallFilter"] == "@system-service"
    assert service["UMask"] == "0077"


def test_backup_service_and_timer() -> None:
    service = unit("martingale-backup.service")["Service"]
    timer = unit("martingale-backup.timer")
    assert service["Type"] == "oneshot"
    assert service["User"] == unit("martingale.service")["Service"]["User"]
    args = service["ExecStart"].split()
    output = args[args.index("--output") + 1]
    assert output in service["ReadWritePaths"].split()
    assert "Unit" not in timer["Timer"]  # so it starts martingale-backup.service, by name
    assert timer["Timer"]["OnCalendar"] and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


# --- containers ----------------------------------------------------------------------------


def test_dockerfile_builds_slim_non_root_with_constraints_and_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert [s.split()[0] for s in stages] == ["python:3.11-slim", "python:3.11-slim"]
    assert "-c constraints.txt" in stages[0]
    final = stages[-1]
    assert not re.search(r"build-essential|\bgcc\b|\bg\+\+|-dev\b", final)
    assert "COPY --from=build /opt/martingale /opt/martingale" in final
    user = re.findall(r"^USER (\S+)$", final, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "/health/live" in re.search(r"^HEALTHCHECK[\s\S]*?\n(?=\S)", final, re.M)[0]  # type: ignore[index]
    assert re.search(r'^VOLUME \["/var/lib/martingale/var"\]$', final, re.M)
    assert "WORKDIR /var/lib/martingale\n" in final  # so var/ is the volume


def test_compose_waits_for_mariadb_and_keeps_the_master_key_a_secret_file() -> None:
    data = compose()
    services = data["services"]
    mariadb, app = services["mariadb"], services["martingale"]
    assert mariadb["healthcheck"]["test"]
    assert app["depends_on"]["mariadb"]["condition"] == "service_healthy"
    assert "--collation-server=utf8mb4_bin" in mariadb["command"]
    assert "--innodb-flush-log-at-trx-commit=1" in mariadb["command"]
    secrets = {s["source"]: s["target"] for s in app["secrets"] if isinstance(s, dict)}
    assert data["secrets"]["master_key"]["file"].startswith("./secrets/")
    assert secrets["master_key"] == "master.key"
    # The database password is a secret file the config names (database.password_file).
    for name in ("martingale", "migrate", "backup"):
        assert "db_password" in services[name]["secrets"], name
    assert services["migrate"]["command"] == [
        "db",
        "upgrade",
        "--config",
        "/run/secrets/martingale.yaml",
    ]
    for name, service in services.items():
        env = service.get("environment", {})
        assert "MARTINGALE_MASTER_KEY" not in env, name
        assert not any("PASSWORD" in k and not k.endswith("_FILE") for k in env), name
    assert "/secrets/" in (ROOT / ".gitignore").read_text().split()
    assert any(v.endswith(":/var/lib/martingale/var") for v in app["volumes"])
    assert seconds(app["stop_grace_period"]) >= graceful_stop_bound_s()
    assert all("tools" in services[n]["profiles"] for n in ("migrate", "backup"))


# --- the configs they ship -----------------------------------------------------------------


def test_compose_config_example_loads_and_serves_the_healthcheck_port(tmp_path: Path) -> None:
    (tmp_path / "master.key").write_text("v1:" + "A" * 43 + "=\n")
    (tmp_path / "master.key").chmod(0o600)
    (tmp_path / "db_password").write_text("s3cret\n")
    (tmp_path / "db_password").chmod(0o600)
    config_file = tmp_path / "martingale.yaml"
    config_file.write_text(COMPOSE_CONFIG.read_text())
    config = load_config(config_file)
    assert config.master_key_file == tmp_path / "master.key"
    assert resolved_url(config) == "mysql+pymysql://martingale:s3cret@mariadb:3306/martingale"
    assert config.logging.format == "json"
    assert config.web.host == "0.0.0.0"
    healthcheck = re.search(r"http://127\.0\.0\.1:(\d+)/health/live", DOCKERFILE.read_text())
    assert healthcheck and int(healthcheck[1]) == config.web.port


def test_the_config_in_the_docs_loads(tmp_path: Path) -> None:
    blocks = re.findall(
        r"```yaml\n(# /etc/martingale/martingale.yaml\n[\s\S]*?)```", DOCS.read_text()
    )
    assert len(blocks) == 1
    (tmp_path / "master.key").write_text("v1:" + "A" * 43 + "=\n")
    (tmp_path / "db.password").write_text("s3cret\n")
    (tmp_path / "db.password").chmod(0o600)
    config = parse_config(blocks[0], name="docs/production.md", base_dir=tmp_path)
    assert config.master_key_file == tmp_path / "master.key"
    assert resolved_url(config).startswith("mysql+pymysql://martingale:s3cret@127.0.0.1")


def test_readme_links_the_production_docs() -> None:
    assert "docs/production.md" in (ROOT / "README.md").read_text()
