"""`make serve`: one local AWS endpoint with template.yaml deployed into it.

boto3 and the AWS CLI reach Step Functions, S3, DynamoDB and KMS here by setting `AWS_ENDPOINT_URL`
(or `endpoint_url=`). The moto server runs in this process, so the engine's adapter applies: state
machines run the project's handlers in-process, and `Wait`/`Retry` times are honoured.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TextIO

import requests
from moto.server import ThreadedMotoServer

from callrec import engine
from callrec.demo import MOTO_CONFIG
from callrec.stack import Deployment, LocalStack

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8083


class LocalEndpoint:
    """The moto server with the adapter installed and the template deployed. A context manager."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, time_scale: float = 1.0):
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.time_scale = time_scale
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.deployment: Deployment | None = None

    def start(self) -> Deployment:
        # moto's interpreter calls back into the endpoint for dynamodb:/aws-sdk: tasks on MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        engine.install()
        engine.settings.time_scale = self.time_scale
        self._server.start()
        response = requests.post(f"{self.url}/moto-api/config", json=MOTO_CONFIG, timeout=10)
        response.raise_for_status()
        self.deployment = LocalStack(endpoint_url=self.url).deploy()
        return self.deployment

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "LocalEndpoint":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str, port: int, out: TextIO) -> None:
    endpoint = LocalEndpoint(host, port)
    deployment = endpoint.start()
    out.write(f"callrec local endpoint on {endpoint.url} (stack {deployment.stack_name}); created:\n")
    out.write("\n".join("  " + line for line in deployment.summary()) + "\n")
    out.write(f"Use it with: export AWS_ENDPOINT_URL={endpoint.url}  (Ctrl-C stops)\n")
    out.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.stop()
        out.write("stopped\n")
        out.flush()
