"""The lock agrees with pyproject.toml, runtime dependencies are exactly what the service
imports, and the version is defined once."""

from __future__ import annotations

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.lock import (
    BUILD_LOCK,
    DEV_LOCK,
    ROOT,
    RUNTIME_LOCK,
    build_requires,
    declared,
    pins,
    pyproject,
)

# Runtime dependencies the code reaches without an import statement, and why.
LOADED_WITHOUT_IMPORT = {
    "aiosqlite": "SQLAlchemy loads it for sqlite+aiosqlite:// URLs (the embedded mode)",
    "httptools": "uvicorn loads it as its HTTP parser (services.serving: http='httptools')",
}
# This repository's own packages (the agent is installed from ./agent, beside the service).
OWN_PACKAGES = {"shared", "services", "tests", "bench", "scripts", "certkeeper_agent"}


class _Imports(ast.NodeVisitor):
    """Top-level names of the modules a file imports at run time (not under TYPE_CHECKING)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            for statement in node.orelse:
                self.visit(statement)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.names.update(alias.name.split(".")[0] for alias in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.level == 0:
            self.names.add(node.module.split(".")[0])


def _third_party_imports(*folders: str) -> set[str]:
    visitor = _Imports()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            visitor.visit(ast.parse(path.read_text(), filename=str(path)))
    return {
        name for name in visitor.names
        if name not in sys.stdlib_module_names and name not in OWN_PACKAGES
    }


def _distributions_of(modules: set[str]) -> dict[str, set[str]]:
    """Top-level module -> the installed distributions (canonical names) that provide it."""
    providers = packages_distributions()
    return {m: {canonicalize_name(d) for d in providers.get(m, [])} for m in modules}


def _names(requirements: list[Requirement]) -> set[str]:
    return {canonicalize_name(r.name) for r in requirements}


def test_every_declared_dependency_is_locked_at_a_version_it_allows() -> None:
    for lock, requirements in (
        (RUNTIME_LOCK, declared()),
        (DEV_LOCK, declared() + declared("dev")),
        (BUILD_LOCK, build_requires()),
    ):
        locked = pins(lock)
        for requirement in requirements:
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{name} is not in {lock.name}: run `make lock`"
            assert requirement.specifier.contains(locked[name], prereleases=True), (
                f"{lock.name} pins {name}=={locked[name]}, pyproject asks {requirement}: "
                "run `make lock`"
            )


def test_the_image_and_the_virtualenv_install_the_same_versions() -> None:
    runtime, dev = pins(RUNTIME_LOCK), pins(DEV_LOCK)
    assert runtime, "the runtime lock pins nothing"
    assert {name: dev.get(name) for name in runtime} == runtime
    assert not _names(declared("dev")) & set(runtime), "a dev tool ended up in the image"


def test_every_import_of_the_service_is_a_declared_runtime_dependency() -> None:
    runtime = _names(declared())
    for module, providers in _distributions_of(_third_party_imports("shared", "services")).items():
        assert providers & runtime, (
            f"`import {module}` ({providers or 'not installed'}) is not a runtime dependency"
        )


def test_every_runtime_dependency_is_used_by_the_service() -> None:
    imported: set[str] = set()
    for providers in _distributions_of(_third_party_imports("shared", "services")).values():
        imported |= providers
    unused = _names(declared()) - imported - set(LOADED_WITHOUT_IMPORT)
    assert not unused, f"runtime dependencies nothing imports (move them to dev?): {unused}"


def test_every_import_of_the_tests_is_declared() -> None:
    allowed = _names(declared()) | _names(declared("dev"))
    for module, providers in _distributions_of(
        _third_party_imports("tests", "bench", "scripts")
    ).items():
        # A package may come in with another declared one (yaml via PyYAML, packaging via
        # pytest): what matters is that the lock installs it.
        assert providers & (allowed | set(pins(DEV_LOCK))), (
            f"tests import {module} ({providers or 'not installed'}), which no lock installs"
        )


def test_the_version_is_defined_once() -> None:
    from services.all_in_one import embedded_resources
    from services.api.app import create_app
    from shared.acme_gateway import USER_AGENT
    from shared.config import Settings
    from shared.version import VERSION

    project = pyproject()["project"]
    assert isinstance(project, dict)
    assert VERSION == project["version"]
    app = create_app(embedded_resources(Settings(data_dir=Path("/nonexistent"))))
    assert app.openapi()["info"]["version"] == VERSION
    assert USER_AGENT.startswith(f"certkeeper/{VERSION} ")
