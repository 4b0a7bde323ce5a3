"""Keep the gettext catalog in step with the code, through Babel's Python API.

    .venv/bin/python scripts/i18n.py update   # babel.cfg -> messages.pot -> zh_CN messages.po
    .venv/bin/python scripts/i18n.py check    # exit 1 unless every message is translated

``update`` is ``pybabel extract`` + ``pybabel update`` (``init`` the first time) and says
what it did: new, untranslated and fuzzy messages, and messages that left the code. Those
stay in the .po as obsolete ``#~`` entries and come back, translation and all, if the
string returns. Fuzzy matching may pre-fill a new message with the translation of a similar
old one, marked fuzzy: review it and delete the flag (``--no-fuzzy-matching`` to skip).

``check`` extracts afresh (no ``update`` needed first) and lists every message of the code
that is missing from the zh_CN catalog, untranslated, fuzzy, or whose translation does not
use the same %-placeholders as the English. Templates always %-format their messages and
the domain's ``Message.render`` does when it has parameters, so a placeholder the msgid
lacks, a changed conversion (``%(max)d`` -> ``%(max)s``) or a lone ``%`` would break
rendering. tests/unit/test_translations.py runs the same check.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
MAPPING_FILE = ROOT / "babel.cfg"
TRANSLATIONS_DIR = ROOT / "web" / "translations"
TEMPLATE_FILE = TRANSLATIONS_DIR / "messages.pot"
LOCALES = ("zh_CN",)
PROJECT = "Jifen"

# write_po wraps header comments at 76 columns: keep these lines shorter.
TEMPLATE_HEADER = """\
# Jifen UI messages (English source), extracted by
# `scripts/i18n.py update` from the files babel.cfg lists.
# Generated: do not edit; translate in <locale>/LC_MESSAGES/messages.po."""

CATALOG_HEADER = """\
# {locale} translation of the Jifen UI.
# `scripts/i18n.py update` merges new messages in;
# `scripts/i18n.py check` must pass."""

MessageKey = tuple[str, str | None]


def po_file(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"


def _version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as fileobj:
        return str(tomllib.load(fileobj)["project"]["version"])


def _key(message: Message) -> MessageKey:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return msgid, message.context


def _msgid(message: Message) -> str:
    return _key(message)[0]


def _strings(message: Message) -> tuple[str, ...]:
    string = message.string
    if isinstance(string, str):
        return (string,)
    return tuple(part or "" for part in (string or ()))


def _messages(catalog: Catalog) -> list[Message]:
    """The catalog's messages without the header entry."""
    return [message for message in catalog if message.id]


def _where(message: Message) -> str:
    return ", ".join(f"{path}:{line}" if line else path for path, line in message.locations)


# --- extraction ------------------------------------------------------------------------


def extract(root: Path = ROOT) -> Catalog:
    """Every translatable message in the files babel.cfg maps, as a template catalog."""
    with MAPPING_FILE.open(encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(  # type: ignore[no-untyped-call]
            fileobj, str(MAPPING_FILE)
        )
    top_dirs = {pattern.split("/", 1)[0] for pattern, _method in method_map}

    def directory_filter(path: str) -> bool:
        parts = Path(os.path.relpath(path, root)).parts
        return parts[0] in top_dirs and not any(p.startswith((".", "_")) for p in parts)

    catalog = Catalog(project=PROJECT, version=_version(), header_comment=TEMPLATE_HEADER)
    # Keywords and comment tags come from babel.cfg only, so it alone says what is extracted.
    for filename, lineno, message, comments, context in extract_from_dir(
        root,
        method_map,
        options_map,
        keywords={},
        strip_comment_tags=True,
        directory_filter=directory_filter,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


# --- reading and writing ---------------------------------------------------------------

_DATE_LINES = re.compile(rb'^"(?:POT-Creation-Date|PO-Revision-Date): [^"]*"\n', re.MULTILINE)


def read_catalog(path: Path, locale: str) -> Catalog:
    with path.open("rb") as fileobj:
        return read_po(fileobj, locale=locale, abort_invalid=True)


def write_catalog(path: Path, catalog: Catalog, **options: Any) -> bool:
    """Write ``catalog`` unless only its date headers would change; True if written."""
    buffer = BytesIO()
    write_po(buffer, catalog, **options)
    content = buffer.getvalue()
    if path.exists() and _DATE_LINES.sub(b"", path.read_bytes()) == _DATE_LINES.sub(b"", content):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


# --- update ----------------------------------------------------------------------------


def _obsolete_key(key: MessageKey) -> str | tuple[str, str]:
    msgid, context = key
    return msgid if context is None else (msgid, context)  # as read_po keys Catalog.obsolete


def _revive_obsolete(catalog: Catalog, template: Catalog) -> set[MessageKey]:
    """Bring back obsolete entries whose msgid is in the code again (Babel would not)."""
    wanted = {_key(message) for message in _messages(template)}
    present = {_key(message) for message in _messages(catalog)}
    revived = set()
    for obsolete_key, message in list(catalog.obsolete.items()):
        if _key(message) in wanted and _key(message) not in present:
            del catalog.obsolete[obsolete_key]
            catalog[message.id] = message
            revived.add(_key(message))
    return revived


def new_catalog(locale: str) -> Catalog:
    return Catalog(
        locale=locale,
        project=PROJECT,
        version=_version(),
        header_comment=CATALOG_HEADER.format(locale=locale),
        revision_date=datetime.now(UTC),
        fuzzy=False,
    )


def update_locale(template: Catalog, locale: str, *, fuzzy_matching: bool = True) -> Catalog:
    """Merge ``template`` into the locale's .po (created if missing) and report on it."""
    path = po_file(locale)
    catalog = read_catalog(path, locale) if path.exists() else new_catalog(locale)
    before = {_key(message): message for message in _messages(catalog)}
    restored = _revive_obsolete(catalog, template)
    obsolete_before = set(catalog.obsolete)
    catalog.update(template, no_fuzzy_matching=not fuzzy_matching)
    for key, message in before.items():
        # Babel drops an old message that a fuzzy match borrowed from instead of keeping
        # it as obsolete; keep it, so its translation returns if its msgid does.
        if catalog.get(*key) is None:
            catalog.obsolete.setdefault(_obsolete_key(key), message)
    gone = {k: m for k, m in catalog.obsolete.items() if k not in obsolete_before}
    for obsolete_key, message in gone.items():
        # write_po drops the flags of obsolete entries: an unreviewed guess kept there
        # would come back as a real translation. Keep only reviewed ones.
        if message.fuzzy or not _translated(message, catalog):
            del catalog.obsolete[obsolete_key]
    for message in _messages(catalog):
        # Catalog.update keeps the old entry's flags, even for a fuzzy match on another msgid.
        if "python-format" in message.flags and not message.python_format:
            message.flags.discard("python-format")
        # read_po takes "#| msgid ..." (previous msgid, written by msgmerge or Poedit) for a
        # translator comment, so it would pile up as "# | msgid ..." on every update.
        message.user_comments = [c for c in message.user_comments if not c.startswith("|")]
    written = write_catalog(path, catalog)

    messages = _messages(catalog)
    fuzzy = [m for m in messages if m.fuzzy]
    untranslated = [m for m in messages if not m.fuzzy and not _translated(m, catalog)]
    done = len(messages) - len(fuzzy) - len(untranslated)
    state = "written" if written else "unchanged"
    print(f"{_rel(path)}: {done} of {len(messages)} messages translated ({state})")
    _print_list("new in the code", [m for m in messages if _key(m) not in {*before, *restored}])
    _print_list(
        "back in the code, translation restored from the obsolete entry",
        [m for m in messages if _key(m) in restored],
    )
    _print_list(
        "no longer in the code, kept as obsolete #~ entries",
        [m for k, m in gone.items() if k in catalog.obsolete],
    )
    _print_list(
        "no longer in the code, dropped (untranslated or fuzzy)",
        [m for k, m in gone.items() if k not in catalog.obsolete],
    )
    _print_list("fuzzy: review the guessed translation, then remove the flag", fuzzy, True)
    _print_list("untranslated", untranslated)
    return catalog


def update(*, fuzzy_matching: bool = True) -> int:
    template = extract()
    written = write_catalog(TEMPLATE_FILE, template)
    state = "written" if written else "unchanged"
    print(f"{_rel(TEMPLATE_FILE)}: {len(template)} messages ({state})")
    for locale in LOCALES:
        update_locale(template, locale, fuzzy_matching=fuzzy_matching)
    return 0


def _print_list(title: str, messages: Sequence[Message], guesses: bool = False) -> None:
    if not messages:
        return
    print(f"  {title} ({len(messages)}):")
    for message in messages:
        where = _where(message)
        print(f"    {_msgid(message)!r}" + (f"  [{where}]" if where else ""))
        if guesses and message.previous_id:
            print(f"      guessed from {message.previous_id[0]!r}")


def _rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


# --- check -----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?"
    r"(?P<conversion>[diouxXeEfFgGcrsa%])"
)


def placeholders(text: str) -> tuple[set[str], list[str]]:
    """The named placeholders (``%(points)s``; ``%%`` counts as one) and the positional
    conversions of ``text``. Raises ValueError on a ``%`` that starts no placeholder."""
    named: set[str] = set()
    positional: list[str] = []
    position = text.find("%")
    while position != -1:
        match = _PLACEHOLDER.match(text, position)
        if match is None:
            raise ValueError(f"a lone '%' at {text[position : position + 12]!r}")
        name, conversion = match.group("name"), match.group("conversion")
        if conversion == "%":
            named.add("%%")
        elif name is not None:
            named.add(f"%({name}){conversion}")
        else:
            positional.append(f"%{conversion}")
        position = text.find("%", match.end())
    return named, positional


def placeholder_problems(
    msgids: Sequence[str], msgstrs: Sequence[str], num_plurals: int = 1
) -> list[str]:
    """What is wrong with the placeholders of ``msgstrs`` given the English ``msgids``.

    A single message must use exactly the msgid's placeholders. In a plural message every
    form may use those of either English form; with one plural form (Chinese) that form
    serves every count, so it must carry the plural msgid's placeholders (``%(count)s``).
    """
    try:
        parsed = [placeholders(msgid) for msgid in msgids]
    except ValueError:
        return []  # the English itself is not a format string; nothing to compare
    allowed = set().union(*(named for named, _positional in parsed))
    problems = []
    for index, msgstr in enumerate(msgstrs):
        label = f"msgstr[{index}]" if len(msgids) > 1 else "msgstr"
        try:
            named, positional = placeholders(msgstr)
        except ValueError as error:
            problems.append(f"{label} has {error}; %-formatting would fail")
            continue
        if len(msgids) == 1:
            required, expected_positional = parsed[0][0], parsed[0][1]
        else:
            general = num_plurals == 1 or index > 0
            required = parsed[-1][0] if general else set()
            expected_positional = parsed[-1][1] if general else positional
        if unknown := sorted(named - allowed):
            problems.append(f"{label} uses {', '.join(unknown)}, which the msgid does not have")
        if lacking := sorted(required - named):
            problems.append(f"{label} lacks {', '.join(lacking)}")
        if positional != expected_positional:
            problems.append(f"{label} has positional {positional}, expected {expected_positional}")
    return problems


@dataclass(frozen=True)
class Problem:
    kind: str  # missing, outdated, untranslated, fuzzy, placeholders, catalog
    msgid: str
    detail: str = ""
    where: str = ""

    def __str__(self) -> str:
        text = f"{self.kind:<13} {self.msgid!r}" if self.msgid else f"{self.kind:<13}"
        if self.detail:
            text += f": {self.detail}" if self.msgid else f" {self.detail}"
        if self.where:
            text += f"  [{self.where}]"
        return text


def _translated(message: Message, catalog: Catalog) -> bool:
    strings = _strings(message)
    needed = catalog.num_plurals if message.pluralizable else 1
    return len(strings) >= needed and all(strings[:needed])


def catalog_problems(template: Catalog, catalog: Catalog, locale: str) -> list[Problem]:
    """Every message of ``template`` that ``catalog`` does not translate usably."""
    problems = []
    num_plurals = get_plural(locale).num_plurals
    if catalog.num_plurals != num_plurals:
        detail = f"Plural-Forms has nplurals={catalog.num_plurals}; {locale} has {num_plurals}"
        problems.append(Problem("catalog", "", detail))
    if catalog.fuzzy:
        problems.append(Problem("catalog", "", "the header entry is marked fuzzy"))
    for expected in _messages(template):
        msgid, context = _key(expected)
        where = _where(expected)
        message = catalog.get(msgid, context)
        if message is None:
            problems.append(Problem("missing", msgid, "not in the catalog; run update", where))
            continue
        if expected.id != message.id:
            detail = f"the catalog has {message.id!r}; run update"
            problems.append(Problem("outdated", msgid, detail, where))
            continue
        if message.fuzzy:
            problems.append(Problem("fuzzy", msgid, "review, then remove the flag", where))
            continue
        if not _translated(message, catalog):
            problems.append(Problem("untranslated", msgid, "", where))
            continue
        msgids = [expected.id] if isinstance(expected.id, str) else list(expected.id)
        msgstrs = _strings(message)[: catalog.num_plurals if expected.pluralizable else 1]
        for detail in placeholder_problems(msgids, msgstrs, catalog.num_plurals):
            problems.append(Problem("placeholders", msgid, detail, where))
    return problems


def find_problems(locale: str = "zh_CN", template: Catalog | None = None) -> list[Problem]:
    """The check, for the code as it is now: an empty list means all is well."""
    template = extract() if template is None else template
    path = po_file(locale)
    if not path.exists():
        return [Problem("catalog", "", f"{_rel(path)} does not exist; run update")]
    return catalog_problems(template, read_catalog(path, locale), locale)


def _stale_template_note(template: Catalog) -> str | None:
    if not TEMPLATE_FILE.exists():
        return f"{_rel(TEMPLATE_FILE)} does not exist; run update"
    with TEMPLATE_FILE.open("rb") as fileobj:
        committed = {_key(message) for message in _messages(read_po(fileobj))}
    extracted = {_key(message) for message in _messages(template)}
    if committed == extracted:
        return None
    return (
        f"{_rel(TEMPLATE_FILE)} differs from the code ({len(extracted - committed)} msgids "
        f"to add, {len(committed - extracted)} to drop); run update"
    )


def check(locales: Iterable[str] = LOCALES) -> int:
    template = extract()
    failed = False
    for locale in locales:
        problems = find_problems(locale, template)
        if problems:
            failed = True
            print(f"{locale}: {len(problems)} problem(s) in {_rel(po_file(locale))}:")
            for problem in problems:
                print(f"  {problem}")
        else:
            print(f"{locale}: all {len(template)} messages of the code are translated")
    if note := _stale_template_note(template):
        print(f"note: {note}")
    if failed:
        print("Run `.venv/bin/python scripts/i18n.py update`, translate, and check again.")
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    update_parser = commands.add_parser(
        "update", help="extract messages.pot and merge it into each locale's .po"
    )
    update_parser.add_argument(
        "--no-fuzzy-matching",
        action="store_true",
        help="do not pre-fill new messages with the translation of a similar old one",
    )
    commands.add_parser("check", help="exit 1 unless every message is usably translated")
    arguments = parser.parse_args(argv)
    if arguments.command == "update":
        return update(fuzzy_matching=not arguments.no_fuzzy_matching)
    return check()


if __name__ == "__main__":
    sys.exit(main())
