"""The agent writes a certificate's files as one change: a kill at any moment leaves the old
set, or (once the journal exists) a set the next start completes to the new one."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from certkeeper_agent.files import JOURNAL, FileSpec, install, recover
from certkeeper_agent.state import AgentState


def _old_set(directory: Path) -> list[Path]:
    paths = [directory / "fullchain.pem", directory / "cert.pem", directory / "key.pem"]
    for path in paths:
        path.write_text(f"old {path.name}")
    return paths


def _new_specs(paths: list[Path]) -> list[FileSpec]:
    return [FileSpec(p, f"new {p.name}".encode(), 0o600 if "key" in p.name else 0o644)
            for p in paths]


def test_install_writes_every_file_with_its_mode_and_leaves_no_journal(tmp_path: Path) -> None:
    paths = _old_set(tmp_path)

    install(_new_specs(paths), tmp_path)

    assert [p.read_text() for p in paths] == [f"new {p.name}" for p in paths]
    assert stat.S_IMODE(paths[0].stat().st_mode) == 0o644
    assert stat.S_IMODE(paths[2].stat().st_mode) == 0o600
    assert not (tmp_path / JOURNAL).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_a_crash_between_renames_is_completed_by_recover(tmp_path: Path) -> None:
    paths = _old_set(tmp_path)
    renamed: list[str] = []

    def crash_after_one(src: str, dst: str) -> None:
        if renamed:
            raise KeyboardInterrupt("killed")
        os.replace(src, dst)
        renamed.append(dst)

    with pytest.raises(KeyboardInterrupt):
        install(_new_specs(paths), tmp_path, rename=crash_after_one)
    assert paths[0].read_text() == "new fullchain.pem" and paths[2].read_text() == "old key.pem"

    assert recover(tmp_path) is True
    assert [p.read_text() for p in paths] == [f"new {p.name}" for p in paths]
    assert recover(tmp_path) is False


def test_an_agent_killed_mid_deploy_ends_all_old_or_all_new(tmp_path: Path) -> None:
    """A real SIGKILL after the first rename, then the next start's recovery."""
    paths = _old_set(tmp_path)
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from certkeeper_agent.files import FileSpec, install
        def rename(src, dst):
            os.replace(src, dst)
            os.kill(os.getpid(), signal.SIGKILL)
        paths = [Path(p) for p in {[str(p) for p in paths]!r}]
        install([FileSpec(p, f"new {{p.name}}".encode(), 0o644) for p in paths],
                Path({str(tmp_path)!r}), rename=rename)
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=30)
    assert done.returncode == -signal.SIGKILL
    contents = {p.read_text().split()[0] for p in paths}
    assert contents == {"old", "new"}  # killed half-way: the journal says what is left

    recover(tmp_path)

    assert {p.read_text().split()[0] for p in paths} == {"new"}


def test_killed_before_the_journal_the_old_files_stay(tmp_path: Path) -> None:
    paths = _old_set(tmp_path)
    specs = [*_new_specs(paths[:2]), FileSpec(tmp_path / "missing" / "x", b"x", 0o644)]
    (tmp_path / "missing").write_text("a file where a directory is needed")

    with pytest.raises(OSError):
        install(specs, tmp_path)

    assert [p.read_text() for p in paths] == [f"old {p.name}" for p in paths]
    assert not any(p.name.endswith(".certkeeper-new") for p in tmp_path.iterdir())
    assert recover(tmp_path) is False


def test_the_credential_is_saved_with_mode_0600(tmp_path: Path) -> None:
    state = AgentState(server="https://ck.example", agent_id="a", name="web",
                       ca_bundle=None, credential="cka_secret")

    state.save(tmp_path / "state")

    assert stat.S_IMODE((tmp_path / "state" / "credential").stat().st_mode) == 0o600
    assert AgentState.load(tmp_path / "state") == state


@pytest.mark.skipif(os.name == "nt" or os.geteuid() != 0, reason="chown needs root on POSIX")
def test_the_owner_is_set_before_the_files_are_swapped_in(tmp_path: Path) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "key.pem"

    install([FileSpec(path, b"key", 0o600)], tmp_path, owner="nobody")

    assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
