"""Every permission of service/accounts/permissions.py, without a database: who may and
who may not, for the member, a secretary, an instructor and the office."""

from __future__ import annotations

import pytest

from service.accounts import permissions
from service.accounts.principal import Principal
from service.kernel.errors import PermissionDenied
from service.persistence.models import Entry, Role

JINWAN, BAOYUAN = 1, 2
MEMBER, SECRETARY, OTHER_MEMBER = 11, 13, 12


def principal(*grants: tuple[Role, int | None], member_id: int | None = None) -> Principal:
    return Principal(
        account_id=100 + (member_id or 0),
        username="someone",
        display_name="某人",
        member_id=member_id,
        member_branch_id=JINWAN if member_id else None,
        member_branch_name=None,
        grants=frozenset(grants),
    )


member = principal((Role.MEMBER, JINWAN), member_id=MEMBER)
# A secretary of 金湾 is also a member there.
secretary = principal((Role.MEMBER, JINWAN), (Role.SECRETARY, JINWAN), member_id=SECRETARY)
instructor = principal((Role.INSTRUCTOR, JINWAN))
office = principal((Role.ADMIN, None))
EVERYONE = {"member": member, "secretary": secretary, "instructor": instructor, "office": office}


def allowed(check: object, *args: object) -> set[str]:
    """The roles for whom ``check(actor, *args)`` says yes (or does not raise)."""
    names = set()
    for name, actor in EVERYONE.items():
        try:
            result = check(actor, *args)  # type: ignore[operator]
        except PermissionDenied:
            continue
        if result is None or result is True:
            names.add(name)
    return names


def test_require_admin_lets_only_the_office_through_with_the_message_given() -> None:
    assert allowed(permissions.require_admin) == {"office"}
    with pytest.raises(PermissionDenied) as refused:
        permissions.require_admin(secretary, "Only the organisation office publishes boards.")
    assert refused.value.message.msgid == "Only the organisation office publishes boards."
    with pytest.raises(PermissionDenied) as default:
        permissions.require_admin(member)
    assert default.value.message.msgid == permissions.OFFICE_ONLY


def test_require_reviewer_refuses_a_plain_member() -> None:
    assert allowed(permissions.require_reviewer) == {"secretary", "instructor", "office"}


def test_a_branch_is_seen_by_its_reviewers_and_the_office() -> None:
    assert allowed(permissions.can_view_branch, JINWAN) == {"secretary", "instructor", "office"}
    assert allowed(permissions.can_view_branch, BAOYUAN) == {"office"}
    assert allowed(permissions.require_branch_access, BAOYUAN) == {"office"}


def test_viewable_branch_ids_is_none_for_the_office_only() -> None:
    assert permissions.viewable_branch_ids(office) is None
    assert permissions.viewable_branch_ids(instructor) == frozenset({JINWAN})
    assert permissions.viewable_branch_ids(member) == frozenset()


def test_the_roster_is_read_by_reviewers_and_edited_by_the_secretary() -> None:
    assert allowed(permissions.can_view_roster, JINWAN) == {"secretary", "instructor", "office"}
    assert allowed(permissions.can_edit_roster, JINWAN) == {"secretary", "office"}
    assert allowed(permissions.require_roster_editor, JINWAN) == {"secretary", "office"}
    assert allowed(permissions.can_edit_roster, BAOYUAN) == {"office"}


def test_an_entry_is_seen_by_its_member_and_its_branchs_reviewers() -> None:
    own = Entry(member_id=MEMBER, branch_id=JINWAN)
    elsewhere = Entry(member_id=99, branch_id=BAOYUAN)
    assert allowed(permissions.can_view_entry, own) == set(EVERYONE)
    assert allowed(permissions.can_view_entry, elsewhere) == {"office"}


def test_nobody_decides_their_own_entry() -> None:
    assert allowed(permissions.require_may_decide, JINWAN, MEMBER) == {
        "secretary",
        "instructor",
        "office",
    }
    # The secretary's own entry goes to the instructor (or the office).
    assert allowed(permissions.require_may_decide, JINWAN, SECRETARY) == {"instructor", "office"}
    assert allowed(permissions.require_may_decide, BAOYUAN, 99) == {"office"}
    # The page's offer mirrors the service's check.
    for branch_id, member_id in [(JINWAN, MEMBER), (JINWAN, SECRETARY), (BAOYUAN, 99)]:
        assert allowed(permissions.can_decide, branch_id, member_id) == allowed(
            permissions.require_may_decide, branch_id, member_id
        )


def test_points_are_seen_by_the_member_and_the_branchs_reviewers() -> None:
    assert allowed(permissions.can_view_points, MEMBER, JINWAN) == set(EVERYONE)
    assert allowed(permissions.can_view_points, OTHER_MEMBER, JINWAN) == {
        "secretary",
        "instructor",
        "office",
    }
    assert allowed(permissions.can_view_points, 99, BAOYUAN) == {"office"}


def test_adjustments_are_recorded_by_the_secretary_never_for_themselves() -> None:
    assert allowed(permissions.can_record_in_branch, JINWAN) == {"secretary", "office"}
    assert allowed(permissions.can_record_adjustment, MEMBER, JINWAN) == {"secretary", "office"}
    assert allowed(permissions.can_record_adjustment, SECRETARY, JINWAN) == {"office"}
    assert allowed(permissions.require_recorder, JINWAN, MEMBER) == {"secretary", "office"}
    assert allowed(permissions.require_recorder, JINWAN, SECRETARY) == {"office"}
    with pytest.raises(PermissionDenied) as own:
        permissions.require_recorder(secretary, JINWAN, SECRETARY)
    assert own.value.message.msgid == "Nobody records adjustments to their own points."
