"""The demo town's people: branches, organisations, members and the demo accounts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert

from service.accounts.passwords import hash_password
from service.ops.seed.notices import write_settings
from service.ops.seed.plan import BranchPlan, MemberPlan, Profile, fit
from service.ops.seed.state import DAY_OPENS, OPERATING, SUSPENDED, BuilderState
from service.ops.seed.town_file import NamedBranch
from service.persistence.models import (
    Account,
    Branch,
    BranchKind,
    Member,
    MemberStatus,
    Organisation,
    OrganisationKind,
    Role,
    RoleGrant,
)


class PeopleSteps(BuilderState):
    def _profile(self, named: NamedBranch | None) -> Profile:
        activity = self.town.activity
        weights = (named.rule_weights if named else None) or activity.rule_weights
        share = named.active_share if named and named.active_share is not None else None
        return Profile(
            active_share=activity.active_share if share is None else share,
            rule_ids=tuple(weights),
            weights=tuple(weights.values()),
            descriptions=named.descriptions if named else {},
        )

    def _add_branch(
        self,
        name: str,
        kind: BranchKind,
        organisation_count: int,
        *,
        named: NamedBranch | None = None,
        social_only: bool = False,
    ) -> BranchPlan:
        if name in self.branch_by_name:
            raise ValueError(f"seeds/town.toml: two branches would be called {name}")
        plan = BranchPlan(
            id=len(self.branches) + 1,
            name=name,
            kind=kind,
            profile=self._profile(named),
            organisation_count=organisation_count,
            member_count=named.members if named else 0,
            named=named,
            social_only=social_only,
        )
        self.branches.append(plan)
        self.branch_by_name[name] = plan
        return plan

    def _branches(self) -> None:
        town, shape, rng = self.town, self.town.shape, self.rng
        for named in town.named_branches:
            self._add_branch(named.name, named.kind, named.organisations, named=named)
            self.used_names.update(o.name for o in named.named_organisations)

        # The joint branches share what the single branches and named ones leave over.
        others = [(name, False) for name in town.other_joint_branches.mixed]
        others += [(name, True) for name in town.other_joint_branches.social]
        singles_left = town.targets.branches_single - sum(
            b.kind is BranchKind.SINGLE for b in self.branches
        )
        spread = shape.joint_branch_organisations
        organisations_left = (
            town.targets.organisations
            - singles_left
            - sum(b.organisation_count for b in self.branches)
        )
        counts = fit(
            [spread.draw(rng) for _ in others],
            [(spread.low, spread.high)] * len(others),
            organisations_left,
            rng,
            what="organisations of joint branches",
        )
        for (name, social), count in zip(others, counts, strict=True):
            self._add_branch(name, BranchKind.JOINT, count, social_only=social)

        # A single branch is named after the one organisation it covers.
        for _ in range(singles_left):
            social = rng.random() < shape.social_share
            org_name = self._social_name() if social else self._enterprise_name()
            branch = self._add_branch(f"{org_name}党支部", BranchKind.SINGLE, 1)
            branch.social_only = social
            self.single_org_names[branch.id] = org_name

        created_at = self._at(self._first_day(), DAY_OPENS)
        self.session.execute(
            insert(Branch),
            [
                {
                    "id": b.id,
                    "code": f"B{b.id:03d}",
                    "name": b.name,
                    "kind": b.kind,
                    "created_at": created_at,
                }
                for b in self.branches
            ],
        )

    def _enterprise_name(self, endings: Sequence[str] | None = None) -> str:
        names = self.town.names
        return self._unique(
            lambda: (
                self.rng.choice(names.stems) + self.rng.choice(endings or names.enterprise_endings)
            )
        )

    def _social_name(self) -> str:
        names = self.town.names
        return self._unique(
            lambda: self.rng.choice(names.places) + self.rng.choice(names.social_endings)
        )

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        raise ValueError("seeds/town.toml: too few name parts for unique organisation names")

    def _organisations(self) -> None:
        shape, rng = self.town.shape, self.rng
        rows: list[dict[str, Any]] = []

        def add(
            branch: BranchPlan,
            name: str,
            kind: OrganisationKind,
            employees: int,
            owner: str | None = None,
            operating: bool | None = None,
        ) -> None:
            org_id = len(rows) + 1
            if operating is None:
                operating = rng.random() >= shape.suspended_share
            rows.append(
                {
                    "id": org_id,
                    "branch_id": branch.id,
                    "name": name,
                    "kind": kind,
                    "business_status": OPERATING if operating else SUSPENDED,
                    "employee_count": employees,
                    "owner_name": owner or str(self.faker.name()),
                }
            )
            branch.organisation_ids.append(org_id)

        for branch in self.branches:
            named = branch.named
            if named is not None:
                for org in named.named_organisations:
                    add(branch, org.name, org.kind, org.employees, org.owner, operating=True)
            while len(branch.organisation_ids) < branch.organisation_count:
                if branch.kind is BranchKind.SINGLE:
                    name = self.single_org_names[branch.id]
                    social = branch.social_only
                    spread = shape.social_employees if social else shape.single_enterprise_employees
                elif named is not None and named.endings:
                    name, social = self._enterprise_name(named.endings), False
                    spread = named.employees or shape.small_enterprise_employees
                else:
                    social = branch.social_only or rng.random() < shape.social_share
                    name = self._social_name() if social else self._enterprise_name()
                    spread = shape.social_employees if social else shape.small_enterprise_employees
                kind = OrganisationKind.SOCIAL if social else OrganisationKind.ENTERPRISE
                add(branch, name, kind, max(1, spread.draw(rng)))
        self.session.execute(insert(Organisation), rows)
        self.counts["organisations"] = len(rows)

    def _members(self) -> None:
        town, shape, rng = self.town, self.town.shape, self.rng
        unnamed = [b for b in self.branches if b.named is None]
        spreads = [
            shape.single_branch_members
            if b.kind is BranchKind.SINGLE
            else shape.joint_branch_members
            for b in unnamed
        ]
        counts = fit(
            [s.draw(rng) for s in spreads],
            [(s.low, s.high) for s in spreads],
            town.targets.members - sum(b.member_count for b in self.branches),
            rng,
            what="members",
        )
        for branch, count in zip(unnamed, counts, strict=True):
            branch.member_count = count

        shares = shape.status_shares
        rows: list[dict[str, Any]] = []
        for branch in self.branches:
            for _ in range(branch.member_count):
                member_id = len(rows) + 1
                roll = rng.random()
                if roll < shares.probationary:
                    status = MemberStatus.PROBATIONARY
                elif roll < shares.probationary + shares.mobile:
                    status = MemberStatus.MOBILE
                elif roll < shares.probationary + shares.mobile + shares.exempt:
                    status = MemberStatus.EXEMPT
                else:
                    status = MemberStatus.FULL
                branch.members.append(MemberPlan(member_id, branch.id, status))
                rows.append(
                    {
                        "id": member_id,
                        "code": f"M{member_id:04d}",
                        "name": str(self.faker.name()),
                        "branch_id": branch.id,
                        "organisation_id": rng.choice(branch.organisation_ids),
                        "status": status,
                        "joined_party_on": self._joined_on(status),
                        "active": True,
                    }
                )
        self.session.execute(insert(Member), rows)
        self.counts["members"] = len(rows)
        self.member_names = {row["id"]: row["name"] for row in rows}
        self.joined_on = {row["id"]: row["joined_party_on"] for row in rows}

    def _joined_on(self, status: MemberStatus) -> date:
        rng = self.rng
        if status is MemberStatus.PROBATIONARY:
            # A probationary member joined within the last year (the probation period).
            return self.until - timedelta(days=rng.randint(30, 360))
        if status is MemberStatus.EXEMPT:
            # Exemption is mostly for old age: these joined decades ago.
            return date(rng.randint(1962, 1990), rng.randint(1, 12), rng.randint(1, 28))
        # Workers in these organisations are mostly young, so recent years are likelier.
        years = rng.triangular(1.1, 40, 6)
        return self.until - timedelta(days=round(years * 365.25))

    def _accounts(self) -> None:
        demo = self.town.demo
        # One hash for all: the demo accounts share a password and argon2 is slow on purpose.
        password_hash = hash_password(demo.password)
        created_at = self._at(self._first_day(), DAY_OPENS)
        accounts: list[dict[str, Any]] = []
        grants: list[dict[str, Any]] = []
        for spec in demo.accounts:
            account_id = len(accounts) + 1
            member_id: int | None = None
            if spec.member_of is not None:
                member_id = self._pick_account_member(self.branch_by_name[spec.member_of])
                self.account_of_member[member_id] = account_id
                display_name = self.member_names[member_id]
            else:
                display_name = spec.display_name or str(self.faker.name())
            accounts.append(
                {
                    "id": account_id,
                    "username": spec.username,
                    "password_hash": password_hash,
                    "display_name": display_name,
                    "member_id": member_id,
                    "is_active": True,
                    "created_at": created_at,
                    "last_login_at": None,
                }
            )
            for grant in spec.grants:
                branch_id = self.branch_by_name[grant.branch].id if grant.branch else None
                grants.append(
                    {
                        "id": len(grants) + 1,
                        "account_id": account_id,
                        "role": grant.role,
                        "branch_id": branch_id,
                    }
                )
                if grant.role is Role.ADMIN and not self.admin_id:
                    self.admin_id = account_id
                elif grant.role is Role.SECRETARY and branch_id is not None:
                    self.secretary_of.setdefault(branch_id, account_id)
                elif grant.role is Role.INSTRUCTOR and branch_id is not None:
                    self.instructor_of.setdefault(branch_id, account_id)
        self.session.execute(insert(Account), accounts)
        self.session.execute(insert(RoleGrant), grants)
        write_settings(self.session, enumerate(demo.accounts, start=1), created_at)

    def _pick_account_member(self, branch: BranchPlan) -> int:
        candidates = [
            m.id
            for m in branch.members
            if m.status is MemberStatus.FULL and m.id not in self.account_of_member
        ]
        if not candidates:
            raise ValueError(f"{branch.name} has no full member left for a demo account")
        return self.rng.choice(candidates)
