"""The zh_CN catalog translates every message of the code (scripts/i18n.py check)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog

from web.i18n import translations


def _load_script() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "scripts" / "i18n.py"
    spec = importlib.util.spec_from_file_location("jifen_i18n_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


i18n_script = _load_script()


def test_every_message_of_the_code_is_translated() -> None:
    problems = i18n_script.find_problems("zh_CN")
    report = "\n".join(str(problem) for problem in problems)
    assert not problems, (
        f"{report}\nRun `.venv/bin/python scripts/i18n.py update`, translate, and check again."
    )


def test_the_catalog_parses_with_one_plural_form() -> None:
    catalog = i18n_script.read_catalog(i18n_script.po_file("zh_CN"), "zh_CN")
    assert catalog.num_plurals == 1
    assert catalog.plural_forms == "nplurals=1; plural=0;"
    assert not catalog.fuzzy
    assert len(catalog) > 100


def test_the_runtime_catalog_translates() -> None:
    zh = translations("zh_CN")
    assert zh.gettext("Sign in") == "登录"
    assert zh.gettext("pending") == "待审核"
    assert zh.gettext("%(points)s points") % {"points": "3.0"} == "3.0 分"
    singular = "%(count)s member has no points this month."
    plural = "%(count)s members have no points this month."
    for count in (1, 5):
        text = zh.ngettext(singular, plural, count) % {"count": count}
        assert text == f"本月有 {count} 名党员尚无积分。"


@pytest.mark.parametrize(
    ("msgids", "msgstrs", "expected"),
    [
        (["Keep it under %(max)d characters."], ["请控制在 %(max)d 字以内。"], []),
        (["Page %(page)s of %(pages)s"], ["共 %(pages)s 页，第 %(page)s 页"], []),
        (["Sign in"], ["登录"], []),
        (["Keep it under %(max)d characters."], ["请控制在 %(max)s 字以内。"], ["uses", "lacks"]),
        (["%(points)s points"], ["积分"], ["lacks"]),
        (["%(points)s points"], ["%(points)s 分，%(bonus)s"], ["uses"]),
        (["Participation"], ["参与率 %"], ["lone"]),
        (["Participation 50%%"], ["参与率 50%%"], []),
        (["Participation 50%%"], ["参与率 50%"], ["lone"]),
        # One Chinese form serves every count, so it needs the plural's %(count)s.
        (["Your own entry.", "Your %(count)s entries."], ["您的 %(count)s 条申报。"], []),
        (["Your own entry.", "Your %(count)s entries."], ["您的申报。"], ["lacks"]),
    ],
)
def test_placeholder_check(msgids: list[str], msgstrs: list[str], expected: list[str]) -> None:
    problems = i18n_script.placeholder_problems(msgids, msgstrs, 1)
    assert len(problems) == len(expected), problems
    for problem, word in zip(problems, expected, strict=True):
        assert word in problem


def test_the_check_reports_every_kind_of_gap() -> None:
    template = Catalog()
    for msgid in ["Fine", "Missing", "Empty", "Guessed", "%(n)s points"]:
        template.add(msgid, locations=[("web/templates/x.html", 1)])
    template.add(("%(count)s entry", "%(count)s entries"), locations=[("web/x.py", 2)])
    template.add(("One", "%(count)s many"), locations=[("web/x.py", 3)])

    catalog = Catalog(locale="zh_CN", fuzzy=False)
    catalog.add("Fine", "好")
    catalog.add("Empty", "")
    catalog.add("Guessed", "猜的", flags=["fuzzy"])
    catalog.add("%(n)s points", "%(m)s 分")
    catalog.add(("%(count)s entry", "%(count)s entries"), ("%(count)s 条",))
    catalog.add(("One", "%(count)s several"), ("%(count)s 个",))

    problems = i18n_script.catalog_problems(template, catalog, "zh_CN")
    kinds = {problem.msgid: problem.kind for problem in problems}
    assert kinds == {
        "Missing": "missing",
        "Empty": "untranslated",
        "Guessed": "fuzzy",
        "%(n)s points": "placeholders",
        "One": "outdated",
    }
    assert all(problem.where for problem in problems)
