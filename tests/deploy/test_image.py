"""The Dockerfile, checked without a container engine: hadolint, then the properties the
image must have (pinned base, install from the lock, non-root, no secrets, `certkeeper`
entrypoint, nothing built in the final stage)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field

from tests.deploy.lock import ROOT
from tests.deploy.tools import run_tool

DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAME = re.compile(r"key|secret|password|passwd|token|credential", re.IGNORECASE)
# An exact release (python:3.11.14-slim-bookworm) or a digest; never a floating tag.
PINNED = re.compile(r"^[\w./-]+(:\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|cargo|rustc|pip install|apt-get)\b")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def _instructions() -> list[tuple[str, str]]:
    logical, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            words = args.split()
            stages.append(Stage(base=words[0], name=words[2] if len(words) > 2 else None))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def _assignments(keyword: str, args: str) -> list[tuple[str, str]]:
    """ENV/ARG name and value pairs (``ENV A=1 B=2``, legacy ``ENV A 1``, ``ARG A``)."""
    words = shlex.split(args)
    if keyword == "ENV" and len(words) >= 2 and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(name, value) for name, _, value in (word.partition("=") for word in words)]


def test_hadolint_finds_nothing() -> None:
    run_tool("hadolint", "--failure-threshold", "info", str(DOCKERFILE))


def test_every_base_image_is_pinned() -> None:
    for stage in _stages():
        if stage.base in {s.name for s in _stages()}:
            continue  # FROM an earlier stage
        assert PINNED.match(stage.base) and (":" in stage.base or "@" in stage.base), (
            f"base image {stage.base} is not pinned to an exact release or a digest"
        )
        assert not stage.base.endswith(":latest")


def test_dependencies_come_from_the_hashed_lock_as_wheels() -> None:
    build = _stages()[0]
    installs = [run for run in build.all("RUN") if "pip install" in run]
    assert installs, "the build stage installs nothing"
    lock_install = installs[0]
    for flag in ("--require-hashes", "--no-deps", "--only-binary :all:",
                 "-r requirements/runtime.txt"):
        assert flag in lock_install, f"the lock install lacks {flag}"
    assert all("--no-deps" in run for run in installs), "a pip install resolves on its own"
    builds = [run for run in build.all("RUN") if "pip wheel" in run]
    assert builds and all("--no-build-isolation" in run for run in builds), (
        "Certkeeper is built with an unlocked build backend"
    )
    assert any("-r requirements/build.txt" in run and "--require-hashes" in run
               for run in installs), "the build backend does not come from its lock"


def test_the_final_stage_runs_certkeeper_as_a_non_root_user_and_builds_nothing() -> None:
    final = _stages()[-1]
    user = final.all("USER")[-1]
    assert user.split(":")[0] not in {"root", "0"}, "the image runs as root"
    assert json.loads(final.all("ENTRYPOINT")[-1]) == ["certkeeper"]
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"the final stage builds or installs: {run}"
    copies = final.all("COPY")
    assert copies and all(copy.startswith("--from=") for copy in copies), (
        "the final stage takes files from the build stage only"
    )


def test_no_secret_is_baked_into_the_image() -> None:
    for stage in _stages():
        for keyword, args in stage.instructions:
            if keyword not in {"ENV", "ARG"}:
                continue
            for name, value in _assignments(keyword, args):
                assert not (SECRET_NAME.search(name) and value), (
                    f"{keyword} {name} gives a secret a value in the image"
                )


def test_the_build_context_lets_through_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        verdict = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                verdict = not negate
        return verdict

    for stage in _stages():
        for copy in stage.all("COPY"):
            if copy.startswith("--from="):
                continue
            for source in shlex.split(copy)[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
                assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
