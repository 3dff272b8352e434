"""The settings of each deployment target kind, checked before anything is written."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from shared.errors import ValidationProblem
from shared.states import DeploymentKind

_ENDPOINT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253}):[0-9]{1,5}")

Path = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Endpoint = Annotated[str, StringConstraints(pattern=_ENDPOINT.pattern, max_length=262)]


class InvalidTarget(ValidationProblem):
    slug = "invalid-deployment-target"
    title = "The deployment target is not valid"


class AgentTargetConfig(BaseModel):
    """Files on an end server, written by its agent."""

    model_config = ConfigDict(extra="forbid")

    agent_id: UUID
    fullchain_path: Path
    key_path: Path
    cert_path: Path | None = None
    chain_path: Path | None = None
    file_owner: str | None = Field(None, max_length=64, description="user[:group] (POSIX)")
    reload_command: list[Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        None, min_length=1, max_length=64, description="argv, run without a shell"
    )
    reload_timeout_seconds: float = Field(60.0, gt=0, le=3600)
    confirm_endpoints: list[Endpoint] = Field(default_factory=list, max_length=32)
    confirm_grace_seconds: float = Field(30.0, ge=0, le=3600)


K8S_NAME = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


class KubernetesSecretConfig(BaseModel):
    """A ``kubernetes.io/tls`` Secret, written by server-side apply. Without ``kubeconfig``
    the issuer uses its in-cluster service account."""

    model_config = ConfigDict(extra="forbid")

    namespace: Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    secret_name: Annotated[str, StringConstraints(pattern=K8S_NAME)]
    kubeconfig: Path | None = Field(None, description="A kubeconfig file on the issuer's host")
    context: Annotated[str, StringConstraints(max_length=253)] | None = None


class WebhookConfig(BaseModel):
    """A POST of the certificate (Standard Webhooks signature with the target's ``secret``);
    the private key only when ``include_private_key`` says so."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
    include_private_key: bool = False


CONFIG_MODELS: dict[DeploymentKind, type[BaseModel]] = {
    DeploymentKind.AGENT: AgentTargetConfig,
    DeploymentKind.KUBERNETES_SECRET: KubernetesSecretConfig,
    DeploymentKind.WEBHOOK: WebhookConfig,
}
SECRET_KINDS = frozenset({DeploymentKind.WEBHOOK})  # kinds that need a write-only secret


SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks secret format


def signing_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (``whsec_`` + base64 of 24 to 64 bytes)."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not secret.startswith(SECRET_PREFIX) or not 24 <= len(key) <= 64:
        raise InvalidTarget("secret: a Standard Webhooks secret, whsec_ followed by the "
                            "base64 of 24 to 64 random bytes")
    return key


def check_secret(kind: DeploymentKind, secret: str | None) -> None:
    if kind in SECRET_KINDS and secret is None:
        raise InvalidTarget(f"a {kind} target needs a secret")
    if kind not in SECRET_KINDS and secret is not None:
        raise InvalidTarget(f"a {kind} target takes no secret")
    if secret is not None:
        signing_key(secret)


def checked_config(kind: DeploymentKind, config: dict[str, Any]) -> dict[str, Any]:
    """The config as the kind's model accepts it, or ``invalid-deployment-target``."""
    model = CONFIG_MODELS.get(kind)
    if model is None:
        raise InvalidTarget(f"deployment targets of kind {kind} are not supported yet")
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                           for e in exc.errors(include_input=False))
        raise InvalidTarget(f"{kind}: {fields}") from None
    return parsed.model_dump(mode="json", exclude_none=True)
