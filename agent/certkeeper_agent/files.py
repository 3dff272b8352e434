"""Writing a certificate's files so that the set changes all at once.

Each file is first written beside its destination as a temp file (flushed, mode and owner
set). Then a journal listing every rename is written (itself atomically) into the state
directory, the renames are done, and the journal is removed. An agent killed before the
journal exists leaves the old files untouched; killed after, its next start finishes the
renames from the journal (:func:`recover`) before doing anything else. Either way the files
on disk end up all old or all new, never a certificate from one deploy beside the key from
another.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from certkeeper_agent.state import write_atomically

JOURNAL = "deploy-journal.json"
TEMP_SUFFIX = ".certkeeper-new"

Rename = Callable[[str, str], None]


@dataclass(frozen=True)
class FileSpec:
    path: Path
    content: bytes
    mode: int


def _temp_of(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


def _owner_ids(owner: str | None) -> tuple[int, int] | None:
    """``user[:group]`` as uid, gid (POSIX only; None: leave the owner as it is)."""
    if not owner or os.name == "nt":
        return None
    import grp
    import pwd

    user, _, group = owner.partition(":")
    entry = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    return entry.pw_uid, gid


def _write_temp(spec: FileSpec, ids: tuple[int, int] | None) -> Path:
    temp = _temp_of(spec.path)
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    temp.unlink(missing_ok=True)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, spec.mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(spec.content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, spec.mode)
    if ids is not None:
        os.chown(temp, *ids)
    return temp


def install(files: Sequence[FileSpec], state_dir: Path, owner: str | None = None,
            rename: Rename = os.replace) -> None:
    """Replace every file in ``files`` as one change (see the module's docstring)."""
    ids = _owner_ids(owner)
    pairs: list[tuple[str, str]] = []
    try:
        for spec in files:
            pairs.append((str(_write_temp(spec, ids)), str(spec.path)))
        write_atomically(state_dir / JOURNAL, json.dumps(pairs).encode(), 0o600)
    except BaseException:
        for temp, _final in pairs:
            Path(temp).unlink(missing_ok=True)
        raise
    _finish(pairs, state_dir, rename)


def _finish(pairs: Sequence[Sequence[str]], state_dir: Path, rename: Rename) -> None:
    for temp, final in pairs:
        if Path(temp).exists():
            rename(temp, final)
    (state_dir / JOURNAL).unlink(missing_ok=True)


def recover(state_dir: Path) -> bool:
    """Finish a deploy an earlier run was killed in. True if there was one."""
    journal = state_dir / JOURNAL
    if not journal.exists():
        return False
    _finish(json.loads(journal.read_text()), state_dir, os.replace)
    return True
