from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response, status

from services.api.deps import DEFAULT_PAGE, Admin, Cursor, Limit, ResourcesDep, SessionDep
from services.api.schemas.common import page_of, problems
from services.api.schemas.notifications import (
    NotificationRuleCreate,
    NotificationRuleCreated,
    NotificationRulePage,
    NotificationRulePublic,
    NotificationRuleUpdate,
)
from shared.domain import notifications_rules as rules
from shared.domain.notifications_rules import RuleChange, RuleSpec

router = APIRouter(prefix="/v1/notification-rules", tags=["notification-rules"])


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


@router.post("", operation_id="createNotificationRule", status_code=status.HTTP_201_CREATED,
             responses=problems(400, 409))
async def create_notification_rule(
    body: NotificationRuleCreate, session: SessionDep, resources: ResourcesDep, actor: Admin
) -> NotificationRuleCreated:
    """Who hears about what. A webhook URL that resolves to a private address is refused
    (422 ``webhook-url-not-allowed``) unless ``CERTKEEPER_WEBHOOK_ALLOW_PRIVATE``; a webhook
    rule without a secret gets one, shown in this answer only."""
    spec = RuleSpec(
        name=body.name, channel=body.channel, recipients=tuple(map(str, body.recipients)),
        url=body.url, secret=body.secret, events=tuple(body.events),
        domains=tuple(body.domains), expiry_thresholds_days=tuple(body.expiry_thresholds_days),
        enabled=body.enabled,
    )
    runtime = resources.runtime
    rule, secret = await rules.create_rule(session, runtime.keyring, runtime.settings, spec,
                                           actor)
    created = NotificationRuleCreated.model_validate(rule)
    created.secret = secret
    return created


@router.get("", operation_id="listNotificationRules", responses=problems())
async def list_notification_rules(
    session: SessionDep, _admin: Admin, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> NotificationRulePage:
    return page_of(NotificationRulePage, await rules.list_rules(session, cursor, limit))


@router.get("/{rule_id}", operation_id="getNotificationRule", responses=problems(404))
async def get_notification_rule(
    rule_id: UUID, session: SessionDep, _admin: Admin
) -> NotificationRulePublic:
    return NotificationRulePublic.model_validate(await rules.get_rule(session, rule_id))


@router.patch("/{rule_id}", operation_id="updateNotificationRule",
              responses=problems(400, 404, 409))
async def update_notification_rule(
    rule_id: UUID, body: NotificationRuleUpdate, session: SessionDep, resources: ResourcesDep,
    actor: Admin,
) -> NotificationRulePublic:
    change = RuleChange(
        name=body.name, recipients=_tuple(body.recipients), url=body.url, secret=body.secret,
        events=None if body.events is None else tuple(body.events),
        domains=_tuple(body.domains),
        expiry_thresholds_days=(None if body.expiry_thresholds_days is None
                                else tuple(body.expiry_thresholds_days)),
        enabled=body.enabled,
    )
    runtime = resources.runtime
    rule = await rules.update_rule(session, runtime.keyring, runtime.settings, rule_id, change,
                                   actor)
    return NotificationRulePublic.model_validate(rule)


@router.delete("/{rule_id}", operation_id="deleteNotificationRule",
               status_code=status.HTTP_204_NO_CONTENT, responses=problems(404))
async def delete_notification_rule(rule_id: UUID, session: SessionDep, actor: Admin) -> Response:
    """Its deliveries stay listed; those not sent yet go ``dead``."""
    await rules.delete_rule(session, rule_id, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
