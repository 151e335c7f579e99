"""The telephony twin over the wire: unchanged boto3 `connect` and `chime-sdk-voice` clients against
`callrec serve`, every operation and every documented error; and the `callrec sim` control surface."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import pytest
import requests
from botocore.exceptions import ClientError

from callrec.server import CONNECT_INSTANCE_ID
from callrec.template import REPO_ROOT
from tests.eventually import eventually
from tests.local_stack.conftest import endpoint_client, physical
from tests.wav_probe import read_wav

pytestmark = pytest.mark.server


def control(endpoint, method, path, body=None):
    response = requests.request(method, endpoint["url"] + path, json=body, timeout=60)
    assert response.ok, response.text
    return response.json()


@pytest.fixture
def connect(endpoint):
    return endpoint_client(endpoint, "connect", retries=False)


@pytest.fixture
def contact(endpoint):
    contact_id = control(endpoint, "POST", "/_sim/connect/contacts", {"instanceId": CONNECT_INSTANCE_ID})["ContactId"]
    control(endpoint, "POST", f"/_sim/connect/contacts/{contact_id}/agent-joins")
    return contact_id


def ids(contact_id):
    return {"InstanceId": CONNECT_INSTANCE_ID, "ContactId": contact_id, "InitialContactId": contact_id}


def error_of(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(autouse=True)
def calm_network(endpoint):
    """Each test starts with no fault switches and throttling on with a full burst, as the service is, and leaves
    the endpoint so (the other modules' tests share it)."""

    def calm() -> None:
        control(endpoint, "DELETE", "/_sim/faults")
        control(endpoint, "POST", "/_sim/settings", {"throttling": True, "deliveryDelaySeconds": 0})

    calm()
    yield
    calm()


def test_describe_contact_over_the_wire_is_parsed_by_botocore(endpoint, connect, contact):
    """The contact record in botocore's own Contact shape: the client parses every field (timestamps as
    datetimes), the recording's location once delivered, the agent's join, and 404 for an unknown contact."""
    connect.start_contact_recording(**ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"})
    before = connect.describe_contact(InstanceId=CONNECT_INSTANCE_ID, ContactId=contact)["Contact"]
    assert before["Id"] == contact and before["InitialContactId"] == contact and "Recordings" not in before
    assert isinstance(before["AgentInfo"]["ConnectedToAgentTimestamp"], datetime)
    control(endpoint, "POST", f"/_sim/connect/contacts/{contact}/hang-up")
    after = connect.describe_contact(InstanceId=CONNECT_INSTANCE_ID, ContactId=contact)["Contact"]
    [recording] = after["Recordings"]
    assert (recording["StorageType"], recording["MediaStreamType"], recording["Status"]) == ("S3", "AUDIO", "AVAILABLE")
    assert recording["Location"].endswith(".wav") and isinstance(recording["StartTimestamp"], datetime)
    assert (
        isinstance(after["DisconnectTimestamp"], datetime)
        and after["DisconnectTimestamp"] >= recording["StartTimestamp"]
    )
    assert error_of(lambda: connect.describe_contact(InstanceId=CONNECT_INSTANCE_ID, ContactId="no-such-contact")) == (
        "ResourceNotFoundException",
        404,
    )


def test_every_connect_recording_call_over_the_wire(endpoint, connect, contact):
    connect.start_contact_recording(**ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"})
    connect.suspend_contact_recording(**ids(contact))
    control(endpoint, "POST", f"/_sim/connect/contacts/{contact}/type", {"digits": "4111"})
    connect.resume_contact_recording(**ids(contact))
    connect.stop_contact_recording(**ids(contact))
    described = control(endpoint, "POST", f"/_sim/connect/contacts/{contact}/hang-up")
    assert [e["event"] for e in described["Log"]] == [
        "ContactInitiated",
        "AgentJoined",
        "StartContactRecording",
        "SuspendContactRecording",
        "CustomerTyped",
        "ResumeContactRecording",
        "StopContactRecording",
        "Disconnected",
        "RecordingDelivered",
    ]
    # the twin logs how many digits, not which (only its texts are searched: a time can hold any run of figures)
    texts = [value for entry in described["Log"] for value in entry.values() if isinstance(value, str)]
    assert not any("4111" in text for text in texts)
    assert next(e for e in described["Log"] if e["event"] == "CustomerTyped")["digits"] == 4
    location = described["Recording"]["Location"]
    bucket, _, key = location.partition("/")
    obj = endpoint_client(endpoint, "s3").get_object(Bucket=bucket, Key=key)
    wav = read_wav(obj["Body"].read())
    assert (wav.channels, wav.rate) == (2, 8000)
    assert obj["ServerSideEncryption"] == "aws:kms"


def test_connect_errors_over_the_wire(endpoint, connect, contact):
    unvalidated = endpoint_client(endpoint, "connect", retries=False, validate=False)
    assert error_of(
        lambda: unvalidated.start_contact_recording(
            **ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "EVERYONE"}
        )
    ) == ("InvalidParameterException", 400)
    assert error_of(lambda: unvalidated.suspend_contact_recording(**{**ids(contact), "ContactId": "x" * 257})) == (
        "InvalidParameterException",
        400,
    )
    assert error_of(lambda: connect.stop_contact_recording(**{**ids(contact), "InstanceId": "no-such-instance"})) == (
        "ResourceNotFoundException",
        404,
    )
    assert error_of(lambda: connect.suspend_contact_recording(**ids(contact))) == ("InvalidRequestException", 400)
    connect.start_contact_recording(**ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"})
    connect.stop_contact_recording(**ids(contact))
    assert error_of(
        lambda: connect.start_contact_recording(
            **ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"}
        )
    ) == ("InvalidRequestException", 400)


def test_connect_throttles_at_the_documented_quota(endpoint, connect, contact):
    connect.start_contact_recording(**ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"})
    outcomes = []
    for _ in range(8):  # well inside a second: the burst of 5, then throttled
        try:
            connect.suspend_contact_recording(**ids(contact))
            outcomes.append("ok")
        except ClientError as err:
            outcomes.append((err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"]))
    assert outcomes[:5] == ["ok"] * 5
    assert ("ThrottlingException", 429) in outcomes[5:]


def test_injected_internal_service_exception(endpoint, connect, contact):
    control(
        endpoint,
        "POST",
        "/_sim/faults",
        {
            "service": "connect",
            "operation": "StartContactRecording",
            "error": "InternalServiceException",
            "key": contact,
        },
    )
    assert error_of(
        lambda: connect.start_contact_recording(
            **ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"}
        )
    ) == ("InternalServiceException", 500)


def test_stale_contact_after_transfer(endpoint, connect, contact):
    control(endpoint, "POST", f"/_sim/connect/contacts/{contact}/transfer")
    assert error_of(
        lambda: connect.start_contact_recording(
            **ids(contact), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"}
        )
    ) == ("ResourceNotFoundException", 404)


@pytest.fixture
def sma(endpoint):
    return control(endpoint, "POST", "/_sim/chime/sip-media-applications", {"name": "wire", "function": "test-sma"})


def _bucket_for(endpoint, sma_id: str) -> str:
    """A recording bucket of this test's own whose policy grants Chime for this SMA only (the stack's
    bucket admits only the SMA the template is deployed for)."""
    s3, bucket = endpoint_client(endpoint, "s3"), f"wire-{sma_id[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "voiceconnector.chime.amazonaws.com"},
                        "Action": ["s3:PutObject", "s3:PutObjectAcl"],
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": "123456789012"},
                            "ArnLike": {"aws:SourceArn": f"arn:aws:chime:us-east-1:123456789012:sma/{sma_id}"},
                        },
                    }
                ],
            }
        ),
    )
    return bucket


def test_update_sip_media_application_call_over_the_wire(endpoint, sma):
    voice = endpoint_client(endpoint, "chime-sdk-voice", retries=False)
    bucket = _bucket_for(endpoint, sma["SipMediaApplicationId"])
    call = control(
        endpoint,
        "POST",
        "/_sim/chime/calls",
        {"sipMediaApplicationId": sma["SipMediaApplicationId"], "from": "+14155550100", "to": "+18005550100"},
    )
    txn = call["TransactionId"]

    answer = voice.update_sip_media_application_call(
        SipMediaApplicationId=sma["SipMediaApplicationId"],
        TransactionId=txn,
        Arguments={"op": "record", "bucket": bucket},
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert answer["SipMediaApplicationCall"]["TransactionId"] == txn

    control(endpoint, "POST", f"/_sim/chime/calls/{txn}/talk", {"seconds": 2})
    voice.update_sip_media_application_call(
        SipMediaApplicationId=sma["SipMediaApplicationId"], TransactionId=txn, Arguments={"op": "hangup"}
    )
    described = eventually(
        lambda: control(endpoint, "GET", f"/_sim/chime/calls/{txn}"), lambda call: call["Status"] == "Disconnected"
    )
    kinds = [i["InvocationEventType"] for i in described["Invocations"]]
    assert kinds == [
        "NEW_INBOUND_CALL",
        "CALL_UPDATE_REQUESTED",
        "ACTION_SUCCESSFUL",
        "CALL_UPDATE_REQUESTED",
        "HANGUP",
    ]
    assert [i["Sequence"] for i in described["Invocations"]] == [1, 2, 3, 4, 5]
    assert described["TransactionAttributes"] == {"lastOp": "hangup"}
    key = described["Recording"]["Location"].split("/", 1)[1]
    head = endpoint_client(endpoint, "s3").head_object(Bucket=bucket, Key=key)
    assert head["Metadata"]["transaction-id"] == txn


def test_another_sma_cannot_record_into_the_stacks_bucket(endpoint, sma):
    """The stack's recording bucket admits the configured SMA only: any other gets NoAccessToDestination."""
    voice = endpoint_client(endpoint, "chime-sdk-voice", retries=False)
    txn = control(
        endpoint,
        "POST",
        "/_sim/chime/calls",
        {"sipMediaApplicationId": sma["SipMediaApplicationId"], "from": "+14155550100", "to": "+18005550100"},
    )["TransactionId"]
    voice.update_sip_media_application_call(
        SipMediaApplicationId=sma["SipMediaApplicationId"],
        TransactionId=txn,
        Arguments={"op": "record", "bucket": physical(endpoint, "RecordingBucket")},
    )
    described = eventually(
        lambda: control(endpoint, "GET", f"/_sim/chime/calls/{txn}"),
        lambda call: any(i["InvocationEventType"] == "ACTION_FAILED" for i in call["Invocations"]),
    )
    failed = [i for i in described["Invocations"] if i["InvocationEventType"] == "ACTION_FAILED"]
    failed = failed[0]
    assert failed["ActionType"] == "StartCallRecording" and failed["Error"].startswith("NoAccessToDestination")


def test_chime_errors_over_the_wire(endpoint, sma):
    voice = endpoint_client(endpoint, "chime-sdk-voice", retries=False)
    sma_id = sma["SipMediaApplicationId"]
    assert error_of(
        lambda: voice.update_sip_media_application_call(
            SipMediaApplicationId=sma_id, TransactionId="no-such-call", Arguments={}
        )
    ) == ("NotFoundException", 404)
    txn = control(endpoint, "POST", "/_sim/chime/calls", {"sipMediaApplicationId": sma_id, "from": "+1", "to": "+2"})[
        "TransactionId"
    ]
    control(
        endpoint,
        "POST",
        "/_sim/faults",
        {
            "service": "chimesdkvoice",
            "operation": "UpdateSipMediaApplicationCall",
            "error": "ThrottledClientException",
            "key": txn,
        },
    )
    assert error_of(
        lambda: voice.update_sip_media_application_call(SipMediaApplicationId=sma_id, TransactionId=txn, Arguments={})
    ) == ("ThrottledClientException", 429)
    unvalidated = endpoint_client(endpoint, "chime-sdk-voice", retries=False, validate=False)
    assert error_of(
        lambda: unvalidated.update_sip_media_application_call(
            SipMediaApplicationId=sma_id, TransactionId=txn, Arguments={str(i): "x" for i in range(21)}
        )
    ) == ("BadRequestException", 400)


def test_other_services_still_reach_moto(endpoint):
    tables = endpoint_client(endpoint, "dynamodb").list_tables()["TableNames"]
    assert any(name.endswith("SessionsTable") for name in tables)


def _cli(endpoint, *arguments):
    completed = subprocess.run(
        [sys.executable, "-m", "callrec.cli", "sim", "--endpoint", endpoint["url"], *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return completed.returncode, json.loads(completed.stdout) if completed.stdout else None


def test_the_callrec_sim_command_plays_the_people(endpoint, connect):
    code, started = _cli(endpoint, "contact", "start")
    assert code == 0
    contact_id = started["ContactId"]
    assert _cli(endpoint, "contact", "agent-joins", contact_id)[1]["AgentJoinedAt"] is not None
    connect.start_contact_recording(**ids(contact_id), VoiceRecordingConfiguration={"VoiceRecordingTrack": "ALL"})
    assert _cli(endpoint, "contact", "type", contact_id, "1234")[1] == {"typed": 4}
    code, fault = _cli(
        endpoint, "fault", "add", "connect", "SuspendContactRecording", "InternalServiceException", "--key", contact_id
    )
    assert code == 0 and fault["key"] == contact_id
    assert error_of(lambda: connect.suspend_contact_recording(**ids(contact_id)))[0] == "InternalServiceException"
    assert _cli(endpoint, "clock", "advance", "5")[0] == 0
    code, ended = _cli(endpoint, "contact", "hang-up", contact_id)
    assert code == 0 and ended["Recordings"][0]["Location"].endswith(".wav")
    assert any(r["Key"] in ended["Recordings"][0]["Location"] for r in _cli(endpoint, "recordings", "list")[1])
    code, error = _cli(endpoint, "contact", "show", "no-such-contact")
    assert code == 1 and "no contact" in error["message"]
