"""``certkeeper-agent enroll`` and ``certkeeper-agent run``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from certkeeper_agent.client import ApiClient, ApiError, check_server_url
from certkeeper_agent.http01 import ListeningResponder, Responder, WebrootResponder
from certkeeper_agent.runner import CredentialRefused, run_agent
from certkeeper_agent.state import AgentState, default_state_dir

logger = logging.getLogger("certkeeper_agent")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certkeeper-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    enroll = commands.add_parser("enroll", help="exchange an enrollment token for a credential")
    enroll.add_argument("--server", required=True, help="Certkeeper's URL (https)")
    enroll.add_argument("--token", required=True, help="the enrollment token (used once)")
    enroll.add_argument("--ca-bundle", help="CA file to trust for the server's TLS")
    enroll.add_argument("--state-dir", type=Path, default=default_state_dir())
    run = commands.add_parser("run", help="serve challenges and deploy certificates")
    run.add_argument("--state-dir", type=Path, default=default_state_dir())
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--http-listen", metavar="HOST:PORT",
                      help="answer HTTP-01 on this address")
    mode.add_argument("--webroot", type=Path, help="write HTTP-01 files under this directory")
    return parser


async def _enroll(args: argparse.Namespace, ca_bundle: str | None) -> int:
    server = check_server_url(args.server)
    client = ApiClient(server, args.token, ca_bundle)
    try:
        body = (await client.request("POST", "/v1/agent/enroll")).json()
    finally:
        await client.aclose()
    state = AgentState(server=server, agent_id=body["agent_id"], name=body["name"],
                       ca_bundle=ca_bundle, credential=body["credential"])
    state.save(args.state_dir)
    print(f"enrolled as agent {state.name} ({state.agent_id}); state in {args.state_dir}")
    return 0


def _responder(args: argparse.Namespace) -> Responder | ListeningResponder:
    if args.webroot is not None:
        return WebrootResponder(args.webroot)
    host, _, port = (args.http_listen or "0.0.0.0:80").rpartition(":")
    return ListeningResponder(host.strip("[]"), int(port))


async def _run(args: argparse.Namespace) -> int:
    state = AgentState.load(args.state_dir)
    responder = _responder(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows: Ctrl-C raises instead
            pass
    if isinstance(responder, ListeningResponder):
        await responder.start()
        logger.info("answering HTTP-01 on %s:%s", responder.host, responder.port)
    try:
        logger.info("agent %s polling %s", state.name, state.server)
        await run_agent(state, args.state_dir, responder, stop)
    finally:
        if isinstance(responder, ListeningResponder):
            await responder.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.command == "enroll":
            ca_bundle = os.path.abspath(args.ca_bundle) if args.ca_bundle else None
            return asyncio.run(_enroll(args, ca_bundle))
        return asyncio.run(_run(args))
    except (ApiError, ValueError, OSError) as exc:
        print(f"certkeeper-agent: {exc}", file=sys.stderr)
        return 1
    except CredentialRefused as exc:
        print(f"certkeeper-agent: the server refuses this agent's credential ({exc}); "
              "enroll it again", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
