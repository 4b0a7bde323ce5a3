"""The layout rules of scripts/check_layout.py hold, and the checker finds what it is
for (a checker that can find nothing proves nothing)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def checker(project_root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_layout", project_root / "scripts" / "check_layout.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_layout_rules_hold(checker: ModuleType) -> None:
    assert checker.problems() == []


def test_a_private_import_is_found(checker: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from service.cli import common\n"
        "from service.ledger.verify import _check_totals, verify_ledger\n"
        "from service.kernel.i18n import __all__ as names\n"
        "from os import _exit\n"
        "common._acting_account\n"
        "common.console\n"
    )
    assert checker.private_imports(source) == [
        "2: imports private service.ledger.verify._check_totals",
        "5: reads private common._acting_account",
    ]
