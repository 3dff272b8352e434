"""Fuzz the live API from its own OpenAPI document with schemathesis (Hypothesis underneath).

Every operation gets generated requests, schema-valid and invalid alike (bodies, path and
query parameters), against a real ``certkeeper all-in-one`` on SQLite and a real production
stack on Postgres (Postgres refuses input SQLite takes, such as NUL in text). Whatever is
sent: no 5xx, every 4xx a problem document (``fuzz/hooks.py``), and every answer one the
document promises, in the shape it promises. Path parameters are drawn partly from real
rows (an issued request and its certificate, a request awaiting manual validation, the
account), so the operations behind them are reached, not only their 404s.

The HTTP-01 responder is left out of the document (it is for CAs, not clients), so
Hypothesis fuzzes its token on its own.

The run is derandomized: CI sends the same requests every time. ``CERTKEEPER_FUZZ_EXAMPLES``
raises the budget per operation (``make fuzz``); ``CERTKEEPER_FUZZ_SEED`` explores instead,
with random generation from that seed. schemathesis runs as its command line: its pytest
plugin (4.32) cannot load a schema from a fixture under pytest 9.2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import with_account
from tests.e2e.stack import Stack, embedded_stack, production_stack

HERE = Path(__file__).parent
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = HERE / "fuzz" / "schemathesis.toml"
EXAMPLES = int(os.environ.get("CERTKEEPER_FUZZ_EXAMPLES", "20"))
# Derandomized unless a seed asks for exploration.
GENERATION = (
    ["--seed", os.environ["CERTKEEPER_FUZZ_SEED"]] if os.environ.get("CERTKEEPER_FUZZ_SEED")
    else ["--generation-deterministic"]
)
RUN_TIMEOUT_SECONDS = 60 + 10 * EXAMPLES  # 42 operations; the prod stack is the slower


@dataclass(frozen=True)
class Fuzzed:
    stack: Stack
    known_ids: dict[str, list[str]]  # path parameter -> ids of real rows


@pytest.fixture(scope="module", params=["embedded", "prod"])
def fuzzed(request: pytest.FixtureRequest) -> Iterator[Fuzzed]:
    """A stack of this module's own: the fuzzer registers and deactivates accounts."""
    opened = embedded_stack() if request.param == "embedded" else production_stack()
    with opened as stack:
        yield Fuzzed(stack, _real_rows(with_account(stack)))


def _real_rows(stack: Stack) -> dict[str, list[str]]:
    client = stack.client()
    issued = client.post("/v1/certificate-requests", json={"common_name": "fuzz.example.test"})
    manual = client.post("/v1/certificate-requests", json={
        "common_name": "manual.fuzz.example.test", "challenge_type": "dns-01",
        "validation": "manual",
    })
    assert issued.status_code == manual.status_code == 202, (issued.text, manual.text)
    done = stack.wait_final(issued.json()["id"])
    stack.wait_status(manual.json()["id"], "awaiting_manual_validation")
    accounts = client.get("/v1/acme-accounts").json()["items"]
    return {
        "request_id": [issued.json()["id"], manual.json()["id"]],
        "certificate_id": [done["certificate_id"]],
        "account_id": [account["id"] for account in accounts],
    }


def run_schemathesis(
    fuzzed: Fuzzed, tmp_path: Path, *args: str, token: str | None
) -> subprocess.CompletedProcess[str]:
    """``schemathesis run`` against the stack's ``/openapi.json``; its output on failure."""
    stack = fuzzed.stack
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.read_text() + _known_ids_section(fuzzed.known_ids))
    env = {
        **stack.env, "SCHEMATHESIS_HOOKS": "tests.e2e.fuzz.hooks",
        "CERTKEEPER_FUZZ_CA_NETLOC": urlsplit(stack.pebble.directory_url).netloc,
        "PYTHONPATH": str(HERE.parent.parent),
    }
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    # The provider self-test writes a probe record at whatever service the provider names.
    offline = ["--exclude-operation-id", "testDnsProvider"]
    return subprocess.run(
        [SCHEMATHESIS, "--config-file", str(config), "run", f"{stack.base_url}/openapi.json",
         *GENERATION, "--workers", "1", *headers, *offline, *args],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def _known_ids_section(known_ids: dict[str, list[str]]) -> str:
    """The dictionaries of real ids that ``schemathesis.toml`` draws path parameters from."""
    return "".join(
        f"\n[dictionaries.{name}]\nvalues = {json.dumps(ids)}\n" for name, ids in known_ids.items()
    )


def assert_clean(done: subprocess.CompletedProcess[str], stack: Stack) -> None:
    """Schemathesis found nothing, and the api logged no unhandled error."""
    assert done.returncode == 0, done.stdout[-15000:] + done.stderr[-3000:]
    print(done.stdout[-2500:])  # schemathesis's summary (cases generated, checks), with -s
    for log in stack.log_dir.glob("*.log"):
        assert "api.unhandled" not in log.read_text(errors="replace"), stack.logs()


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 30)
def test_any_input_gets_a_documented_answer_and_never_a_5xx(
    fuzzed: Fuzzed, tmp_path: Path
) -> None:
    done = run_schemathesis(
        fuzzed, tmp_path, "--max-examples", str(EXAMPLES), token=fuzzed.stack.admin_token
    )
    assert_clean(done, fuzzed.stack)


@pytest.mark.timeout(RUN_TIMEOUT_SECONDS + 30)
def test_without_a_token_every_operation_is_refused_as_documented(
    fuzzed: Fuzzed, tmp_path: Path
) -> None:
    """No token, or a generated one: 401 problems only (``ignored_auth`` fails any 2xx)."""
    done = run_schemathesis(
        fuzzed, tmp_path, "--max-examples", str(max(3, EXAMPLES // 5)),
        "--phases", "coverage,fuzzing", "--include-path-regex", "^/v1/", token=None,
    )
    assert_clean(done, fuzzed.stack)


@settings(max_examples=5 * EXAMPLES, derandomize=True, deadline=None, database=None)
@given(token=st.text(max_size=300))
def test_the_challenge_responder_answers_any_token_with_a_404_problem(
    fuzzed: Fuzzed, token: str
) -> None:
    """No such token exists here, so every one, NUL or not, is a 404 problem."""
    with httpx.Client(base_url=fuzzed.stack.base_url, timeout=30.0) as client:
        response = client.get("/.well-known/acme-challenge/" + quote(token, safe=""))
    if token.endswith("/") and response.status_code == 307:
        return  # the app-wide redirect to the path without its trailing slash
    assert response.status_code == 404, (token, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "urn:certkeeper:problem:not-found"
