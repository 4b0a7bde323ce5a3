"""Route handlers of this feature, registered in web/app.py through HANDLERS."""

from __future__ import annotations

from typing import Any

from web.accounts.views import PasswordController
from web.branches.views import RosterController
from web.orgadmin.views import OrgAdminController

# Controllers (or handlers) of this package; web/app.py registers every one.
# PasswordController (/account/password) lives with sign-in in web/accounts and
# RosterController (/branches/{id}/roster) with the branch pages; web/app.py registers
# only the first controller of each of those packages, so they are registered here.
HANDLERS: list[Any] = [OrgAdminController, PasswordController, RosterController]
