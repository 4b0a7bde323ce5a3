"""Notifications for the permission matrix and the object-access tests: a personal
message for each person with an account, a 金湾 broadcast, a robot of each branch and
the town's, and one dead delivery for the office's outbox page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.outbox.emit import emit
from service.persistence.db import Database
from service.persistence.notify import Delivery, DeliveryStatus, RobotService, RobotWebhook
from tests.conftest import SmallTown

ROBOT_URL = "http://127.0.0.1:9/cgi-bin/webhook/send?key=worldrobotkey"


def add_notifications(database: Database, town: SmallTown) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    with database.transaction() as session:
        for person in ("member", "member2", "secretary", "member3", "secretary2"):
            ids[f"notification_{person}"] = emit(
                session, "entry_rejected",
                params={"rule": "志愿服务", "date": "2026-12-01", "reason": "缺少照片"},
                link="/entries", accounts=[town.account_ids[person]],
            )[0].id  # fmt: skip
        robots = {}
        for name, branch_id in (("jinwan", town.jinwan), ("baoyuan", town.baoyuan), ("town", None)):
            robot = RobotWebhook(branch_id=branch_id, service=RobotService.WECOM, url=ROBOT_URL)
            session.add(robot)
            session.flush()
            robots[name] = robot.id
            ids[f"robot_{name}"] = robot.id
        ids["notification_jinwan"] = emit(
            session, "meeting_scheduled",
            params={"branch": "金湾", "meeting": "主题党日", "date": "2026-12-10",
                    "time": "09:00", "place": "会议室"},
            link="/meetings", branch_id=town.jinwan, broadcast="branch", robots="branch",
        )[0].id  # fmt: skip
        dead = session.scalar(
            select(Delivery).where(Delivery.webhook_id == robots["jinwan"]).limit(1)
        )
        assert dead is not None
        dead.status, dead.attempts, dead.last_error = DeliveryStatus.DEAD, 5, "HTTP 500"
        session.flush()
        ids["dead_delivery"] = dead.id
    return ids
