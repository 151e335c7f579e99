"""`make serve`: one local AWS endpoint with template.yaml deployed into it and the telephony twin.

boto3 and the AWS CLI reach Step Functions, S3, DynamoDB, KMS, Amazon Connect recording control and
Chime SDK Voice here by setting `AWS_ENDPOINT_URL` (or `endpoint_url=`); `/_sim/...` is the
simulator's control API. The moto server runs in this process, so the engine's adapter applies:
state machines run the project's handlers in-process, and `Wait`/`Retry` times are honoured.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
from pathlib import Path
from typing import TextIO

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from callrec import engine, openapi
from callrec.callcentre import add_provider_side, upload_placeholder_prompts
from callrec.local_api import DEFAULT_PORT as API_PORT
from callrec.local_api import LocalApiServer
from callrec.runtime import LocalRuntime
from callrec.sim import Clock, TelephonySimulator
from callrec.sim.wire import TelephonyWire
from callrec.stack import ACCOUNT_ID, REGION, Deployment, TemplateDeployer, load_handler

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083
# the simulated Connect instance and SIP media application: the template's parameter defaults
CONNECT_INSTANCE_ID = "00000000-0000-4000-8000-00000000c0de"
SMA_ID = "00000000-0000-4000-8000-0000000005aa"


class LocalEndpoint:
    """The moto server with the adapter installed and the template deployed. A context manager."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        time_scale: float = 1.0,
        extra_functions: dict[str, str] | None = None,
        api_port: int = API_PORT,
    ):
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.time_scale = time_scale
        self.extra_functions = extra_functions or {}
        self.simulator = TelephonySimulator(clock=Clock(follow_wall_time=True), endpoint_url=self.url)
        self.api_port = api_port
        self.api: LocalApiServer | None = None
        self.deployment: Deployment | None = None
        self.runtime: LocalRuntime | None = None
        self._server = None
        self._thread: threading.Thread | None = None

    def start(self) -> Deployment:
        # moto's interpreter calls back into the endpoint for dynamodb:/aws-sdk: tasks on MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        app = TelephonyWire(self.simulator, DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="callrec-endpoint")
        self._thread.start()
        self.runtime = LocalRuntime(time_scale=self.time_scale, endpoint_url=self.url, parameters={"LogLevel": "INFO"})
        self.deployment = self.runtime.__enter__().deployment
        self.simulator.register()
        for name, spec in self.extra_functions.items():
            register_extra_function(name, spec)
        add_provider_side(self.simulator, self.deployment)
        self.placeholder_prompts = upload_placeholder_prompts(self.deployment, self.url)
        template = TemplateDeployer().template
        self.api = LocalApiServer.for_deployment(
            self.deployment, self.host, self.api_port, openapi=openapi.document(template)
        )
        self.api.start()
        return self.deployment

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.__exit__(None, None, None)
        if self.api is not None:
            self.api.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def register_extra_function(name: str, spec: str) -> None:
    """Run a handler that is not in the template (e.g. your own SMA handler): `path/to/file.py:function`."""
    path, _, function = spec.rpartition(":")
    if not path or not function:
        raise ValueError(f"--function {name}={spec}: expected NAME=path/to/file.py:function")
    source = Path(path).resolve()
    engine.register_function(
        engine.LambdaFunction(
            name=name,
            arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
            load_environment=functools.partial(load_handler, source.parent, f"{source.stem}.{function}", name),
        )
    )


def serve(
    host: str, port: int, out: TextIO, extra_functions: dict[str, str] | None = None, api_port: int = API_PORT
) -> None:
    endpoint = LocalEndpoint(host, port, extra_functions=extra_functions, api_port=api_port)
    deployment = endpoint.start()
    out.write(f"callrec local endpoint on {endpoint.url} (stack {deployment.stack_name}); created:\n")
    out.write("\n".join("  " + line for line in deployment.summary()) + "\n")
    ignored = deployment.ignored_lines()
    if ignored:
        out.write("  template properties not applied locally (and why):\n")
        out.write("\n".join("    " + line for line in ignored) + "\n")
    for name, spec in endpoint.extra_functions.items():
        out.write(f"  extra function {name} -> {spec}\n")
    out.write(
        f"  telephony twin: Connect instance {CONNECT_INSTANCE_ID}, SIP media application {SMA_ID}; "
        f"control API {endpoint.url}/_sim/\n"
    )
    out.write(f"  recordings API (IAM auth: SigV4-sign requests): {endpoint.api.url}/recordings\n")
    for key in endpoint.placeholder_prompts:
        out.write(f"  placeholder prompt audio: s3://{deployment.physical('PromptBucket')}/{key}\n")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # set before the ready line: a Ctrl-C right after it stops cleanly
        signal.signal(signum, lambda *_: stop.set())
    out.write(f"Use it with: export AWS_ENDPOINT_URL={endpoint.url}  (Ctrl-C stops)\n")
    out.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        endpoint.stop()
        out.write("stopped\n")
        out.flush()
