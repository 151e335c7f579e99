"""An SMA Lambda handler for the wire tests (`callrec serve --function`): it answers update requests.

CALL_UPDATE_REQUESTED with Arguments {"op": "record", "bucket": B} starts recording to B; "pause",
"resume" and "hangup" do what they say. The last op is kept in TransactionAttributes, so a test can
read it back through the control API.
"""


def lambda_handler(event, context):
    call_id = event["CallDetails"]["Participants"][0]["CallId"]
    attributes = dict(event["CallDetails"].get("TransactionAttributes", {}))
    actions = []
    if event["InvocationEventType"] == "CALL_UPDATE_REQUESTED":
        arguments = event["ActionData"]["Parameters"]["Arguments"]
        attributes["lastOp"] = arguments.get("op", "")
        if arguments.get("op") == "record":
            actions = [
                {
                    "Type": "StartCallRecording",
                    "Parameters": {
                        "CallId": call_id,
                        "Track": "BOTH",
                        "Destination": {"Type": "S3", "Location": arguments["bucket"]},
                    },
                }
            ]
        elif arguments.get("op") in ("pause", "resume"):
            kind = "PauseCallRecording" if arguments["op"] == "pause" else "ResumeCallRecording"
            actions = [{"Type": kind, "Parameters": {"CallId": call_id}}]
        elif arguments.get("op") == "hangup":
            actions = [{"Type": "Hangup", "Parameters": {"SipResponseCode": "0", "CallId": call_id}}]
    return {"SchemaVersion": "1.0", "Actions": actions, "TransactionAttributes": attributes}
