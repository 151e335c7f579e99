"""The `callrec` command: the local demo, the local endpoint, and the telephony simulator's controls."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from callrec import attest_cli, audit_cli, verify_cli
from callrec import sim_cli as control

LOG_DIR = Path(".callrec")
# the local endpoint's defaults (callrec.server imports the engine and moto: only `serve` and `demo` load them)
DEFAULT_HOST, DEFAULT_PORT, API_PORT = "127.0.0.1", 8083, 3000


def _quiet_engine_logs() -> Path:
    """moto's interpreter logs every failed execution as an error; keep that in a file, not on screen."""
    LOG_DIR.mkdir(exist_ok=True)
    log_file = LOG_DIR / "engine.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return log_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callrec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="play the demo calls through the embedded local stack")
    demo.add_argument("--json", action="store_true", help="one JSON object per call instead of timelines")

    serve = commands.add_parser("serve", help="run the local AWS endpoint with template.yaml deployed")
    serve.add_argument("--host", default=DEFAULT_HOST)
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--api-port", type=int, default=API_PORT, help="the recordings API's port")
    serve.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=FILE.py:FUNCTION",
        help="also run this handler as Lambda function NAME (e.g. your own SMA handler); repeatable",
    )

    control.add_parser(commands)
    verify_cli.add_parser(commands)
    attest_cli.add_parser(commands)
    audit_cli.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "sim":
        return control.run(args)
    if args.command == "verify":
        return verify_cli.run(args)
    if args.command == "attest":
        return attest_cli.run(args)
    if args.command == "audit":
        return audit_cli.run(args)
    log_file = _quiet_engine_logs()
    if args.command == "demo":
        from callrec import demo as demo_module

        demo_module.run(as_json=args.json, out=sys.stdout)
        if not args.json:
            print(f"\n(engine log: {log_file})")
        return 0
    if args.command == "serve":
        extra = dict(spec.split("=", 1) for spec in args.function if "=" in spec)
        if len(extra) != len(args.function):
            parser.error("--function takes NAME=FILE.py:FUNCTION")
        from callrec import server

        server.serve(args.host, args.port, sys.stdout, extra, api_port=args.api_port)
        return 0
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
