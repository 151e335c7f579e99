"""The fault matrix: every fault switch of the simulator at every stage of a call (consent, start, window,
stop, landing) for both providers, Lambda crashes, and hang-ups at each stage - each played through the
whole local stack. Every run must end in its defined state with an audit record of it, and, where the
design says so (a recording not verified), an alert on the SNS topic. The matrix is printed at the end
of the test report, with the rows the tests of each fail-closed guarantee add (tests/local_stack/defined_end.py
says what every row proves)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from callrec import demo
from callrec.callcentre import Call, LocalCallCentre
from callrec.sim import Fault
from callrec.sim.core import DELIVER
from callrec_shared.sessions import TERMINAL
from tests.local_stack.conftest import slow_connect, slow_sma
from tests.local_stack.defined_end import Row, card_heard, proven
from tests.local_stack.store_outage import held_at


@dataclass(frozen=True)
class Cell:
    provider: str
    stage: str
    fault: str
    play: Callable[[LocalCallCentre], Call]
    status: str  # the session's final status
    verification: str | None  # VERIFIED / FAILED / MISSING / ERROR, or None: nothing to verify
    reason: str = ""  # a part of the session's outcome reason


def _connect(talk_then: Callable[[LocalCallCentre, Call], None]) -> Callable[[LocalCallCentre], Call]:
    def play(centre: LocalCallCentre) -> Call:
        call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
        centre.sim.connect.agent_joins(call.contact_id)
        # the session's id, also when the flow's Lambda failed (its error branch: nothing is recorded)
        call.session_id = centre.contact_flow(call, "start").get("sessionId") or centre.session_id_of(call)
        centre.sim.clock.advance(4.0)
        talk_then(centre, call)
        return call

    return play


def _connect_gone_while_opening(centre: LocalCallCentre) -> Call:
    """The caller hangs up while the session's execution runs but has not written its record yet (held at Open
    Session Record): the contact flow gets no decision in time, and its hang-up must still end the call."""
    call = centre.connect_call(demo.TEXAS_CALLER, demo.CENTRE_TEXAS)
    with held_at("Open Session Record") as opened:
        call.session_id = centre.contact_flow(call, "start")["sessionId"]
        assert centre.session(call.session_id) is None  # the record does not exist yet
        _hang_up(centre, call)
        opened.set()
    return call


def _heard_then(more: Callable[[LocalCallCentre, Call], None]) -> Callable[[LocalCallCentre, Call], None]:
    def step(centre: LocalCallCentre, call: Call) -> None:
        centre.contact_flow(call, "consent", answer="heard")
        centre.wait_for_status(call.session_id, "RECORDING", *TERMINAL)
        centre.sim.clock.advance(10.0)
        more(centre, call)

    return step


def _hang_up(centre: LocalCallCentre, call: Call) -> None:
    if call.contact_id:
        centre.sim.connect.hang_up(call.contact_id)
        centre.contact_flow(call, "hangup")
    else:
        centre.sim.chime.hang_up(call.transaction_id)
        centre.sim.chime.wait_idle(call.transaction_id)


def _connect_window(resume: bool) -> Callable[[LocalCallCentre, Call], None]:
    def step(centre: LocalCallCentre, call: Call) -> None:
        if centre.contact_flow(call, "suspend").get("suspended") == "true":  # else its safe path: no card
            centre.sim.connect.caller_types(call.contact_id, demo.CARD_NUMBER)
        if resume:
            centre.contact_flow(call, "resume")
        centre.sim.clock.advance(5.0)
        _hang_up(centre, call)

    return step


def _connect_stop(centre: LocalCallCentre, call: Call) -> None:
    from callrec_shared import sessions

    sessions.end(call.session_id, "stop", actor="api")
    centre.finish(call.session_id)
    centre.sim.clock.advance(5.0)
    _hang_up(centre, call)


def _chime(
    answers: list[str | None], then: Callable[[LocalCallCentre, Call], None]
) -> Callable[[LocalCallCentre], Call]:
    def play(centre: LocalCallCentre) -> Call:
        call = centre.chime_call(demo.CALIFORNIA_CALLER, demo.CENTRE_TEXAS, answers=answers)
        if centre.wait_for_status(call.session_id, "RECORDING", *TERMINAL)["status"] != "RECORDING":
            _hang_up(centre, call)  # nothing is recorded: the caller goes on, then hangs up
            return call
        centre.sim.chime.talk(call.transaction_id, 10.0)
        centre.sim.chime.wait_idle(call.transaction_id)
        then(centre, call)
        return call

    return play


def _chime_gone_at_once(centre: LocalCallCentre) -> Call:
    """The caller hangs up as the call is answered, while the prompt the SMA handler answered the call with plays:
    the SMA hears it before the workflow has even opened the session (held at its first write until then), so the
    end is on the session before the consent wait (the other orders: tests/local_stack/test_call_faults.py)."""
    call = Call("chime", customer=demo.CALIFORNIA_CALLER, centre=demo.CENTRE_TEXAS)
    with held_at("Open Session Record") as opened:
        call.transaction_id = centre.sim.chime.place_call(centre.sma.id, call.customer, call.centre, [None])
        centre.sim.chime.hang_up(call.transaction_id)
        centre.sim.chime.wait_idle(call.transaction_id)
        opened.set()
    call.session_id = centre.sim.chime.describe(call.transaction_id)["TransactionAttributes"].get("sessionId")
    return call


def _asked(call: Call, kind: str) -> str:
    """What the payment system hears when it asks for a window through the API (an ended session: refused)."""
    from callrec_shared import sessions

    try:
        return sessions.signal(call.session_id, kind, actor="api", wait_seconds=3)["status"]
    except sessions.SessionEnded:
        return sessions.REJECTED


def _chime_window(resume: bool) -> Callable[[LocalCallCentre, Call], None]:
    def step(centre: LocalCallCentre, call: Call) -> None:
        from callrec_shared import sessions

        if _asked(call, "suspend") == sessions.APPLIED:
            centre.sim.chime.wait_idle(call.transaction_id)
            centre.sim.chime.press(call.transaction_id, demo.CARD_NUMBER)
            centre.sim.chime.wait_idle(call.transaction_id)
        if resume:
            _asked(call, "resume")
        centre.sim.chime.talk(call.transaction_id, 5.0)
        _hang_up(centre, call)

    return step


def _chime_stop(centre: LocalCallCentre, call: Call) -> None:
    from callrec_shared import sessions

    sessions.end(call.session_id, "stop", actor="api")
    centre.finish(call.session_id)
    centre.sim.chime.talk(call.transaction_id, 5.0)
    _hang_up(centre, call)


def _faulty(fault: Fault, play: Callable[[LocalCallCentre], Call]) -> Callable[[LocalCallCentre], Call]:
    def run(centre: LocalCallCentre) -> Call:
        centre.sim.faults.inject(fault)
        return play(centre)

    return run


def _crash(logical_id: str, play: Callable[[LocalCallCentre], Call]) -> Callable[[LocalCallCentre], Call]:
    def run(centre: LocalCallCentre) -> Call:
        with centre.function(logical_id).crashing(RuntimeError("injected crash")):
            call = play(centre)
            centre.finish(call.session_id)
            centre.verification(call.session_id)
        return call

    return run


def _busy(play: Callable[[LocalCallCentre], Call]) -> Callable[[LocalCallCentre], Call]:
    """A busy stack: the provider's answer to the recording's start reaches the workflow 0.6 s late (Chime: the
    SMA's completion of the start task; Connect: StartContactRecording), so where the recording began on the
    session's timeline is uncertain by that much. Verification must still verify a good recording."""

    def run(centre: LocalCallCentre) -> Call:
        with slow_sma(lambda output: "location" in output, 0.6):
            with slow_connect(centre, "StartContactRecording", 0.6):
                return play(centre)

    return run


def _pause_confirmed_late(centre: LocalCallCentre) -> Call:
    """Chime confirms the pause 4 s after it was asked for, past the 3 s deadline: the payment system is told
    no (and takes no card), so the pause that then takes effect is undone at once."""
    with slow_sma(lambda output: output.get("done") == "PauseCallRecording", 4.0):
        return RECORDED_CHIME(centre)


C, S = "connect", "chimesdkvoice"
RECORDED_CONNECT = _connect(_heard_then(_connect_window(resume=True)))
RECORDED_CHIME = _chime(["1"], _chime_window(resume=True))
CELLS = [
    # --- Amazon Connect ---------------------------------------------------------------------------------------
    Cell(
        "connect",
        "open",
        "caller hangs up before the session record exists",
        _connect_gone_while_opening,
        "NOT_RECORDED",
        None,
        "ended before recording",
    ),
    Cell("connect", "consent", "caller hangs up before answering", _connect(_hang_up), "NOT_RECORDED", None),
    Cell(
        "connect",
        "start",
        "StartContactRecording throttled twice",
        _faulty(Fault(C, "StartContactRecording", "ThrottlingException", times=2), RECORDED_CONNECT),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "connect",
        "start",
        "StartContactRecording InternalServiceException",  # did Connect start? unknown: stopped, then verified
        _faulty(Fault(C, "StartContactRecording", "InternalServiceException", times=None), RECORDED_CONNECT),
        "RECORDED",
        "ABSENT",
        "left it unknown whether it recorded",
    ),
    Cell(
        "connect",
        "start",
        "StartContactRecording started, then answered 500",  # it recorded: stopped, found and verified
        _faulty(Fault(C, "StartContactRecording", "AnswerLost", times=None), RECORDED_CONNECT),
        "RECORDED",
        "VERIFIED",
        "left it unknown whether it recorded",
    ),
    Cell(
        "connect",
        "start",
        "StartContactRecording ResourceNotFoundException",
        _faulty(Fault(C, "StartContactRecording", "ResourceNotFoundException", times=None), RECORDED_CONNECT),
        "FAILED",
        None,
        "ResourceNotFoundException",
    ),
    Cell(
        "connect",
        "window",
        "SuspendContactRecording InternalServiceException",
        _faulty(Fault(C, "SuspendContactRecording", "InternalServiceException", times=None), RECORDED_CONNECT),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "connect",
        "window",
        "ResumeContactRecording InternalServiceException",
        _faulty(Fault(C, "ResumeContactRecording", "InternalServiceException", times=None), RECORDED_CONNECT),
        "RECORDED",
        "VERIFIED",
        "inside a suspended window",
    ),
    Cell(
        "connect",
        "window",
        "caller hangs up inside the window",
        _connect(_heard_then(_connect_window(resume=False))),
        "RECORDED",
        "VERIFIED",
        "inside a suspended window",
    ),
    Cell(
        "connect",
        "stop",
        "StopContactRecording InternalServiceException",
        _faulty(
            Fault(C, "StopContactRecording", "InternalServiceException", times=None),
            _connect(_heard_then(_connect_stop)),
        ),
        "RECORDED",
        "VERIFIED",
        "stop failed",
    ),
    Cell(
        "connect",
        "landing",
        "NeverLands",
        _faulty(Fault(C, DELIVER, "NeverLands"), RECORDED_CONNECT),
        "RECORDED",
        "MISSING",
    ),
    Cell(
        "connect",
        "landing",
        "CorruptHeader",
        _faulty(Fault(C, DELIVER, "CorruptHeader"), RECORDED_CONNECT),
        "RECORDED",
        "FAILED",
    ),
    Cell(
        "connect",
        "landing",
        "LeakIntoWindow",
        _faulty(Fault(C, DELIVER, "LeakIntoWindow"), RECORDED_CONNECT),
        "RECORDED",
        "FAILED",
    ),
    Cell(
        "connect",
        "landing",
        "the start's answer 0.6 s late (a busy stack)",
        _busy(RECORDED_CONNECT),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "connect",
        "landing",
        "RecordingChecks Lambda crashes",
        _crash("RecordingChecks", RECORDED_CONNECT),
        "RECORDED",
        "ERROR",
    ),
    # --- Chime SDK SIP media application --------------------------------------------------------------------
    Cell(
        "chime",
        "consent",
        "PlayAudioAndGetDigits SystemException",
        _faulty(Fault(S, "PlayAudioAndGetDigits", "SystemException", times=None), RECORDED_CHIME),
        "FAILED",
        None,
        "ConsentPromptFailed",
    ),
    Cell("chime", "consent", "caller hangs up as the call is answered", _chime_gone_at_once, "NOT_RECORDED", None),
    Cell(
        "chime",
        "start",
        "StartCallRecording SystemException",
        _faulty(Fault(S, "StartCallRecording", "SystemException", times=None), RECORDED_CHIME),
        "FAILED",
        None,
        "SystemException",
    ),
    Cell(
        "chime",
        "start",
        "UpdateSipMediaApplicationCall throttled once",
        _faulty(Fault(S, "UpdateSipMediaApplicationCall", "ThrottledClientException", times=1), RECORDED_CHIME),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "chime",
        "window",
        "PauseCallRecording SystemException",
        _faulty(Fault(S, "PauseCallRecording", "SystemException", times=None), RECORDED_CHIME),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "chime",
        "window",
        "caller hangs up inside the window",
        _chime(["1"], _chime_window(resume=False)),
        "RECORDED",
        "VERIFIED",
        "inside a suspended window",
    ),
    Cell(
        "chime",
        "stop",
        "StopCallRecording SystemException",
        _faulty(Fault(S, "StopCallRecording", "SystemException", times=None), _chime(["1"], _chime_stop)),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "chime",
        "landing",
        "NeverLands",
        _faulty(Fault(S, DELIVER, "NeverLands"), RECORDED_CHIME),
        "RECORDED",
        "MISSING",
    ),
    Cell(
        "chime",
        "landing",
        "CorruptHeader",
        _faulty(Fault(S, DELIVER, "CorruptHeader"), RECORDED_CHIME),
        "RECORDED",
        "FAILED",
    ),
    Cell(
        "chime",
        "landing",
        "LeakIntoWindow",
        _faulty(Fault(S, DELIVER, "LeakIntoWindow"), RECORDED_CHIME),
        "RECORDED",
        "FAILED",
    ),
    Cell(
        "chime",
        "landing",
        "the start's answer 0.6 s late (a busy stack)",
        _busy(RECORDED_CHIME),
        "RECORDED",
        "VERIFIED",
    ),
    Cell(
        "chime",
        "window",
        "PauseCallRecording confirmed after the deadline",
        _pause_confirmed_late,
        "RECORDED",
        "VERIFIED",
    ),
]


@pytest.mark.parametrize("cell", CELLS, ids=[f"{c.provider}-{c.stage}-{c.fault}" for c in CELLS])
def test_every_fault_ends_in_its_defined_state(centre, alerts, cell, record_property):
    call = cell.play(centre)
    centre.sim.faults.clear()
    row = Row(cell.provider, cell.stage, cell.fault, cell.status, cell.verification, cell.reason)
    proven(centre, call, replace(row, card_recorded=cell.fault == "LeakIntoWindow"), alerts, record_property)


@pytest.mark.parametrize("play", [RECORDED_CONNECT, RECORDED_CHIME], ids=["connect", "chime"])
def test_the_card_check_of_every_row_hears_a_leaked_card(centre, play):
    """The rows' own check that no key press is audible (defined_end.card_heard) can fail: it hears the card of a
    payment whose recording leaked into the window, on both providers, and hears nothing of the same call
    recorded properly."""
    centre.sim.faults.inject(Fault(C if play is RECORDED_CONNECT else S, DELIVER, "LeakIntoWindow"))
    leaked = play(centre)
    centre.finish(leaked.session_id)
    centre.sim.delivery.wait()
    assert len(card_heard(centre, leaked)) == 1
    clean = play(centre)
    centre.finish(clean.session_id)
    centre.sim.delivery.wait()
    assert card_heard(centre, clean) == []
