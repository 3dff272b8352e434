"""`certkeeper backup` / `restore` for the embedded mode, end to end: a certificate issued by
a running all-in-one is backed up while it runs, the data directory is wiped, the backup is
restored, and a new all-in-one serves the same certificate and opens its key (with the
restored key file, and the admin token stored in the restored database)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.e2e.conftest import with_account
from tests.e2e.stack import CERTKEEPER, embedded_stack, run_cli
from tests.harness.ports import free_port
from tests.harness.process import run_process

NAME = "backup.example.test"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CERTKEEPER, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Issue a certificate, export it, and back up while all-in-one runs."""
    folder = tmp_path_factory.mktemp("backups")
    with embedded_stack() as stack:
        client = with_account(stack).client()
        created = client.post("/v1/certificate-requests",
                              json={"common_name": NAME, "key_type": "ec"})
        assert created.status_code == 202, created.text
        done = stack.wait_final(created.json()["id"])
        assert done["status"] == "issued", done
        cert_id = done["certificate_id"]
        chain = client.get(f"/v1/certificates/{cert_id}/pem").text
        key = client.get(f"/v1/certificates/{cert_id}/private-key").text
        written = run_cli(stack.env, "backup", str(folder))
        env = dict(stack.env)
    (archive,) = folder.iterdir()
    assert str(archive) in written
    return {"archive": archive, "env": env, "token": stack.admin_token, "cert_id": cert_id,
            "chain": chain, "key": key}


def _env_for(backed_up: dict[str, Any], data_dir: Path) -> dict[str, str]:
    """The backed-up installation's settings on another data dir; its Pebble is gone."""
    env = {**backed_up["env"], "CERTKEEPER_DATA_DIR": str(data_dir),
           "CERTKEEPER_HTTP_PORT": str(free_port())}
    del env["CERTKEEPER_ACME_CA_BUNDLE"]
    return env


def test_the_archive_is_private_and_holds_the_database_and_the_key_file(
    backed_up: dict[str, Any],
) -> None:
    archive: Path = backed_up["archive"]
    assert archive.name.startswith("certkeeper-backup-") and archive.suffix == ".tar"
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["certkeeper.db", "encryption.keys", "manifest.json"]


def test_restore_into_a_wiped_data_dir_serves_the_certificate_and_opens_its_key(
    backed_up: dict[str, Any], tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env_for(backed_up, data_dir)
    restored = _cli(env, "restore", str(backed_up["archive"]))
    assert restored.returncode == 0, restored.stderr
    assert "and the key file" in restored.stdout
    assert (data_dir / "certkeeper.db").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "encryption.keys").stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700

    base_url = f"http://127.0.0.1:{env['CERTKEEPER_HTTP_PORT']}"
    with (
        run_process([CERTKEEPER, "all-in-one"], env=env, log_path=tmp_path / "all-in-one.log",
                    ready_url=f"{base_url}/readyz"),
        httpx.Client(base_url=base_url, timeout=30.0,
                     headers={"Authorization": f"Bearer {backed_up['token']}"}) as client,
    ):
        cert_id = backed_up["cert_id"]
        assert client.get(f"/v1/certificates/{cert_id}").json()["names"] == [NAME]
        assert client.get(f"/v1/certificates/{cert_id}/pem").text == backed_up["chain"]
        key = client.get(f"/v1/certificates/{cert_id}/private-key")
        assert key.status_code == 200, key.text
        assert key.text == backed_up["key"]
        load_pem_private_key(key.text.encode(), password=None)


def test_restore_refuses_to_replace_a_live_database_without_force(
    backed_up: dict[str, Any], tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _env_for(backed_up, data_dir)
    # A data dir in use: its own database (and its own generated key file).
    run_cli(env, "token", "create", "--role", "admin", "--name", "other")
    before = (data_dir / "certkeeper.db").read_bytes()
    refused = _cli(env, "restore", str(backed_up["archive"]))
    assert refused.returncode == 1
    assert "--force" in refused.stderr and "holds a database" in refused.stderr
    assert (data_dir / "certkeeper.db").read_bytes() == before
    forced = _cli(env, "restore", "--force", str(backed_up["archive"]))
    assert forced.returncode == 0, forced.stderr
    assert not (data_dir / "certkeeper.db-wal").exists()
    with tarfile.open(backed_up["archive"]) as tar:
        keys = tar.extractfile("encryption.keys")
        assert keys is not None
        assert (data_dir / "encryption.keys").read_bytes() == keys.read()


def test_backup_refuses_an_existing_file_and_the_external_database(
    backed_up: dict[str, Any], tmp_path: Path,
) -> None:
    env = _env_for(backed_up, tmp_path / "data")
    assert _cli(env, "restore", str(backed_up["archive"])).returncode == 0
    target = tmp_path / "taken.tar"
    target.write_bytes(b"")
    taken = _cli(env, "backup", str(target))
    assert taken.returncode == 1 and "exists" in taken.stderr
    postgres = {**env, "CERTKEEPER_DATABASE_URL": "postgresql://u@127.0.0.1:1/x",
                "CERTKEEPER_ENCRYPTION_KEYS": "k:" + "A" * 43 + "="}
    external = _cli(postgres, "backup", str(tmp_path / "pg.tar"))
    assert external.returncode == 1 and "pg_dump" in external.stderr


def test_restore_refuses_an_archive_that_is_no_backup(
    backed_up: dict[str, Any], tmp_path: Path,
) -> None:
    env = _env_for(backed_up, tmp_path / "data")
    evil = tmp_path / "evil.tar"
    payload = tmp_path / "payload"
    payload.write_text("x")
    with tarfile.open(evil, "w") as tar:
        tar.add(payload, arcname="../escaped")
    refused = _cli(env, "restore", str(evil))
    assert refused.returncode == 1 and "unexpected member" in refused.stderr
    assert not (tmp_path / "escaped").exists()
    damaged = tmp_path / "damaged.tar"
    shutil.copy(backed_up["archive"], damaged)
    with open(damaged, "r+b") as raw:
        raw.seek(4096)
        raw.write(os.urandom(8192))
    assert _cli(env, "restore", str(damaged)).returncode == 1
    assert not (tmp_path / "data" / "certkeeper.db").exists() or (
        tmp_path / "data" / "certkeeper.db").stat().st_size == 0
