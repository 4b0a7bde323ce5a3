"""The handout of a bulk account batch as a spreadsheet: one row per created account with
the town or branch, the member, the username, the one-time password, where to sign in and
the reminder to change it. Built in memory for the one response (web) or file (CLI) that
carries it: the passwords are never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Font

from service.accounts.bulk import IssuedAccount
from service.kernel.i18n import N_

COLUMNS = (
    N_("Town / branch"),
    N_("Member"),
    N_("Member number"),
    N_("Username"),
    N_("Initial password"),
    N_("Sign in at"),
    N_("Note"),
)
CHANGE_NOTE = N_("Change this password at first sign-in.")


def handout_rows(
    accounts: Sequence[IssuedAccount],
    *,
    town_name: str,
    sign_in_url: str,
    gettext: Callable[[str], str],
) -> list[list[str]]:
    note = gettext(CHANGE_NOTE)
    rows = []
    for issued in accounts:
        place = f"{town_name} {issued.branch_name}".strip()
        rows.append(
            [
                place,
                issued.member_name,
                issued.member_code,
                issued.username,
                issued.password,
                sign_in_url,
                note,
            ]
        )
    return rows


def handout_xlsx(
    accounts: Sequence[IssuedAccount],
    *,
    town_name: str,
    sign_in_url: str,
    gettext: Callable[[str], str],
) -> bytes:
    """The sheet as XLSX bytes. Every cell is typed as text, as the board exports do
    (service/boards/exports.py): a member named "=HYPERLINK(...)" stays a name and no
    spreadsheet runs it. No apostrophe is added (the CSV guard of
    service/kernel/spreadsheet.py): it would change a username or password typed from
    the sheet."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = gettext(N_("Accounts"))[:31]
    sheet.append([gettext(name) for name in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in handout_rows(
        accounts, town_name=town_name, sign_in_url=sign_in_url, gettext=gettext
    ):
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"
    for letter, width in zip("ABCDEFG", (28, 12, 14, 14, 16, 32, 28), strict=True):
        sheet.column_dimensions[letter].width = width
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
