"""The end-to-end tier: a stack deployed to AWS with `make deploy`, named by AWS_SAM_STACK_NAME (as in AWS SAM's
project templates). Without it every test here is skipped; the local stack's tiers run instead."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config, items):
    if os.environ.get("AWS_SAM_STACK_NAME"):
        return
    skip = pytest.mark.skip(reason="set AWS_SAM_STACK_NAME to a deployed stack to run the end-to-end tier")
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def outputs() -> dict[str, str]:
    """The deployed stack's outputs, by key."""
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=os.environ["AWS_SAM_STACK_NAME"])["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
