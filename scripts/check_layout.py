"""The layout rules import-linter cannot check (run by `make lint` and by
tests/unit/test_layout.py). import-linter (pyproject.toml) checks which package may
import which; this checks the rest:

- no module imports another module's private names (``from x import _name``, or
  ``x._name`` on an imported project module): what is shared is public;
- no Python file under service/ or web/ is longer than MAX_LINES;
- every package under service/ says in its ``__init__`` docstring what it owns, and
  every web feature package registers itself the same way: a ``HANDLERS`` list;
- every package of service/ has its place in the layers contract and every web feature
  in the independence contract, so a new package cannot slip past import-linter.

Prints one line per problem ("path:line: what") and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("service", "web", "tests", "bench", "scripts")
MAX_LINES = 700
# Folders of web/ that hold no feature: the app's shared modules live beside them.
WEB_NOT_FEATURES = {"static", "templates", "translations", "__pycache__"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT_PACKAGES


def private_imports(path: Path) -> list[str]:
    """Private names of other project modules that ``path`` imports or reads."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    modules: set[str] = set()  # local names bound to project modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _is_project(node.module):
            for alias in node.names:
                if _is_private(alias.name):
                    problems.append(f"{node.lineno}: imports private {node.module}.{alias.name}")
                elif (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists():
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_project(alias.name) and alias.asname:
                    modules.add(alias.asname)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and _is_private(node.attr)
        ):
            problems.append(f"{node.lineno}: reads private {node.value.id}.{node.attr}")
    return problems


def python_files() -> list[Path]:
    files = []
    for package in PROJECT_PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def problems() -> list[str]:
    found = []
    for path in python_files():
        shown = path.relative_to(ROOT)
        found += [f"{shown}:{problem}" for problem in private_imports(path)]
        if shown.parts[0] in {"service", "web"}:
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                found.append(f"{shown}:1: {lines} lines; split it (at most {MAX_LINES})")
    for init in sorted((ROOT / "service").rglob("__init__.py")):
        if "migrations" in init.parts:
            continue
        if not ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))):
            found.append(f"{init.relative_to(ROOT)}:1: say in a docstring what this package owns")
    for feature in sorted(p for p in (ROOT / "web").iterdir() if p.is_dir()):
        if feature.name in WEB_NOT_FEATURES:
            continue
        init = feature / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8")) if init.exists() else ast.Module()
        names = {
            target.id
            for node in getattr(tree, "body", [])
            if isinstance(node, ast.Assign | ast.AnnAssign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        if "HANDLERS" not in names:
            found.append(f"{init.relative_to(ROOT)}:1: a web feature registers its HANDLERS")
    found += contract_coverage()
    return found


def contract_coverage() -> list[str]:
    """Packages import-linter's contracts (pyproject.toml) do not name."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layered = {
        name.strip()
        for contract in contracts
        if contract["type"] == "layers"
        for layer in contract["layers"]
        for name in layer.split("|")
    }
    independent = {
        name
        for contract in contracts
        if contract["type"] == "independence"
        for name in contract["modules"]
    }
    found = []
    for path in sorted((ROOT / "service").iterdir()):
        module = f"service.{path.stem}"
        if path.name.startswith("__") or not (path.is_dir() or path.suffix == ".py"):
            continue
        if module not in layered:
            found.append(f"pyproject.toml:1: {module} has no place in the layers contract")
    for path in sorted((ROOT / "web").iterdir()):
        feature = f"web.{path.name}"
        if path.is_dir() and path.name not in WEB_NOT_FEATURES and feature not in independent:
            found.append(f"pyproject.toml:1: {feature} is not in the independence contract")
    return found


def main() -> int:
    found = problems()
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
