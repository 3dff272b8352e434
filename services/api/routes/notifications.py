from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query

from services.api.deps import DEFAULT_PAGE, Cursor, Limit, Operator, SessionDep, Unscoped
from services.api.schemas.common import page_of, problems
from services.api.schemas.notifications import NotificationPage
from shared.domain import notifications_rules as rules
from shared.models.notifications import EventType
from shared.states import DeliveryStatus

router = APIRouter(prefix="/v1/notifications", tags=["notifications"],
                   dependencies=[Unscoped])


@router.get("", operation_id="listNotifications", responses=problems())
async def list_notifications(
    session: SessionDep,
    _operator: Operator,
    status: DeliveryStatus | None = Query(None),  # noqa: B008
    event: EventType | None = Query(None),  # noqa: B008
    certificate_id: UUID | None = Query(None),  # noqa: B008
    rule_id: UUID | None = Query(None),  # noqa: B008
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> NotificationPage:
    """One row per delivery (a message to one recipient): ``pending``, ``sent``, ``failed``
    (tried again after a backoff; ``last_error`` says why) or ``dead`` (refused for good)."""
    page = await rules.list_deliveries(
        session, status=status, event=event, certificate_id=certificate_id, rule_id=rule_id,
        cursor=cursor, limit=limit,
    )
    return page_of(NotificationPage, page)
