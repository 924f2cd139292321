"""API models of the compliance dashboard."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from uhealthsec.server.compliance.dashboard import STATUS_LABELS, Dashboard

StatusValue = Literal["ok", "watch", "late"]


class ItemOut(BaseModel):
    key: str
    title: str
    status: StatusValue
    #: The status in words (French): "conforme", "à surveiller", "en retard".
    status_label: str
    summary: str
    rule: str
    details: list[str]
    facts: dict[str, Any]


class DashboardOut(BaseModel):
    practice_id: uuid.UUID
    practice_name: str
    generated_at: datetime
    status: StatusValue
    status_label: str
    items: list[ItemOut]


def dashboard_out(dashboard: Dashboard) -> DashboardOut:
    return DashboardOut(
        practice_id=dashboard.practice_id,
        practice_name=dashboard.practice_name,
        generated_at=dashboard.generated_at,
        status=dashboard.status.value,
        status_label=STATUS_LABELS[dashboard.status],
        items=[
            ItemOut(
                key=i.key,
                title=i.title,
                status=i.status.value,
                status_label=STATUS_LABELS[i.status],
                summary=i.summary,
                rule=i.rule,
                details=i.details,
                facts=i.facts,
            )
            for i in dashboard.items
        ],
    )
