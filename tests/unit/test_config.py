"""The settings file JIFEN_CONFIG names: read as KEY=VALUE lines, the real environment
wins over it, a file that is not there is an error; and the defaults of a checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.kernel.config import PROJECT_ROOT, ConfigFileError, Settings, is_source_checkout


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "jifen.env"
    path.write_text(
        "# a comment line\n"
        "JIFEN_TIMEZONE=Asia/Urumqi\n"
        "JIFEN_OBJECTIONS_PER_MONTH=3\n"
        f"JIFEN_RULES_DIR='{tmp_path / 'my rules'}'\n"
        "JIFEN_CLI_ACCOUNT=office\n"
        'JIFEN_ALLOWED_HOSTS=["jifen.example.org"]\n'
        "NOT_OURS=ignored\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("JIFEN_CONFIG", str(path))
    for name in ("JIFEN_TIMEZONE", "JIFEN_OBJECTIONS_PER_MONTH", "JIFEN_RULES_DIR"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_settings_come_from_the_file(settings_file: Path) -> None:
    settings = Settings()
    assert settings.timezone == "Asia/Urumqi"
    assert settings.objections_per_month == 3
    assert settings.rules_dir == settings_file.parent / "my rules"
    assert settings.cli_account == "office"
    assert settings.allowed_hosts == ["jifen.example.org"]


def test_the_environment_wins_over_the_file(
    settings_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JIFEN_OBJECTIONS_PER_MONTH", "7")
    settings = Settings()
    assert settings.objections_per_month == 7
    assert settings.timezone == "Asia/Urumqi"  # the file still fills the rest
    # And a value passed in code (a test's Settings) wins over both.
    assert Settings(objections_per_month=9).objections_per_month == 9


def test_a_missing_settings_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere" / "jifen.env"
    monkeypatch.setenv("JIFEN_CONFIG", str(missing))
    with pytest.raises(ConfigFileError, match=f"JIFEN_CONFIG={missing}: no such settings file"):
        Settings()
    monkeypatch.setenv("JIFEN_CONFIG", str(tmp_path))  # a folder is no settings file either
    with pytest.raises(ConfigFileError, match="no such settings file"):
        Settings()


def test_a_checkout_keeps_its_data_in_var_and_reads_the_shipped_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("JIFEN_DATABASE_URL", "JIFEN_UPLOAD_DIR", "JIFEN_BACKUP_DIR", "JIFEN_RULES_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert is_source_checkout()
    settings = Settings()
    assert settings.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'jifen.sqlite3'}"
    assert settings.upload_dir == PROJECT_ROOT / "var" / "uploads"
    assert settings.backup_dir == PROJECT_ROOT / "var" / "backups"
    assert settings.rules_dir == PROJECT_ROOT / "scoring_rules"
    assert sorted(p.name for p in settings.rules_dir.glob("*.toml")) == [
        "2025.1.toml",
        "2026.1.toml",
        "2026.2.toml",
        "2027.1.toml",
    ]
