"""An office IT person's road, from an empty server to a town's first published month,
as the README's "Production" section tells it: the wheel built from the repo and
installed into a fresh venv outside the checkout (not editable), PostgreSQL,
JIFEN_ENV=production, the first admin, a roster import, member accounts, ``jifen serve``
behind nginx with TLS and the trusted-proxy setting; then, over HTTPS through nginx, a
member declares last month's study session, the secretary approves it, the office publishes
last month; then a backup, a restore into a second database, and the checks on both.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.operator.harness import (
    PROJECT_ROOT,
    Installed,
    Jifen,
    NginxPorts,
    Person,
    Process,
    build_and_install,
    free_port,
    nginx_binary,
    nginx_config,
    operator_env,
    postgresql_databases,
    postgresql_problem,
    self_signed_certificate,
    start_process,
    unit_command,
)

pytestmark = [pytest.mark.operator, pytest.mark.timeout(600)]

IN_CI = os.environ.get("CI", "").lower() == "true"
MESSY_ROSTER = PROJECT_ROOT / "tests" / "fixtures" / "rosters" / "office-roster-gbk.csv"
TOWN = "Asia/Shanghai"
ADMIN_PASSWORD = "town office passphrase 2026"
# The people of the messy fixture that the journey uses (the clean roster has them too).
MEMBER = ("QX001", "周建国")
SECRETARY = ("QX002", "吴海燕")


def _missing_tools() -> str | None:
    missing = [name for name in ("openssl", "pg_dump", "pg_restore") if not shutil.which(name)]
    if nginx_binary() is None:
        missing.append("nginx")
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install nginx postgresql-client)"
    return postgresql_problem()


@pytest.fixture(scope="module")
def tools() -> None:
    problem = _missing_tools()
    if problem and not IN_CI:
        pytest.skip(f"the operator journey needs {problem}")
    assert problem is None, problem  # CI installs them (.ci/run): missing is a failure


def last_month_day(today: date) -> date:
    """The 10th of last month: inside the declaration window (declare_months_back = 1)."""
    first = today.replace(day=1)
    return (first - timedelta(days=1)).replace(day=10)


def test_from_an_empty_server_to_a_published_month(tools: None, tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    installed = build_and_install(tmp_path / "package")
    timings.update(installed.seconds)
    print("operator journey: installed", {k: round(v, 1) for k, v in timings.items()})
    instance = tmp_path / "srv-jifen"
    processes: list[Process] = []
    with postgresql_databases("main", "restored") as (database_url, restored_url):
        jifen = first_run(installed, instance, database_url)
        people = onboard(jifen, tmp_path)
        timings["setup to accounts"] = time.perf_counter() - started - sum(timings.values())
        try:
            served = time.perf_counter()
            server, ports, cert = serve_behind_nginx(jifen, tmp_path / "nginx", processes)
            through_nginx(jifen, server, ports, cert, people)
            timings["serve, declare, approve, publish"] = time.perf_counter() - served
            backed = time.perf_counter()
            backup_and_restore(jifen, instance, restored_url)
            timings["backup and restore"] = time.perf_counter() - backed
        finally:
            for process in reversed(processes):
                process.stop()
        for process in processes:
            assert process.process.poll() is not None, f"{process.name} still running"
    timings["total"] = time.perf_counter() - started
    print("operator journey timings (s):", {k: round(v, 1) for k, v in timings.items()})


# --- the steps -----------------------------------------------------------------------------


def first_run(installed: Installed, instance: Path, database_url: str) -> Jifen:
    """The instance folder and its settings, the schema, the first admin."""
    base = operator_env(env="production")
    instance.parent.mkdir(parents=True, exist_ok=True)
    jifen = Jifen(installed, instance.parent, base)
    # As the README says: the town and the address people open, told to init.
    jifen.ok("init", str(instance), "--town-name", "青溪镇", "--public-url", "https://localhost")
    config = instance / "jifen.env"
    for name in ("rules", "uploads", "roster-uploads", "backups"):
        assert (instance / name).is_dir(), f"jifen init made no {name}/"
    assert list((instance / "rules").glob("*.toml")), "jifen init copied no rulesets"
    written = config.read_text(encoding="utf-8")
    assert "JIFEN_PUBLIC_URL=https://localhost" in written
    assert 'JIFEN_ALLOWED_HOSTS=\'["localhost", "127.0.0.1"]\'' in written, written
    # The one line the README has the operator edit: PostgreSQL instead of SQLite.
    set_settings(config, JIFEN_DATABASE_URL=database_url)
    jifen = Jifen(installed, instance, {**base, "JIFEN_CONFIG": str(config)})

    assert jifen.ok("db", "upgrade").strip().startswith("database at revision")
    # The demo town stays out of production.
    assert jifen.run("seed", "demo").returncode == 1

    setup_env = {"JIFEN_SETUP_PASSWORD": ADMIN_PASSWORD}
    jifen.ok("setup", "--username", "admin", "--name", "镇党委组织办", env=setup_env)
    again = jifen.run("setup", "--username", "admin2", "--name", "x", env=setup_env)
    assert again.returncode == 1, "jifen setup must refuse once an admin exists"
    # The CLI acts as this office account (JIFEN_CLI_ACCOUNT; today: the only admin).
    jifen.env["JIFEN_CLI_ACCOUNT"] = "admin"
    return jifen


def set_settings(config: Path, **settings: str) -> None:
    """Set KEY=VALUE lines in a settings file, replacing a line of the same key."""
    lines = config.read_text(encoding="utf-8").splitlines() if config.exists() else []
    for key, value in settings.items():
        line = f"{key}={value}"
        matching = [i for i, old in enumerate(lines) if re.match(rf"\s*#?\s*{key}\s*=", old)]
        if matching:
            lines[matching[0]] = line
        else:
            lines.append(line)
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def onboard(jifen: Jifen, tmp: Path) -> dict[str, tuple[str, str]]:
    """Branches, an organisation, the roster, accounts; returns username → (initial
    password, new password) of the member and the secretary."""
    jifen.ok("branches", "create", "B001", "金湾工业园区联合党支部", "--kind", "joint")
    jifen.ok("branches", "create", "B002", "宝元鞋厂党支部", "--kind", "single")
    jifen.ok(
        "organisations",
        "create",
        "飞鹰汽车维修设备有限公司",
        "--branch",
        "B001",
        "--kind",
        "enterprise",
        "--employees",
        "120",
        "--owner",
        "周总",
    )

    roster = MESSY_ROSTER
    dry_run = jifen.ok("import", "members", str(roster))
    applied = jifen.ok("import", "members", str(roster), "--apply")
    assert applied != dry_run
    listed = jifen.ok("members", "list", "--branch", "B001")
    for code, name in (MEMBER, SECRETARY):
        assert code in listed and name in listed, listed

    secretary = created_password(
        jifen.ok(
            "accounts",
            "create",
            "wuhaiyan",
            "--name",
            SECRETARY[1],
            "--member",
            SECRETARY[0],
            "--role",
            "secretary:B001",
        )
    )
    sheet = tmp / "accounts-B001.xlsx"
    jifen.ok("accounts", "create-bulk", "--branch", "B001", "--sheet", str(sheet))
    username, member = bulk_password(sheet, MEMBER[1])
    return {
        username: (member, "member's own passphrase 2026"),
        "wuhaiyan": (secretary, "secretary's own passphrase 2026"),
    }


def created_password(printed: str) -> str:
    """The initial password `jifen accounts create` prints on its last line."""
    lines = printed.strip().splitlines()
    assert "initial password" in lines[0], printed
    return lines[-1].strip()


def bulk_password(sheet: Path, name: str) -> tuple[str, str]:
    """The username and one-time password of ``name`` in the sheet create-bulk wrote
    (a row holding the name; the username and password columns by their headings)."""
    from openpyxl import load_workbook

    rows = [
        [str(cell) if cell is not None else "" for cell in row]
        for row in load_workbook(sheet, read_only=True).active.iter_rows(values_only=True)
    ]

    def is_username(cell: str) -> bool:
        return "用户名" in cell or "username" in cell.lower()

    def is_password(cell: str) -> bool:
        return "密码" in cell or "password" in cell.lower()

    header_index = next(i for i, row in enumerate(rows) if any(map(is_username, row)))
    header = rows[header_index]
    user_col = next(i for i, cell in enumerate(header) if is_username(cell))
    pass_col = next(i for i, cell in enumerate(header) if is_password(cell))
    row = next(row for row in rows[header_index + 1 :] if name in row)
    return row[user_col], row[pass_col]


def serve_behind_nginx(
    jifen: Jifen, folder: Path, processes: list[Process]
) -> tuple[Process, NginxPorts, Path]:
    """`jifen serve` on a free port (JSON logs, trusted proxy, HTTPS) and nginx in front
    with a self-signed certificate; both appended to ``processes`` to be stopped."""
    folder.mkdir()
    ports = NginxPorts(http=free_port(), https=free_port(), upstream=free_port())
    jifen.env.update(
        {"JIFEN_TRUSTED_PROXY": "true", "JIFEN_HTTPS": "true", "JIFEN_LOG_FORMAT": "json"}
    )
    # The command of the shipped unit (deploy/systemd/jifen.service), on a free port.
    command = unit_command(
        "jifen.service",
        {
            "/opt/jifen/venv/bin/jifen": str(jifen.installed.jifen),
            "--port 8000": f"--port {ports.upstream}",
        },
    )
    assert command[1:] == [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(ports.upstream),
        "--workers",
        "2",
    ]
    server = start_process(
        "jifen serve",
        command,
        cwd=jifen.cwd,
        env=jifen.env,
        log_path=folder / "jifen.log",
        probe=f"http://127.0.0.1:{ports.upstream}/healthz",
    )
    processes.append(server)
    cert, key = self_signed_certificate(folder)
    config = nginx_config(folder, ports, cert, key)
    nginx = nginx_binary()
    assert nginx
    # nginx -t first, as the README says.
    checked = subprocess.run(
        [nginx, "-q", "-t", "-c", str(config), "-p", str(folder), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    processes.append(
        start_process(
            "nginx",
            [nginx, "-c", str(config), "-p", str(folder), "-e", str(folder / "error.log")],
            cwd=folder,
            env=dict(os.environ),
            log_path=folder / "nginx.out",
            probe=f"http://127.0.0.1:{ports.http}/",
        )
    )
    return server, ports, cert


def through_nginx(
    jifen: Jifen,
    server: Process,
    ports: NginxPorts,
    cert: Path,
    people: dict[str, tuple[str, str]],
) -> None:
    base = f"https://localhost:{ports.https}"
    redirect = httpx.get(f"http://localhost:{ports.http}/login?x=1", follow_redirects=False)
    assert redirect.status_code == 301
    assert redirect.headers["location"] == f"{base}/login?x=1"

    member_name, secretary_name = list(people)
    member = Person(base, cert)
    secretary = Person(base, cert)
    try:
        health = member.client.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        member.sign_in_first_time(member_name, *people[member_name])
        # Secure session cookie over HTTPS (JIFEN_HTTPS), HSTS on the answers.
        assert any(name.startswith("__Host-") for name in member.client.cookies)
        assert "strict-transport-security" in member.client.get("/").headers

        day = last_month_day(_town_today())
        declared = member.submit(
            "/entries/new",
            "/entries/new",
            {
                "rule_id": "study",
                "activity_date": day.isoformat(),
                "quantity": "1",
                "description": "参加支部集中学习:学习新修订的积分细则",
            },
        )
        assert declared.status_code == 303, declared.text
        assert declared.headers["location"] == "/entries?done=submitted"

        secretary.sign_in_first_time(secretary_name, *people[secretary_name])
        queue = secretary.client.get("/review")
        (entry_id,) = re.findall(r'action="/review/(\d+)/approve"', queue.text)
        approved = secretary.submit("/review", f"/review/{entry_id}/approve", {})
        assert approved.status_code == 303, approved.text
        mine = member.client.get("/entries")
        assert 'class="entry status-approved"' in mine.text

        month = f"{day:%Y-%m}"
        published = jifen.ok("publish", month)
        assert month in published
        assert jifen.ok("ledger", "verify")
        assert jifen.ok("publish", "verify")
        board = member.client.get(f"/boards/{month}")
        assert board.status_code == 200 and MEMBER[1] in board.text

        # The audit log has the member's sign-in from the client's real address (the
        # last hop of X-Forwarded-For), not nginx's own 127.0.0.2.
        audit = jifen.ok("audit", "list", "--account", member_name, "--limit", "50")
        assert "127.0.0.1" in audit and "127.0.0.2" not in audit, audit

        check_operations(member, server, ports, jifen)
        # The notice-board sheet names the committee and links the public address over
        # HTTPS, not the http://127.0.0.1 the app is reached at behind nginx.
        sheet = member.client.get(f"/boards/{month}/print").text
        assert "青溪镇党委" in sheet
        assert "https://localhost/" in sheet and "http://127.0.0.1" not in sheet
    finally:
        member.close()
        secretary.close()


def _town_today() -> date:
    from datetime import datetime

    return datetime.now(ZoneInfo(TOWN)).date()


def check_operations(person: Person, server: Process, ports: NginxPorts, jifen: Jifen) -> None:
    """/readyz, the JSON log lines and /metrics behind nginx."""
    ready = person.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True
    for name, check in body["checks"].items():
        assert check["ok"] is True, (name, check)

    page = person.client.get("/entries")
    request_id = page.headers["x-request-id"]
    time.sleep(0.5)  # the log line is written as the response goes out
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    (line,) = [entry for entry in lines if entry.get("request_id") == request_id]
    assert line["path"] == "/entries" and line["method"] == "GET"
    assert line["status"] == 200 and line["duration_ms"] >= 0
    # The client's address behind the trusted proxy, not the proxy's 127.0.0.2.
    assert line["client"] == "127.0.0.1", line
    assert line["account"]
    # The id nginx made ($request_id, in its access log) is the one Jifen logged.
    access = (server.log_path.parent / "access.log").read_text(encoding="utf-8")
    assert f"request_id={request_id}" in access, access[-2000:]

    # The public site never shows the metrics (the nginx site refuses them); a scraper
    # on the server itself reads them from Jifen's own port, loopback being allowed by
    # default (JIFEN_METRICS_ALLOW), as the README says.
    assert person.client.get("/metrics").status_code == 404
    metrics = httpx.get(f"http://127.0.0.1:{ports.upstream}/metrics", timeout=30)
    assert metrics.status_code == 200, metrics.text
    assert "# TYPE" in metrics.text and "jifen_http_requests_total" in metrics.text


def backup_and_restore(jifen: Jifen, instance: Path, restored_url: str) -> None:
    """`jifen backup` while serving; `jifen restore` refused on the served database;
    restored into the second database, where the ledger and the chain verify."""
    # The nightly backup as the shipped timer's service runs it, twice: a night's file
    # is named by the time, and --keep leaves the newest ones.
    nightly = unit_command(
        "jifen-backup.service",
        {"/opt/jifen/venv/bin/jifen": str(jifen.installed.jifen)},
    )
    for _night in range(2):
        done = subprocess.run(
            nightly,
            cwd=jifen.cwd,
            env=jifen.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "backed up" in done.stdout
        time.sleep(1.1)  # the file names have seconds
    backups = sorted((instance / "backups").glob("jifen-*.dump"))
    assert len(backups) == 2, backups
    backup = backups[-1]
    assert backup.stat().st_mode & 0o077 == 0  # holds ID numbers: the owner's alone
    refused = jifen.run("restore", str(backup), "--force")
    assert refused.returncode == 1
    assert "serv" in refused.stderr, refused.stderr  # "stop the server first"

    target = {"JIFEN_DATABASE_URL": restored_url}
    jifen.ok("restore", str(backup), env=target)
    jifen.ok("ledger", "verify", env=target)
    jifen.ok("publish", "verify", env=target)
    original = jifen.json("stats", "--json")
    restored = jifen.json("stats", "--json", env=target)
    assert isinstance(original, dict) and original["members"] >= 4
    assert restored == original
