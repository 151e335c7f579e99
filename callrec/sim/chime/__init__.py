"""The Amazon Chime SDK PSTN audio twin: SIP media applications and their call legs.

A call leg invokes the SMA's Lambda function (the project's handler, in-process) with the documented
events (`events.py`, each checked against the documented shape), carries `Sequence` and
`TransactionAttributes` between invocations, and executes the actions it gets back (`actions.py`):
PlayAudio, PlayAudioAndGetDigits, StartCallRecording, Pause/Resume/StopCallRecording and Hangup. It rejects
what the service rejects (more than 10 actions, unknown actions, bad parameters). `UpdateSipMediaApplicationCall`
is asynchronous, as on AWS: it answers 202 and the Lambda is invoked later with CALL_UPDATE_REQUESTED. Each
leg handles its events in order on its own worker thread (`twin.py`); the recording model is shared with the
Connect twin (`callrec/sim/recording.py`).

Where AWS's documentation leaves behaviour open, the choice made is in docs/simulator.md.
"""

from callrec.sim.chime.actions import NO_ACCESS, ActionFailed
from callrec.sim.chime.events import UndocumentedEvent
from callrec.sim.chime.legs import PRINCIPAL, SERVICE, CallLeg, SipMediaApplication
from callrec.sim.chime.twin import ChimeTwin

__all__ = [
    "NO_ACCESS",
    "PRINCIPAL",
    "SERVICE",
    "ActionFailed",
    "CallLeg",
    "ChimeTwin",
    "SipMediaApplication",
    "UndocumentedEvent",
]
