"""Settings read once from the environment (prefix ``JIFEN_``)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.kernel.i18n import N_, Message

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEVELOPMENT_SECRET = "development-only-secret-key-change-me"  # noqa: S105 - refused in production


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'jifen.sqlite3'}"
    rules_dir: Path = PROJECT_ROOT / "scoring_rules"
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
    debug: bool = False
    # Host names the app answers to; a request naming another Host is refused (400), so
    # links and redirects built from it cannot point elsewhere. "*" allows any (tests).
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "testserver", "testserver.local"]
    # Photo evidence lives here, outside the static folder, under generated names.
    upload_dir: Path = PROJECT_ROOT / "var" / "uploads"
    # A roster file between its dry run and "Apply" (an hour at most): the instance's
    # own directory, 0700, since the file holds ID numbers and phones.
    roster_upload_dir: Path = PROJECT_ROOT / "var" / "roster-uploads"
    max_photo_bytes: int = 5 * 1024 * 1024
    max_photos_per_entry: int = 3
    # Objections one member may raise to one month's board (every revision of it
    # together): enough for every real mistake, and a flood stops at the form.
    objections_per_month: int = Field(default=5, ge=1)
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


def serving_problems(settings: Settings) -> list[Message]:
    """Why these settings cannot serve (none: they can). Checked by ``jifen serve`` before
    it starts any worker, and again by the app itself."""
    problems: list[Message] = []
    if settings.env == "production" and settings.secret_key == DEVELOPMENT_SECRET:
        problems.append(
            Message(N_("set JIFEN_SECRET_KEY: production needs a secret key of its own"))
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
