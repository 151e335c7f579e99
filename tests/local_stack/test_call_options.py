"""Per-call recording options: a track (Connect: ALL, FROM_AGENT, TO_AGENT; Chime: BOTH, INCOMING, OUTGOING) and,
for Chime, a key prefix (per line of business). Before, the workflow hard-coded ALL / BOTH and the default
prefix, and the start request had no field for them."""

from __future__ import annotations

import pytest

from callrec import demo
from callrec.local_api import signed


def _start(api, centre, provider: str, recording: dict) -> tuple[int, dict, object]:
    call = None
    if provider == "connect":
        call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
        centre.sim.connect.agent_joins(call.contact_id)
        ids = {
            "InstanceId": centre.instance.instance_id,
            "ContactId": call.contact_id,
            "InitialContactId": call.contact_id,
        }
    else:
        ids = {"SipMediaApplicationId": centre.sma.id, "TransactionId": "txn-options", "CallId": "call-options"}
    body = {
        "provider": provider,
        "call": ids,
        "parties": [{"number": demo.TEXAS_CALLER, "role": "caller"}],
        "recording": recording,
    }
    answer = signed("POST", f"{api}/recordings", body)
    return answer.status_code, answer.json(), call


def test_a_connect_call_recorded_from_the_agent_only(api, centre):
    status, body, call = _start(api, centre, "connect", {"track": "FROM_AGENT"})
    assert status == 201, body
    centre.contact_flow(call, "consent", answer="heard")  # the contact flow played the notice
    session = centre.wait_for_status(body["sessionId"], "RECORDING")
    assert session["recordingTrack"] == "FROM_AGENT"
    assert centre.sim.connect.describe(call.contact_id)["Recording"]["Track"] == "FROM_AGENT"  # Connect was asked so


@pytest.mark.parametrize(
    "provider, recording, field",
    [
        ("connect", {"track": "BOTH"}, "recording.track"),  # a Chime track on a Connect call
        ("chime", {"track": "FROM_AGENT"}, "recording.track"),
        ("connect", {"keyPrefix": "sales/en"}, "recording.keyPrefix"),  # Connect's prefix is the instance's
        ("chime", {"keyPrefix": "../other"}, "recording.keyPrefix"),
        ("chime", {"keyPrefix": "sales/en\n"}, "recording.keyPrefix"),
    ],
)
def test_options_that_do_not_fit_the_provider_are_refused_naming_the_field(api, centre, provider, recording, field):
    status, body, _ = _start(api, centre, provider, recording)
    assert (status, body.get("field")) == (400, field), body
