"""`jifen` speaks the terminal's language: Simplified Chinese when the gettext variables
(LANGUAGE, LC_ALL, LC_MESSAGES, LANG, first one set) start with "zh", English otherwise,
through the same catalog as the web pages. Errors exit non-zero in either language, and
English output stays word for word what scripts (bench/, the other CLI tests) parse."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from service.audit.log import CSV_COLUMNS
from service.cli import main
from service.cli.common import CliContext
from service.database import open_database
from service.kernel.config import PROJECT_ROOT, Settings
from service.kernel.i18n import environment_locale
from service.kernel.periods import period_of, shift_period, town_today
from service.people.roster_file import COLUMNS
from service.persistence.db import Database
from service.persistence.migrate import head_revision, upgrade
from service.persistence.types import utcnow
from tests.conftest import SmallTown

RULES_DIR = PROJECT_ROOT / "scoring_rules"
CORPUS = Path(__file__).parents[1] / "rule_corpus"
LAST_MONTH = shift_period(period_of(town_today(utcnow(), "Asia/Shanghai")), -1)

# What a terminal sets; None removes a variable for the run (CliRunner restores it after).
CHINESE = {"LANG": "zh_CN.UTF-8", "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
ENGLISH = {"LANG": "C", "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None}
NO_OVERRIDE = {"JIFEN_LOCALE": None}


@pytest.fixture
def run(database: Database) -> Any:
    """``jifen ARGS`` in-process with the test database, under the locale ``env`` sets."""

    def invoke(
        args: list[str], env: dict[str, str | None], rules_dir: Path = RULES_DIR, **more: Any
    ) -> Result:
        settings = Settings(env="test", rules_dir=rules_dir, **more)
        context = CliContext(settings, database)
        return CliRunner().invoke(main, args, obj=context, env={**NO_OVERRIDE, **env})

    return invoke


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= char <= "\u9fff" for char in text)


# --- which language --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "de_DE.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANG": "zh_TW.UTF-8"}, "zh_CN"),
        ({"LANG": "zh"}, "zh_CN"),
        # The first variable set decides, in gettext's order.
        ({"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "C"}, "en"),
        ({"LANG": "C", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LC_MESSAGES": "zh_CN.UTF-8", "LC_ALL": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "C", "LANGUAGE": "zh_CN"}, "zh_CN"),
        ({"LANG": "zh_CN.UTF-8", "LANGUAGE": "en_GB:en"}, "en"),
        # LANGUAGE lists preferences: the first one with a catalog wins.
        ({"LANGUAGE": "fr:zh_CN:en", "LANG": "C"}, "zh_CN"),
        ({"LANGUAGE": "fr:de", "LANG": "zh_CN.UTF-8"}, "zh_CN"),
        # Empty means unset.
        ({"LANGUAGE": "", "LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh_CN"),
        # JIFEN_LOCALE overrides the terminal.
        ({"JIFEN_LOCALE": "en", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"JIFEN_LOCALE": "zh_CN", "LANGUAGE": "en", "LANG": "C"}, "zh_CN"),
    ],
)
def test_the_locale_follows_the_gettext_variables(environ: dict[str, str], expected: str) -> None:
    assert environment_locale(environ) == expected


# --- the commands ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "ok", "checked"),
    [
        (CHINESE, "正常：汇总表和积分台账与重新计分的结果一致", "已核对 0 个党员年度"),
        (
            ENGLISH,
            "OK: the summary table and the ledger agree with a fresh scoring",
            "checked 0 member-years (0 activities)",
        ),
    ],
)
def test_ledger_verify(run: Any, env: dict[str, str | None], ok: str, checked: str) -> None:
    result = run(["ledger", "verify"], env)
    assert result.exit_code == 0, result.output
    assert ok in result.stdout
    assert checked in result.stdout


@pytest.mark.parametrize(
    ("env", "invalid", "summary"),
    [
        (CHINESE, "中的积分规则无效", "2 个问题"),
        (ENGLISH, "are invalid:", "2 problems"),
    ],
)
def test_broken_rules_are_reported_with_file_line_and_field(
    run: Any, tmp_path: Path, env: dict[str, str | None], invalid: str, summary: str
) -> None:
    (tmp_path / "negative_cap.toml").write_text(
        (CORPUS / "negative_cap.toml").read_text("utf-8"), encoding="utf-8"
    )
    (tmp_path / "syntax.toml").write_text('version = "2026.9"\nthis is not toml\n', "utf-8")

    checked = run(["rules", "check", str(tmp_path)], env)
    assert checked.exit_code == 1
    assert "Traceback" not in checked.output
    assert f"{tmp_path / 'negative_cap.toml'}: rule 'good_deed' field 'cap_per_month'" in (
        checked.stderr
    )
    assert f"{tmp_path / 'syntax.toml'}: " in checked.stderr and "line 2" in checked.stderr
    assert f"{tmp_path}: {summary}" in checked.stderr or f"{tmp_path}：{summary}" in (
        checked.stderr
    )
    assert checked.stdout == ""

    # A command that needs the rules refuses them, saying why, in the same language.
    verified = run(["ledger", "verify"], env, rules_dir=tmp_path)
    assert verified.exit_code == 1
    assert invalid in verified.stderr
    assert "cap_per_month" in verified.stderr


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (CHINESE, "检查通过"),
        (ENGLISH, "rules, OK"),
    ],
)
def test_rules_check_of_good_rules(run: Any, env: dict[str, str | None], words: str) -> None:
    result = run(["rules", "check", str(RULES_DIR / "2026.1.toml")], env)
    assert result.exit_code == 0, result.output
    assert words in result.stdout


@pytest.mark.parametrize(
    ("env", "bad_month"),
    [(CHINESE, "“2026-13”不是月份"), (ENGLISH, "'2026-13' is not a month; write YYYY-MM")],
)
def test_a_bad_month_argument(run: Any, env: dict[str, str | None], bad_month: str) -> None:
    result = run(["publish", "objections", "2026-13"], env)
    assert result.exit_code == 2
    assert bad_month in result.stderr


def test_publish_in_chinese(run: Any, town: SmallTown) -> None:
    nothing = run(["publish", "list"], CHINESE)
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "尚未公示任何月份"

    # Nothing counts in the month: refused until confirmed with --yes.
    empty = run(["publish", LAST_MONTH], CHINESE)
    assert empty.exit_code == 1
    assert f"错误：{LAST_MONTH} 没有任何计分事项" in empty.stderr
    assert f"jifen publish {LAST_MONTH} --yes" in empty.stderr
    published = run(["publish", LAST_MONTH, "--yes"], CHINESE)
    assert published.exit_code == 0, published.output
    assert f"已公示 {LAST_MONTH} 第 1 版" in published.stdout
    assert "受理异议至" in published.stdout

    listed = run(["publish", "list"], CHINESE)
    assert listed.exit_code == 0, listed.output
    assert f"{LAST_MONTH} 第1版" in listed.stdout and "[已公示]" in listed.stdout

    verified = run(["publish", "verify"], CHINESE)
    assert verified.exit_code == 0 and "正常：1 次公示" in verified.stdout

    again = run(["publish", LAST_MONTH], CHINESE)
    assert again.exit_code == 1
    assert f"错误：{LAST_MONTH} 已公示" in again.stderr  # the domain's message, translated

    nobody = run(["publish", "objections", LAST_MONTH, "--by", "nobody"], CHINESE)
    assert nobody.exit_code == 1 and "没有账号“nobody”" in nobody.stderr


def test_publish_in_english(run: Any, town: SmallTown) -> None:
    nothing = run(["publish", "list"], ENGLISH)
    assert nothing.exit_code == 0 and nothing.stdout.strip() == "nothing is published yet"

    # Nothing counts in the month: refused until confirmed with --yes.
    empty = run(["publish", LAST_MONTH], ENGLISH)
    assert empty.exit_code == 1
    assert empty.stderr.splitlines() == [
        f"error: Nothing counts in {LAST_MONTH}: no approved entry, suggestion step or "
        "adjustment is dated in it, so every member would be published with 0 points, for "
        "good. Confirm to publish it anyway.",
        f"nothing was published; to publish it anyway: jifen publish {LAST_MONTH} --yes",
    ]
    published = run(["publish", LAST_MONTH, "--yes"], ENGLISH)
    assert published.exit_code == 0, published.output
    assert f"published {LAST_MONTH} revision 1 (publication " in published.stdout

    listed = run(["publish", "list"], ENGLISH)
    assert f"{LAST_MONTH} r1" in listed.stdout and "[published]" in listed.stdout
    assert not has_chinese(listed.output.replace("镇党委组织办", ""))  # the admin's name

    verified = run(["publish", "verify"], ENGLISH)
    assert verified.stdout.strip() == "OK: 1 publications; every digest and link holds"

    again = run(["publish", LAST_MONTH], ENGLISH)
    assert again.exit_code == 1
    assert again.stderr.startswith(f"error: {LAST_MONTH} is already published")
    assert not has_chinese(again.output)


def test_tokens_in_both_languages(run: Any, town: SmallTown) -> None:
    assert run(["tokens", "list"], CHINESE).stdout.strip() == "没有 API 令牌"
    assert run(["tokens", "list"], ENGLISH).stdout.strip() == "no API tokens"

    issued = run(["tokens", "issue", "secretary", "--name", "sync"], CHINESE)
    assert issued.exit_code == 0, issued.output
    assert "已向 secretary 签发令牌 #" in issued.stderr and "永不过期" in issued.stderr
    assert issued.stdout.startswith("jft_")

    chinese = run(["tokens", "list"], CHINESE)
    assert "正常" in chinese.stdout and "最近使用：从未使用" in chinese.stdout
    english = run(["tokens", "list"], ENGLISH)
    assert "'sync'  active  issued " in english.stdout
    assert "last used: never used  expires: no expiry" in english.stdout
    assert not has_chinese(english.output)

    token_id = english.stdout.split()[0].lstrip("#")
    revoked = run(["tokens", "revoke", token_id], CHINESE)
    assert revoked.exit_code == 0 and revoked.stdout.strip() == f"令牌 #{token_id} 已撤销"
    assert "已撤销" in run(["tokens", "list"], CHINESE).stdout
    assert "  revoked  " in run(["tokens", "list"], ENGLISH).stdout

    unknown = run(["tokens", "issue", "secretary", "--name", "x", "--by", "nobody"], ENGLISH)
    assert unknown.exit_code == 1 and "no account 'nobody'" in unknown.stderr


def test_jifen_locale_overrides_the_terminal(run: Any, town: SmallTown) -> None:
    forced = run(["tokens", "list"], {**CHINESE, "JIFEN_LOCALE": "en"})
    assert forced.stdout.strip() == "no API tokens"


def test_the_domain_error_of_a_date_is_translated(run: Any, town: SmallTown) -> None:
    """A month still running cannot be published: the domain says so, in Chinese here."""
    this_month = period_of(town_today(utcnow(), "Asia/Shanghai"))
    result = run(["publish", this_month], CHINESE)
    assert result.exit_code == 1
    assert result.stderr.startswith("错误：") and f"{this_month} 尚未结束" in result.stderr
    english = run(["publish", this_month], ENGLISH)
    assert english.exit_code == 1
    assert english.stderr.startswith(f"error: {this_month} has not ended yet")


# --- the other command modules: one command of each in both languages ---------------
#
# Each test runs once in Chinese ("zh") and once in English ("en"): the words change, the
# data (tab-separated lists, CSV files, names, codes, paths) never does.


def words(chinese: dict[str, str], english: dict[str, str]) -> Any:
    return pytest.mark.parametrize(
        ("env", "said"),
        [pytest.param(CHINESE, chinese, id="zh"), pytest.param(ENGLISH, english, id="en")],
    )


@words(
    {
        "disabled": "账号 member 已停用，并已在所有地方退出登录",
        "enabled": "账号 member 已启用",
        "no_branch": "错误：没有编号为 'B999' 的党支部",
        "nobody": "错误：没有使用这个用户名的账号。",
    },
    {
        "disabled": "account member disabled and signed out everywhere",
        "enabled": "account member enabled",
        "no_branch": "error: no branch with code 'B999'",
        "nobody": "error: No account has this username.",
    },
)
def test_accounts_and_members(
    run: Any, town: SmallTown, env: dict[str, str | None], said: dict[str, str]
) -> None:
    """service/cli/org.py."""
    disabled = run(["accounts", "disable", "member"], env)
    assert disabled.exit_code == 0, disabled.output
    assert disabled.stdout.strip() == said["disabled"]
    enabled = run(["accounts", "enable", "member"], env)
    assert enabled.exit_code == 0 and enabled.stdout.strip() == said["enabled"]

    unknown = run(["members", "list", "--branch", "B999"], env)
    assert unknown.exit_code == 1 and unknown.stderr.strip() == said["no_branch"]
    nobody = run(["accounts", "disable", "nobody"], env)  # the domain's message
    assert nobody.exit_code == 1 and nobody.stderr.strip() == said["nobody"]

    # Tab-separated lists are for scripts: word for word the same in every language.
    branches = run(["branches", "list"], env)
    assert branches.stdout.splitlines() == [
        "code\tkind\tmembers\torganisations\tname",
        "B001\tjoint\t4\t1\t金湾工业园区联合党支部",
        "B002\tsingle\t2\t1\t宝元鞋厂党支部",
    ]
    members = run(["members", "list", "--branch", "B002"], env)
    assert members.stdout.splitlines()[0] == "code\tname\tbranch\tstatus\tstate"
    assert "M004\t刘洋\t宝元鞋厂党支部\tprobationary\tactive" in members.stdout.splitlines()


@words(
    {
        "shown": r"共 (\d+) 条事件，显示 \1 条（Asia/Shanghai）",
        "written": "已将 {count} 条事件写入 {path}",
        "bad_date": "“yesterday”不是日期；请写成 YYYY-MM-DD",
    },
    {
        "shown": r"(\d+) of \1 events shown \(Asia/Shanghai\)",
        "written": "{count} events written to {path}",
        "bad_date": "'yesterday' is not a date; write YYYY-MM-DD",
    },
)
def test_audit_list_and_export(
    run: Any, town: SmallTown, tmp_path: Path, env: dict[str, str | None], said: dict[str, str]
) -> None:
    """service/cli/audit.py."""
    assert run(["accounts", "disable", "member"], ENGLISH).exit_code == 0  # to be listed

    listed = run(["audit", "list"], env)
    assert listed.exit_code == 0, listed.output
    shown = re.fullmatch(said["shown"], listed.stderr.strip())
    assert shown is not None and int(shown[1]) > 0, listed.stderr
    # An event's line is data: the account, the kind, the object, the fields.
    assert "admin@cli  account.disable #" in listed.stdout
    assert "    is_active: True -> False" in listed.stdout

    out = tmp_path / "audit.csv"
    exported = run(["audit", "export", str(out)], env)
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.strip() == said["written"].format(count=shown[1], path=out)
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert rows[0] == list(CSV_COLUMNS)  # CSV is never translated
    assert any(row[4] == "account.disable" for row in rows[1:])

    bad = run(["audit", "list", "--since", "yesterday"], env)
    assert bad.exit_code == 2 and said["bad_date"] in bad.stderr


@words(
    {
        "backed_up": r"已将 SQLite 数据库 {database}（版本 {head}，\d+ 张表，0 行）"
        r"备份到 {backup}（[\d.,]+ (MB|字节)），用时 [\d.]+ 秒",
        "restored": r"已将 {backup}（版本 {head}，\d+ 张表，0 行）"
        r"恢复到 SQLite 数据库 {database}，用时 [\d.]+ 秒",
        "error": "错误：",
    },
    {
        "backed_up": r"backed up the SQLite database {database} \(revision {head}, \d+ tables, "
        r"0 rows\) to {backup} \([\d.,]+ (MB|bytes?)\) in [\d.]+ s",
        "restored": r"restored {backup} \(revision {head}, \d+ tables, 0 rows\) "
        r"into the SQLite database {database} in [\d.]+ s",
        "error": "error: ",
    },
)
def test_backup_and_restore(
    run: Any, tmp_path: Path, env: dict[str, str | None], said: dict[str, str]
) -> None:
    """service/cli/backup.py."""
    path = tmp_path / "jifen.sqlite3"
    url = f"sqlite:///{path}"
    empty = open_database(url)
    upgrade(empty.engine)
    empty.dispose()
    backup = tmp_path / "jifen.backup"
    names = {
        "database": re.escape(str(path)),
        "backup": re.escape(str(backup)),
        "head": re.escape(head_revision()),
    }

    backed_up = run(["backup", str(backup)], env, database_url=url)
    assert backed_up.exit_code == 0, backed_up.output
    assert re.fullmatch(said["backed_up"].format(**names), backed_up.stdout.strip())

    refused = run(["backup", str(backup)], env, database_url=url)  # the file exists
    assert refused.exit_code == 1 and refused.stderr.startswith(said["error"])
    assert str(backup) in refused.stderr

    restored = run(["restore", str(backup)], env, database_url=url)
    assert restored.exit_code == 0, restored.output
    assert re.fullmatch(said["restored"].format(**names), restored.stdout.strip())


@words(
    {
        "wrote": "已写入 {path}",
        "required": "  党员编号 (code)：必填",
        "problem": "第 2 行,“党支部编号”列:没有编号为 B404 的党支部。",
        "refused": "bad.csv：1 行，2 个问题；未写入任何内容",
        "no_member": "错误：没有党员“M404”",
        "transferred": "M004 刘洋 自 2026-04-01 起转入 B001",
        "began": "  （有记录起） – 2026-04-01: B002 宝元鞋厂党支部",
        "now": "  2026-04-01 – 至今: B001 金湾工业园区联合党支部",
    },
    {
        "wrote": "wrote {path}",
        "required": "  党员编号 (code): required",
        "problem": "row 2, column 党支部编号: No branch has the number B404.",
        "refused": "bad.csv: 1 rows, 2 problems; nothing was written",
        "no_member": "error: no member 'M404'",
        "transferred": "M004 刘洋 transferred to B001 from 2026-04-01",
        "began": "  (records began) – 2026-04-01: B002 宝元鞋厂党支部",
        "now": "  2026-04-01 – now: B001 金湾工业园区联合党支部",
    },
)
def test_roster_import_and_transfer(
    run: Any, town: SmallTown, tmp_path: Path, env: dict[str, str | None], said: dict[str, str]
) -> None:
    """service/cli/roster.py."""
    template = tmp_path / "template.csv"
    written = run(["import", "template", str(template)], env)
    assert written.exit_code == 0, written.output
    lines = written.stdout.splitlines()
    assert lines[:2] == [said["wrote"].format(path=template), said["required"]]
    assert "  手机号 (phone)" in lines  # the file's column names, as they are
    assert template.read_bytes().decode("utf-8-sig").startswith("党员编号,姓名,身份证号,")

    bad = tmp_path / "bad.csv"
    header = ",".join(column.chinese for column in COLUMNS)
    bad.write_text(f"{header}\nN1,新党员,,,B404,,正式党员,\n", encoding="utf-8")
    checked = run(["import", "members", str(bad)], env)
    assert checked.exit_code == 1
    assert said["problem"] in checked.stderr.splitlines()
    assert checked.stderr.splitlines()[-1] == said["refused"]

    unknown = run(["transfer", "M404", "B001", "--on", "2026-04-01"], env)
    assert unknown.exit_code == 1 and unknown.stderr.strip() == said["no_member"]
    moved = run(["transfer", "M004", "B001", "--on", "2026-04-01"], env)
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.splitlines() == [said["transferred"], said["began"], said["now"]]


def _unwrapped(text: str) -> str:
    # The seed command prints through rich, which wraps long lines at the console width.
    return re.sub(r"\s+", "", text)


@words(
    {
        "refused": "2000-01-01没有生效的积分规则",
        "loaded": "演示数据“示范镇”已载入：268个支部（其中联合支部26个）、836个组织、党员1192名、",
        "until": "截至2026-11-20；采纳建议",
        "published": "已公示：",
        "password": "；账号member/secretary/instructor/admin，密码",
    },
    {
        "refused": "nopointsrulesetisinforceon2000-01-01",
        "loaded": "demotown示范镇loaded:268branches(26joint),836organisations,1192members,",
        "until": "upto2026-11-20;",
        "published": ";published",
        "password": "accountsmember/secretary/instructor/admin,password",
    },
)
def test_seed_demo(run: Any, env: dict[str, str | None], said: dict[str, str]) -> None:
    """service/ops/seed/: the refusals and the summary ``jifen seed demo`` prints."""
    refused = run(["seed", "demo", "--until", "2000-01-01"], env)
    assert refused.exit_code == 1
    assert said["refused"] in _unwrapped(refused.stderr)

    seeded = run(["seed", "demo", "--until", "2026-11-20"], env)
    assert seeded.exit_code == 0, seeded.output
    summary = _unwrapped(seeded.stderr)
    for key in ("loaded", "until", "published", "password"):
        assert said[key] in summary, (key, seeded.stderr)
