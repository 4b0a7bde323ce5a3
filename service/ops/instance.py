"""An instance folder for a production install (``jifen init DIR``): the settings file,
the town's own copy of the rules, the folders for uploads and backups, and the SQLite
database's place, all in one folder the operator backs up and points JIFEN_CONFIG at.

The folder and the folders holding personal data (photos, roster files, backups) are
0700, the settings file (it holds the secret key) 0600; an existing settings file is
never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from service.kernel.config import SHIPPED_RULES_DIR
from service.kernel.files import PRIVATE_FILE, owned_private_directory

SETTINGS_FILE = "jifen.env"
RULES = "rules"
UPLOADS = "uploads"
ROSTER_UPLOADS = "roster-uploads"
BACKUPS = "backups"
DATABASE_FILE = "jifen.sqlite3"

# A value written bare in the settings file; anything else is single-quoted (literal
# for python-dotenv, a shell and systemd's EnvironmentFile alike).
_BARE = re.compile(r"^[A-Za-z0-9_@%+=:,./-]*$")


class InstanceExists(Exception):
    """The folder already has a settings file; ``jifen init`` never overwrites one."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists already")
        self.path = path


@dataclass(frozen=True)
class Instance:
    directory: Path
    settings_file: Path
    rules_dir: Path
    copied_rules: tuple[str, ...]  # the shipped files copied (none: rules/ had files)


def _value(text: str) -> str:
    if _BARE.fullmatch(text):
        return text
    if "'" not in text:
        return f"'{text}'"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _town_lines(town_name: str | None, public_url: str | None) -> list[str]:
    """The town's lines: written as settings when ``jifen init`` was told them (an
    automated install), else as commented examples to fill in."""
    lines = ["# The town, as pages and printouts name it, and the address people open."]
    if town_name:
        lines.append(f"JIFEN_TOWN_NAME={_value(town_name)}")
        lines.append(f"# JIFEN_COMMITTEE_NAME={_value(town_name + '党委')}")
    else:
        lines += ["# JIFEN_TOWN_NAME=青溪镇", "# JIFEN_COMMITTEE_NAME=青溪镇党委"]
    host = urlsplit(public_url).hostname if public_url else None
    if public_url and host:
        # Production refuses to serve without it: links in prints and exports use it.
        lines.append(f"JIFEN_PUBLIC_URL={_value(public_url)}")
        if public_url.startswith("https://"):
            # Jifen itself speaks plain HTTP on 127.0.0.1: an https address means a
            # proxy (nginx) ends TLS in front of it and appends X-Forwarded-For.
            lines.append("# Served over HTTPS (Secure cookies, HSTS) behind a reverse proxy.")
            lines.append("JIFEN_HTTPS=true")
            lines.append("JIFEN_TRUSTED_PROXY=true")
        # The host names the server answers to (a JSON list): the public one, and
        # 127.0.0.1 for the checks and metrics read on the server itself.
        lines.append("# The host names the server answers to (a JSON list).")
        hosts = [host] if host == "127.0.0.1" else [host, "127.0.0.1"]
        lines.append(f"JIFEN_ALLOWED_HOSTS={_value(json.dumps(hosts))}")
    else:
        lines += [
            "# Production needs it: links in printouts and exports are built from it.",
            "# JIFEN_PUBLIC_URL=https://jifen.example.org",
            "# The host names the server answers to (a JSON list).",
            '# JIFEN_ALLOWED_HOSTS=["jifen.example.org"]',
        ]
    return lines


def settings_text(
    directory: Path,
    secret_key: str,
    *,
    today: date,
    town_name: str | None = None,
    public_url: str | None = None,
) -> str:
    """The settings file of an instance in ``directory`` (absolute)."""
    lines = [
        f"# Jifen settings of the instance in {directory}, made by 'jifen init' on {today}.",
        "# Point the jifen command and the server at this file:",
        f"#   export JIFEN_CONFIG={directory / SETTINGS_FILE}",
        "# KEY=VALUE lines; an environment variable of the same name wins over a line here.",
        "",
        "JIFEN_ENV=production",
        "# Signs the forms' CSRF tokens: keep it secret (this file is 0600).",
        f"JIFEN_SECRET_KEY={secret_key}",
        "",
        "# The database: SQLite in this folder, or PostgreSQL (then 'jifen db upgrade').",
        f"JIFEN_DATABASE_URL={_value('sqlite:///' + str(directory / DATABASE_FILE))}",
        "# JIFEN_DATABASE_URL=postgresql+psycopg://jifen:PASSWORD@127.0.0.1:5432/jifen",
        "",
        "# The town's rules (copied from the shipped samples: review them before use).",
        f"JIFEN_RULES_DIR={_value(str(directory / RULES))}",
        "# Photo evidence, roster files between dry run and apply, and backups (0700).",
        f"JIFEN_UPLOAD_DIR={_value(str(directory / UPLOADS))}",
        f"JIFEN_ROSTER_UPLOAD_DIR={_value(str(directory / ROSTER_UPLOADS))}",
        f"JIFEN_BACKUP_DIR={_value(str(directory / BACKUPS))}",
        "",
        *_town_lines(town_name, public_url),
        "# Served over HTTPS (Secure cookies), behind a reverse proxy that sets",
        "# X-Forwarded-For (the audit log then records the client's address).",
        *(
            []
            if public_url and public_url.startswith("https://")
            else ["# JIFEN_HTTPS=true", "# JIFEN_TRUSTED_PROXY=true"]
        ),
        "# One JSON object per log line, for the journal or a log collector.",
        "JIFEN_LOG_FORMAT=json",
        "# The office account the jifen command acts as when a command is given no --by.",
        "# JIFEN_CLI_ACCOUNT=office",
        "",
    ]
    return "\n".join(lines)


def lay_out_instance(
    directory: Path,
    *,
    today: date,
    town_name: str | None = None,
    public_url: str | None = None,
) -> Instance:
    """Lay out an instance in ``directory`` (made if missing); InstanceExists when it
    already has a settings file, before anything is changed."""
    directory = directory.expanduser().resolve()
    settings_file = directory / SETTINGS_FILE
    if settings_file.exists() or settings_file.is_symlink():
        raise InstanceExists(settings_file)
    # The database file lands here: the folder is its owner's alone.
    owned_private_directory(directory)
    rules_dir = directory / RULES
    rules_dir.mkdir(exist_ok=True)
    copied: list[str] = []
    if not any(rules_dir.glob("*.toml")):
        # A folder the operator already filled keeps its own rules.
        for source in sorted(SHIPPED_RULES_DIR.iterdir()):
            if source.suffix in {".toml", ".md"} and source.is_file():
                shutil.copyfile(source, rules_dir / source.name)
                copied.append(source.name)
    for name in (UPLOADS, ROSTER_UPLOADS, BACKUPS):
        owned_private_directory(directory / name)
    text = settings_text(
        directory,
        secrets.token_urlsafe(48),
        today=today,
        town_name=town_name,
        public_url=public_url,
    )
    # O_EXCL: a file made meanwhile by someone else is not overwritten either.
    descriptor = os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Instance(directory, settings_file, rules_dir, tuple(copied))
