"""All tables; importing this module registers them on ``Base.metadata``."""

from shared.models.accounts import AcmeAccount
from shared.models.agents import Agent, AgentTask, Deployment, DeploymentTarget
from shared.models.base import Base
from shared.models.certificates import Certificate, CertificateName
from shared.models.dns import DnsProviderAccount, DomainMapping
from shared.models.idempotency import IdempotencyRecord
from shared.models.lineages import Lineage
from shared.models.notifications import (
    NotificationDelivery,
    NotificationEvent,
    NotificationRule,
)
from shared.models.requests import CertificateRequest, Challenge, RequestName
from shared.models.tokens import ApiToken, AuditEvent

__all__ = [
    "AcmeAccount",
    "Agent",
    "AgentTask",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Certificate",
    "CertificateName",
    "CertificateRequest",
    "Challenge",
    "Deployment",
    "DeploymentTarget",
    "DnsProviderAccount",
    "DomainMapping",
    "IdempotencyRecord",
    "Lineage",
    "NotificationDelivery",
    "NotificationEvent",
    "NotificationRule",
    "RequestName",
]
