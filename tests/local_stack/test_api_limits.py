"""API Gateway's limits are in force on the local API: 10 MB payloads, and the stage's throttling (429)."""

from __future__ import annotations

import time

import pytest

from callrec.local_api import LocalApiServer, signed
from callrec.stack import client


@pytest.fixture
def throttled_api(runtime):
    from callrec.callcentre import LocalCallCentre

    centre = LocalCallCentre(runtime.deploy_template(ApiThrottlingRateLimit="2", ApiThrottlingBurstLimit="3"))
    server = LocalApiServer.for_deployment(centre.deployment, port=0)
    server.start()
    yield server.url
    server.stop()


def test_a_body_over_10_mb_is_refused_before_any_function_runs(api, centre):
    before = client("stepfunctions").list_executions(
        stateMachineArn=centre.deployment.state_machine_arn("RecordingSession")
    )
    answer = signed("POST", f"{api}/recordings", {"provider": "connect", "padding": "x" * (10 * 1024 * 1024 + 1)})
    assert answer.status_code == 413
    after = client("stepfunctions").list_executions(
        stateMachineArn=centre.deployment.state_machine_arn("RecordingSession")
    )
    assert after["executions"] == before["executions"]


def test_the_stages_throttling_answers_429_then_recovers(throttled_api):
    url = f"{throttled_api}/recordings/00000000-0000-4000-8000-000000000000"
    statuses = [signed("GET", url).status_code for _ in range(8)]
    assert statuses[:3] == [404, 404, 404] and 429 in statuses[3:]  # the burst of 3, then throttled
    time.sleep(1.0)  # two requests a second come back
    assert signed("GET", url).status_code == 404
