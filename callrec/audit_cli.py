"""`callrec audit verify SESSION_ID`: read a session's audit trail and say whether its chain holds - every
record sealed, unchanged and present, the seals linked, the session's head the last seal (see
callrec_shared.audit_chain). Exit 0 if it holds, 1 if not (each broken or unsealed record named), 2 if it
cannot be read. Uses the AWS credentials and endpoint of the environment (AWS_ENDPOINT_URL for `make serve`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

_LAYER = Path(__file__).resolve().parent.parent / "layer" / "python"
if str(_LAYER) not in sys.path:  # the chain is checked by the layer's code, as the functions seal it
    sys.path.insert(0, str(_LAYER))


def add_parser(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="a session's audit trail: does its hash chain hold?")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    verify = actions.add_parser("verify", help="recompute the chain; name every changed, missing or unsealed record")
    verify.add_argument("session_id")
    verify.add_argument("--audit-table", default=os.environ.get("AUDIT_TABLE"), help="default: $AUDIT_TABLE")
    verify.add_argument("--sessions-table", default=os.environ.get("SESSIONS_TABLE"), help="default: $SESSIONS_TABLE")
    verify.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    if not args.audit_table or not args.sessions_table:
        print("callrec audit verify: give --audit-table and --sessions-table (or set AUDIT_TABLE, SESSIONS_TABLE)")
        return 2
    os.environ["AUDIT_TABLE"], os.environ["SESSIONS_TABLE"] = args.audit_table, args.sessions_table
    from botocore.exceptions import BotoCoreError, ClientError

    from callrec_shared import audit_chain, sessions

    try:
        report = audit_chain.verify(args.session_id, (sessions.get(args.session_id) or {}).get("auditHead"))
    except (BotoCoreError, ClientError) as err:
        print(f"callrec audit verify: cannot read the audit of {args.session_id}: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for record in report.records:
            print(f"{record['state'].upper():<9} {record['at']}  {record['event']} ({record['actor']})")
        for problem in report.problems:
            print(f"BROKEN    {problem}")
        verdict = "holds" if report.holds else "does NOT hold"
        unsealed = f", {len(report.unsealed)} unsealed (not yet covered: unverified)" if report.unsealed else ""
        print(
            f"chain {verdict}: {len(report.records)} records, {report.seals} seals{unsealed}, head {report.head or '-'}"
        )
    return 0 if report.holds else 1
