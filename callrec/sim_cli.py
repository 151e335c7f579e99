"""`callrec sim ...`: play the caller, the agent and the network of a running `make serve` endpoint.

Each command is one request to the endpoint's `/_sim/` control API; the answer is printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import requests

DEFAULT_ENDPOINT = "http://127.0.0.1:8083"

# command path -> (HTTP method, URL template, body from the parsed arguments, argument definitions)
Command = tuple[str, str, Callable[[argparse.Namespace], dict], list[tuple[tuple[str, ...], dict]]]

COMMANDS: dict[tuple[str, str], Command] = {
    ("clock", "show"): ("GET", "/_sim/clock", lambda a: {}, []),
    ("clock", "advance"): (
        "POST",
        "/_sim/clock/advance",
        lambda a: {"seconds": a.seconds},
        [(("seconds",), {"type": float})],
    ),
    ("contact", "start"): (
        "POST",
        "/_sim/connect/contacts",
        lambda a: {"instanceId": a.instance},
        [(("--instance",), {"default": "00000000-0000-4000-8000-00000000c0de"})],
    ),
    ("contact", "agent-joins"): (
        "POST",
        "/_sim/connect/contacts/{contact}/agent-joins",
        lambda a: {},
        [(("contact",), {})],
    ),
    ("contact", "transfer"): ("POST", "/_sim/connect/contacts/{contact}/transfer", lambda a: {}, [(("contact",), {})]),
    ("contact", "type"): (
        "POST",
        "/_sim/connect/contacts/{contact}/type",
        lambda a: {"digits": a.digits},
        [(("contact",), {}), (("digits",), {})],
    ),
    ("contact", "hang-up"): ("POST", "/_sim/connect/contacts/{contact}/hang-up", lambda a: {}, [(("contact",), {})]),
    ("contact", "show"): ("GET", "/_sim/connect/contacts/{contact}", lambda a: {}, [(("contact",), {})]),
    ("sma", "create"): (
        "POST",
        "/_sim/chime/sip-media-applications",
        lambda a: {"name": a.name, "function": a.function},
        [(("name",), {}), (("function",), {"help": "the Lambda function name it invokes"})],
    ),
    ("call", "place"): (
        "POST",
        "/_sim/chime/calls",
        lambda a: {"sipMediaApplicationId": a.sma, "from": a.from_, "to": a.to, "answers": a.answer},
        [
            (("sma",), {}),
            (("--from",), {"dest": "from_", "default": "+14155550100"}),
            (("--to",), {"default": "+18005550100"}),
            (("--answer",), {"action": "append", "default": [], "help": "digits for each prompt, in order"}),
        ],
    ),
    ("call", "press"): (
        "POST",
        "/_sim/chime/calls/{call}/press",
        lambda a: {"digits": a.digits},
        [(("call",), {}), (("digits",), {})],
    ),
    ("call", "talk"): (
        "POST",
        "/_sim/chime/calls/{call}/talk",
        lambda a: {"seconds": a.seconds},
        [(("call",), {}), (("seconds",), {"type": float})],
    ),
    ("call", "hang-up"): ("POST", "/_sim/chime/calls/{call}/hang-up", lambda a: {}, [(("call",), {})]),
    ("call", "show"): ("GET", "/_sim/chime/calls/{call}", lambda a: {}, [(("call",), {})]),
    ("fault", "add"): (
        "POST",
        "/_sim/faults",
        lambda a: {
            "service": a.service,
            "operation": a.operation,
            "error": a.error,
            "key": a.key,
            "times": None if a.always else a.times,
        },
        [
            (("service",), {"choices": ["connect", "chimesdkvoice"]}),
            (("operation",), {}),
            (("error",), {}),
            (("--key",), {"help": "only this ContactId / TransactionId"}),
            (("--times",), {"type": int, "default": 1}),
            (("--always",), {"action": "store_true"}),
        ],
    ),
    ("fault", "list"): ("GET", "/_sim/faults", lambda a: {}, []),
    ("fault", "clear"): ("DELETE", "/_sim/faults", lambda a: {}, []),
    ("settings", "set"): (
        "POST",
        "/_sim/settings",
        lambda a: {
            k: v
            for k, v in {
                "throttling": None if a.throttling is None else a.throttling == "on",
                "deliveryDelaySeconds": a.delivery_delay,
            }.items()
            if v is not None
        },
        [(("--throttling",), {"choices": ["on", "off"]}), (("--delivery-delay",), {"type": float})],
    ),
    ("recordings", "list"): ("GET", "/_sim/recordings", lambda a: {}, []),
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    sim = commands.add_parser("sim", help="play the caller, the agent and the network on a running `make serve`")
    sim.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", DEFAULT_ENDPOINT))
    groups = sim.add_subparsers(dest="group", required=True)
    subparsers: dict[str, Any] = {}
    for (group, verb), (_, _, _, arguments) in COMMANDS.items():
        if group not in subparsers:
            subparsers[group] = groups.add_parser(group).add_subparsers(dest="verb", required=True)
        parser = subparsers[group].add_parser(verb)
        for names, options in arguments:
            parser.add_argument(*names, **options)


def run(args: argparse.Namespace) -> int:
    method, path, body, _ = COMMANDS[(args.group, args.verb)]
    url = args.endpoint.rstrip("/") + path.format(**vars(args))
    try:
        response = requests.request(method, url, json=body(args) if method != "GET" else None, timeout=60)
    except requests.ConnectionError:
        print(f"callrec sim: no endpoint at {args.endpoint} (start it with `make serve`)", file=sys.stderr)
        return 2
    print(json.dumps(response.json(), indent=2))
    return 0 if response.ok else 1
