"""Delivery to a ``kubernetes.io/tls`` Secret by server-side apply (``PATCH`` with
``application/apply-patch+yaml``, field manager ``certkeeper``, not forced: a Secret whose
fields another manager owns is a 409 and a clear failure, never silently taken over).

The Secret holds ``tls.crt`` (the full chain), ``tls.key`` and ``ca.crt`` (the chain above
the leaf), annotated with the certificate's id, serial and names. Every error of the client
library is translated here into :class:`DeliveryFailed`.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient, ApiException, Configuration, CoreV1Api
from kubernetes_asyncio.config import ConfigException, incluster_config, kube_config

from services.issuer.delivery import DeliveryFailed, Material
from shared.domain.deployment_config import KubernetesSecretConfig

FIELD_MANAGER = "certkeeper"
APPLY_PATCH = "application/apply-patch+yaml"
ANNOTATION = "certkeeper.dev/"
REQUEST_TIMEOUT_SECONDS = 30

_STATUS_MEANING = {
    401: "the Kubernetes API refused the credentials",
    403: "RBAC denies it: the service account needs get, create and patch on secrets in "
         "namespace {ns}",
    404: "namespace {ns} does not exist",
    409: "Secret {ns}/{name} has fields owned by another field manager; remove them or the "
         "Secret, or deploy under another name",
    422: "the Kubernetes API refused the Secret as invalid",
}


def secret_manifest(config: KubernetesSecretConfig, material: Material) -> dict[str, object]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": config.secret_name,
            "namespace": config.namespace,
            "annotations": {
                ANNOTATION + "certificate-id": material.certificate_id,
                ANNOTATION + "serial": material.serial,
                ANNOTATION + "names": ",".join(material.names),
            },
        },
        "data": {"tls.crt": b64(material.fullchain_pem), "tls.key": b64(material.key_pem),
                 "ca.crt": b64(material.chain_pem)},
    }


async def _client(config: KubernetesSecretConfig) -> ApiClient:
    if config.kubeconfig is not None:
        client: ApiClient = await kube_config.new_client_from_config(
            config_file=config.kubeconfig, context=config.context, persist_config=False)
        return client
    configuration = Configuration()
    incluster_config.load_incluster_config(  # type: ignore[no-untyped-call]
        client_configuration=configuration)
    return ApiClient(configuration)


def _failure(exc: ApiException, config: KubernetesSecretConfig) -> DeliveryFailed:
    status = int(exc.status or 0)
    meaning = _STATUS_MEANING.get(status, "the Kubernetes API answered {status}")
    detail = meaning.format(ns=config.namespace, name=config.secret_name, status=status)
    return DeliveryFailed(f"{detail} ({status} {exc.reason})", http_status=status)


async def apply_secret(config: KubernetesSecretConfig, material: Material) -> None:
    try:
        client = await _client(config)
    except (ConfigException, OSError, ValueError) as exc:
        raise DeliveryFailed(f"no Kubernetes configuration: {exc}") from None
    try:
        async with client:
            # The stubs leave out the generated client's request options (_content_type).
            options: dict[str, Any] = {"field_manager": FIELD_MANAGER,
                                       "_content_type": APPLY_PATCH,
                                       "_request_timeout": REQUEST_TIMEOUT_SECONDS}
            await CoreV1Api(client).patch_namespaced_secret(
                config.secret_name, config.namespace, secret_manifest(config, material),
                **options)
    except ApiException as exc:
        raise _failure(exc, config) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise DeliveryFailed(f"cannot reach the Kubernetes API: {type(exc).__name__}: {exc}"
                             ) from None
