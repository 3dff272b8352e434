"""Certkeeper's version, defined once in pyproject.toml and read from the installed metadata."""

from __future__ import annotations

from importlib.metadata import version

VERSION = version("certkeeper")
