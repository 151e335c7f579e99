"""A workflow's role must let Step Functions deliver its logs: creating a state machine with logging whose role
lacks one of the log-delivery grants is refused, with AWS's message (callrec.stack, as AWS checks it)."""

from __future__ import annotations

from typing import Any

import pytest

from callrec.stack import LOG_DELIVERY_ACTIONS, DeploymentRefused, TemplateDeployer

WORKFLOWS = ("RecordingSession", "VerifyRecording")


def _listed(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("workflow", WORKFLOWS)
@pytest.mark.parametrize("action", LOG_DELIVERY_ACTIONS)
def test_a_workflow_without_a_log_delivery_grant_is_refused_at_creation(runtime, monkeypatch, workflow, action):
    original = TemplateDeployer._policy_document

    def without(self, logical_id: str, item: Any) -> dict:
        document = original(self, logical_id, item)
        if logical_id == workflow:
            for statement in document["Statement"]:
                statement["Action"] = [a for a in _listed(statement["Action"]) if a != action]
        return document

    monkeypatch.setattr(TemplateDeployer, "_policy_document", without)
    with pytest.raises(DeploymentRefused, match=f"not authorized to access the Log Destination.*{action}"):
        runtime.deploy_template(fresh=True)  # made again with the changed deployer, not moto's state put back
