"""Certkeeper's agent: enrolled once, then long-polls the Certkeeper API for tasks (serve an
HTTP-01 token, deploy a certificate and reload, confirm the served serial)."""

__version__ = "0.1.0"
