"""Settings read once from the environment (prefix ``JIFEN_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JIFEN_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'jifen.sqlite3'}"
    rules_dir: Path = PROJECT_ROOT / "scoring_rules"
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    # Signs CSRF tokens. Development gets a fixed key so restarts keep forms valid;
    # production must set its own (checked in create_app).
    secret_key: str = Field(default="development-only-secret-key-change-me", min_length=16)
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
    max_photo_bytes: int = 5 * 1024 * 1024
    max_photos_per_entry: int = 3
    # Objections one member may raise to one month's board (every revision of it
    # together): enough for every real mistake, and a flood stops at the form.
    objections_per_month: int = Field(default=5, ge=1)
    # Sign-in throttling: failures within the window, per username and per address.
    login_window_minutes: int = 15
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 30


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
