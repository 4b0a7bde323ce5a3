"""Settings read once from the environment (prefix ``JIFEN_``), and from the settings file
``JIFEN_CONFIG`` names (KEY=VALUE lines, e.g. the ``jifen.env`` of ``jifen init``); a real
environment variable wins over the file.

Defaults: in a source checkout the data lives in the checkout's ``var/``; in an installed
copy (a wheel in site-packages) it lives in ``var/`` of the current directory, never
inside site-packages. The rules default to the shipped rulesets (the ``scoring_rules``
package) in both.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from service.kernel.i18n import N_, Message

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# "22:00-07:00": quiet hours, a clock time each side (00:00-23:59).
QUIET_HOURS = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d-(?:[01]\d|2[0-3]):[0-5]\d")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEVELOPMENT_SECRET = "development-only-secret-key-change-me"  # noqa: S105 - refused in production
# The environment variable naming the settings file.
CONFIG_VARIABLE = "JIFEN_CONFIG"
# The shipped rulesets: the ``scoring_rules`` package, beside ``service`` both in the
# checkout and in site-packages.
SHIPPED_RULES_DIR = PROJECT_ROOT / "scoring_rules"


def is_source_checkout() -> bool:
    """Whether this code runs from a source checkout (make setup's editable install)
    rather than from an installed wheel: only a checkout has pyproject.toml beside it."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def default_var_dir() -> Path:
    """Where the database and files go when no setting says: the checkout's ``var/``, or
    ``var/`` of the current directory in an installed copy (site-packages is no place
    for a town's data, and may be read-only)."""
    if is_source_checkout():
        return PROJECT_ROOT / "var"
    return Path.cwd().resolve() / "var"


class ConfigFileError(Exception):
    """The settings file JIFEN_CONFIG names cannot be read."""


def config_file() -> Path | None:
    """The settings file named by ``JIFEN_CONFIG`` (None: no file); a file that is
    missing or unreadable is an error, never silently ignored."""
    value = os.environ.get(CONFIG_VARIABLE, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_file():
        raise ConfigFileError(f"{CONFIG_VARIABLE}={value}: no such settings file")
    try:
        with path.open(encoding="utf-8") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigFileError(
            f"{CONFIG_VARIABLE}={value}: cannot read the settings file ({exc.strerror})"
        ) from exc
    return path


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{default_var_dir() / 'jifen.sqlite3'}"
    )
    rules_dir: Path = SHIPPED_RULES_DIR
    # The demo town: only in a source checkout (the wheel ships no seeds).
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    # Signs CSRF tokens. Development gets a fixed key so restarts keep forms valid;
    # production must set its own (serving_problems).
    secret_key: str = Field(default=DEVELOPMENT_SECRET, min_length=16)
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Marks cookies Secure; set when served over HTTPS.
    https: bool = False
    # Behind a reverse proxy that sets X-Forwarded-For, the audit log records the client
    # address from it; without a trusted proxy the header could be forged, so it is ignored.
    trusted_proxy: bool = False
    default_locale: str = "zh_CN"
    # Periods are calendar months here; "today" and "this month" are read in this zone.
    timezone: str = "Asia/Shanghai"

    # --- The town: its names and public address ---
    # The town's full name (青溪镇) and its party committee's (青溪镇党委; by default the
    # town's name + 党委): data shown as the operator typed it, never translated, in page
    # titles, on the notice-board sheet and in exports. Without them the pages use
    # neutral words. Development falls back to the demo town's (seeds/town.toml), so
    # `make run` looks like a real town's.
    town_name: str | None = None
    committee_name: str | None = None
    # Where people reach the app, e.g. https://jifen.example.org: every absolute link the
    # app writes (the print sheet's, exports') starts here, never from the request, which
    # behind a proxy reads http://127.0.0.1:8000. Production requires it (serving_problems).
    public_url: str | None = None

    @field_validator("town_name", "committee_name", "public_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # JIFEN_TOWN_NAME= (empty) in a settings file means "not set", not a blank name.
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = public_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.rstrip("/")

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if not QUIET_HOURS.fullmatch(value):
            raise ValueError(f"quiet hours must read HH:MM-HH:MM (e.g. 22:00-07:00), not {value!r}")
        return value

    @model_validator(mode="after")
    def _town_defaults(self) -> Settings:
        if self.town_name is None and self.env == "development":
            self.town_name, demo_committee = demo_town_names(self.seeds_dir)
            if self.committee_name is None:
                self.committee_name = demo_committee
        if self.committee_name is None and self.town_name is not None:
            self.committee_name = f"{self.town_name}党委"
        return self

    # --- end of the town ---
    debug: bool = False
    # Host names the app answers to; a request naming another Host is refused (400), so
    # links and redirects built from it cannot point elsewhere. "*" allows any (tests).
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "testserver", "testserver.local"]
    # Photo evidence lives here, outside the static folder, under generated names.
    upload_dir: Path = Field(default_factory=lambda: default_var_dir() / "uploads")
    # A roster file between its dry run and "Apply" (an hour at most): the instance's
    # own directory, 0700, since the file holds ID numbers and phones.
    roster_upload_dir: Path = Field(default_factory=lambda: default_var_dir() / "roster-uploads")
    # Where `jifen backup` writes when given no FILE (0700: backups hold personal data).
    backup_dir: Path = Field(default_factory=lambda: default_var_dir() / "backups")
    # The office account the CLI acts as when a command is given no --by (JIFEN_CLI_ACCOUNT).
    cli_account: str | None = None
    max_photo_bytes: int = 5 * 1024 * 1024
    max_photos_per_entry: int = 3
    # Objections one member may raise to one month's board (every revision of it
    # together): enough for every real mistake, and a flood stops at the form.
    objections_per_month: int = Field(default=5, ge=1)
    # For towns that want less competition: members see no town-wide ranking of people
    # (the boards rank the members of their own branch; no town rank on their home page,
    # in exports or the API), only their branch rank and stars. Branch rankings stay;
    # secretaries, instructors and the office still see every rank.
    hide_town_rankings: bool = False
    # --- Telling people (service/notify): email through SMTP, the outbox's sender ---
    # No smtp_host: email is off (the inbox and group robots still work); messages that
    # would be emailed are recorded as skipped, never silently dropped.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # starttls (port 587), tls (implicit TLS, port 465), or none (a local relay only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    # The sender's address, e.g. "青溪镇党员积分 <jifen@example.org>".
    mail_from: str = ""
    # Quiet hours in the town's time zone, "HH:MM-HH:MM": emails and group posts wait
    # until they end (an account may choose its own); equal ends turn them off.
    quiet_hours: str = "22:00-07:00"
    # The weekly digest goes out on this weekday (0 Monday … 6 Sunday) after quiet hours.
    digest_weekday: int = Field(default=0, ge=0, le=6)
    # Sending: attempts before a message goes to the dead-letter list, the first retry's
    # pause (doubling each time, capped at a day), a claim's lease, and the batch size.
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_backoff_seconds: float = Field(default=60.0, gt=0)
    notify_lease_seconds: float = Field(default=300.0, gt=0)
    notify_batch_size: int = Field(default=50, ge=1)
    # A robot post or an SMTP conversation longer than this fails and is retried.
    notify_http_timeout_seconds: float = Field(default=10.0, gt=0)
    # Sign-in throttling (service/accounts/throttle.py): failures of one username from one
    # address before its pauses begin (the longest pause is the window), and failures of
    # one address within the window whatever the usernames; 0 turns a count off.
    login_window_minutes: int = 15
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 30
    # A roster import writes this many rows per transaction, so that other writers (a
    # sign-in) wait for one batch at most, never for the whole file.
    import_batch_rows: int = Field(default=500, ge=1)

    # --- running it: logs and metrics (web/observability.py, web/ops) ---
    # The level of Jifen's and the server's log (DEBUG, INFO, WARNING, ERROR).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # "json": one JSON object per line for a log collector; "text" for a terminal.
    log_format: Literal["text", "json"] = "text"
    # Who may read /metrics: client addresses (the real one behind a trusted proxy) in
    # these networks, as a JSON list of CIDRs; loopback by default.
    metrics_allow: list[IPv4Network | IPv6Network] = [
        IPv4Network("127.0.0.0/8"),
        IPv6Network("::1/128"),
    ]
    # Or anyone sending "Authorization: Bearer <this>"; empty: no token is accepted.
    metrics_token: str = ""

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        # JIFEN_LOG_LEVEL=info and JIFEN_LOG_FORMAT=JSON mean what they say.
        if not isinstance(value, str):
            return value
        return value.strip().upper() if value.strip().upper() in LOG_LEVELS else value.lower()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments first (tests), then the real environment, then the JIFEN_CONFIG file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = config_file()
        if path is not None:
            sources.append(
                DotEnvSettingsSource(settings_cls, env_file=path, env_file_encoding="utf-8")
            )
        return (*sources, file_secret_settings)


def demo_town_names(seeds_dir: Path) -> tuple[str | None, str | None]:
    """The demo town's name and committee from its town file, (None, None) when there is
    no readable one (an installed package without the seeds)."""
    try:
        with (seeds_dir / "town.toml").open("rb") as handle:
            town = tomllib.load(handle).get("town", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None, None
    name, committee = town.get("name"), town.get("committee")
    return (
        name if isinstance(name, str) and name else None,
        committee if isinstance(committee, str) and committee else None,
    )


def serving_problems(settings: Settings) -> list[Message]:
    """Why these settings cannot serve (none: they can). Checked by ``jifen serve`` before
    it starts any worker, and again by the app itself."""
    problems: list[Message] = []
    if settings.env == "production" and settings.secret_key == DEVELOPMENT_SECRET:
        problems.append(
            Message(N_("set JIFEN_SECRET_KEY: production needs a secret key of its own"))
        )
    if settings.env == "production" and settings.public_url is None:
        # Printed notices and exports carry links people type in; built from the request
        # they would name the proxy's side (http://127.0.0.1:8000).
        problems.append(
            Message(
                N_(
                    "set JIFEN_PUBLIC_URL (e.g. https://jifen.example.org): production "
                    "needs the address people open the app at, for printed and exported links"
                )
            )
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Message(
                N_("JIFEN_TIMEZONE %(zone)s is not a time zone (e.g. Asia/Shanghai)"),
                {"zone": settings.timezone},
            )
        )
    return problems


def public_url_problem(value: str) -> str | None:
    """What is wrong with ``value`` as JIFEN_PUBLIC_URL (None: nothing); shared by the
    setting and ``jifen init --public-url``."""
    parts = urlsplit(value)
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or any(ch.isspace() for ch in value)
    ):
        return (
            "must be the absolute http:// or https:// address people open the app at, "
            "without a query, e.g. https://jifen.example.org"
        )
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
