"""The bucket-policy check behind NoAccessToDestination, on the template's real policy and variations."""

from __future__ import annotations

import copy

import pytest

from callrec.sim.bucket_policy import service_may
from callrec.template import Template

ACCOUNT = "123456789012"
SMA_ID = "00000000-0000-4000-8000-0000000005aa"  # the template's SipMediaApplicationId default
SMA_ARN = f"arn:aws:chime:us-east-1:{ACCOUNT}:sma/{SMA_ID}"
CHIME = "voiceconnector.chime.amazonaws.com"
KEY = "arn:aws:s3:::callrec-recordingbucket/Amazon-Chime-SMA-Call-Recordings/2026/11/20/x.wav"


def _template_policy() -> dict:
    resolver = Template.load().resolver(
        {"AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}
    )
    resolver.refs["RecordingBucket"] = "callrec-recordingbucket"
    resolver.attributes[("RecordingBucket", "Arn")] = "arn:aws:s3:::callrec-recordingbucket"
    return resolver.resolve(Template.load().resources()["RecordingBucketPolicy"]["Properties"]["PolicyDocument"])


def _may(policy, context=None, action="s3:PutObject", resource=KEY, service=CHIME):
    context = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": SMA_ARN} if context is None else context
    return service_may(policy, service=service, action=action, resource=resource, context=context)


def test_the_templates_policy_lets_the_accounts_sma_write_recordings():
    assert _may(_template_policy())


@pytest.mark.parametrize(
    "context",
    [
        {"aws:SourceAccount": "999999999999", "aws:SourceArn": SMA_ARN},
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": "arn:aws:chime:us-east-1:999999999999:sma/x"},
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:chime:us-east-1:{ACCOUNT}:sma/another-sma"},
        {"aws:SourceArn": SMA_ARN},
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": SMA_ARN, "aws:SecureTransport": "false"},
    ],
    ids=["other-account", "other-accounts-sma", "same-accounts-other-sma", "no-source-account", "plain-http"],
)
def test_conditions_are_enforced(context):
    assert not _may(_template_policy(), context)


def test_only_the_granted_actions_principal_and_objects():
    policy = _template_policy()
    assert not _may(policy, action="s3:GetObject")
    assert not _may(policy, service="lambda.amazonaws.com")
    assert not _may(policy, resource="arn:aws:s3:::another-bucket/x.wav")


def test_no_policy_and_explicit_deny():
    assert not _may(None)
    denied = copy.deepcopy(_template_policy())
    denied["Statement"].append(
        {
            "Effect": "Deny",
            "Principal": {"Service": CHIME},
            "Action": "s3:Put*",
            "Resource": "arn:aws:s3:::callrec-recordingbucket/*",
        }
    )
    assert not _may(denied)


def test_an_unknown_condition_operator_grants_nothing():
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": CHIME},
                "Action": "s3:PutObject",
                "Resource": "*",
                "Condition": {"NumericLessThan": {"s3:max-keys": "10"}},
            }
        ]
    }
    assert not _may(policy)
