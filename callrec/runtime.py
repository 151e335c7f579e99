"""One local runtime: moto with the embedded engine, the template deployed, and everything put back after.

Tests, `callrec demo`, `callrec serve`, the load run and the benchmarks all start the stack through
`LocalRuntime`; it owns the order that matters: reset and install the engine, set its time scale, start moto
(in-process with `mock_aws`, or configure a served endpoint), deploy template.yaml, and on exit stop moto,
forget the engine's registrations and clock, point the Lambda code's clock back at the system's, and restore
the process environment the deployment wrote the functions' variables into.
"""

from __future__ import annotations

import os
import time
from types import TracebackType
from typing import Any

from callrec import engine
from callrec.stack import Deployment, TemplateDeployer, client

# moto: execute state machines (not just record them); keep boto3's default session across mocks (moto resets
# it at each start, and every client then reloads botocore's models: 0.58 -> 0.24 s per deployment here)
MOTO_CONFIG: dict[str, Any] = {"stepfunctions": {"execute_state_machine": True}, "core": {"reset_boto3_session": False}}


class LocalRuntime:
    """`with LocalRuntime(time_scale=0.001) as runtime: runtime.deployment ...`"""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        parameters: dict[str, str] | None = None,
        deploy: bool = True,
        endpoint_url: str | None = None,
    ):
        self.time_scale = time_scale
        self.parameters = {"LogLevel": "WARNING", **(parameters or {})}
        self.deploy = deploy
        self.endpoint_url = endpoint_url  # a served moto endpoint (callrec serve), already listening
        self.deployment: Deployment | None = None
        self._mock: Any = None
        self._environment: dict[str, str] = {}

    def __enter__(self) -> LocalRuntime:
        self._environment = dict(os.environ)
        engine.reset()
        engine.install()
        engine.settings.time_scale = self.time_scale
        try:
            if self.endpoint_url:
                import requests

                requests.post(f"{self.endpoint_url}/moto-api/config", json=MOTO_CONFIG, timeout=10).raise_for_status()
            else:
                from moto import mock_aws

                self._mock = mock_aws(config=MOTO_CONFIG)
                self._mock.start()
            if self.deploy:
                self.deployment = self.deploy_template()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def deploy_template(self, *, fresh: bool = False, **parameters: str) -> Deployment:
        """Deploy template.yaml (again, e.g. with other parameters) into this runtime. In-process, a deployment
        of the same parameters into a fresh moto puts back moto's state after the first instead of creating every
        resource again (callrec.stack.TemplateDeployer.deploy); `fresh`: create them (a test that changes how the
        deployer works)."""
        return TemplateDeployer(
            endpoint_url=self.endpoint_url, parameter_overrides={**self.parameters, **parameters}, reuse=not fresh
        ).deploy()

    @staticmethod
    def _stop_executions() -> None:
        """Stop the executions still running (e.g. a verification waiting for a recording to land): left alone, they
        would go on in the background and act on whatever moto holds next (found: an alert in the next test)."""
        sfn = client("stepfunctions")
        for machine in sfn.list_state_machines()["stateMachines"]:
            running = sfn.list_executions(stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING")
            for execution in running["executions"]:
                _stop(sfn, execution["executionArn"])

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        import sys

        engine.stop_pollers()  # the event source mappings stop reading before moto does
        try:
            if self._mock is not None:
                try:
                    if kind is None:  # after a failure, moto's state may be what failed: its error is the one to see
                        self._stop_executions()
                finally:  # whatever happened above, moto stops: its state must never reach the next runtime
                    self._mock.stop()
                    self._mock = None
        finally:
            engine.reset()
            shared_clock = sys.modules.get("callrec_shared.clock")
            if shared_clock is not None:
                shared_clock.use(None)  # a call centre points the Lambda code at its call clock
            os.environ.clear()
            os.environ.update(self._environment)


STARTING_GRACE_SECONDS = 2.0


def _stop(sfn: Any, execution_arn: str) -> None:
    """Stop one execution. moto fails to stop an execution started a moment ago whose worker thread has not built
    its environment yet (AttributeError in its ExecutionWorker.stop; AWS stops it): it is asked again, for up to
    STARTING_GRACE_SECONDS, until the worker has."""
    deadline = time.monotonic() + STARTING_GRACE_SECONDS
    while True:
        try:
            sfn.stop_execution(executionArn=execution_arn, cause="the local runtime is closing")
            return
        except AttributeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


if __name__ == "__main__":  # `python -m callrec.runtime`: deploy template.yaml once, in-process, and stop
    with LocalRuntime() as local:
        assert local.deployment is not None
        print(f"template.yaml deployed locally: {len(local.deployment.created)} resources")
