"""Load through the local API: many Connect calls at once, each started, signalled and stopped
over HTTP with SigV4 as a CRM or an agent desktop would, their signals interleaving (double clicks on one
idempotency key, stray resumes, second windows). None may be lost or doubled, every answer must agree with
the queue, and every call must end in a defined state with its recording verified.

CALLREC_LOAD_SESSIONS sets how many calls: 50 in `make test`, 200 in `make test-load` (and `make bench`)."""

from __future__ import annotations

import os

import pytest

from callrec import engine, load

pytestmark = pytest.mark.long  # scheduled first (tests/conftest.py)

SESSIONS = int(os.environ.get("CALLREC_LOAD_SESSIONS", "50"))  # make test-load: 200


@pytest.mark.timeout(1800)  # ~2 min here for 200 calls; a slower machine gets room (no speed is asserted)
def test_sessions_at_once_through_the_local_api(centre, api):
    centre.sim.throttling = False  # Connect's 2/s quota would measure the quota (its faults are in the fault matrix)
    engine.settings.time_scale = load.TIME_SCALE  # the landing wait must outlast a busy stack's late deliveries
    engine.settings.lambda_timeout_scale = load.LAMBDA_TIMEOUT_SCALE
    result = load.run(centre, api, SESSIONS)
    print(load.describe(result))
    assert result.problems() == []
    assert sum(result.statuses.values()) == SESSIONS
    assert result.statuses["RECORDED"] == SESSIONS  # nothing refused them: each call was recorded...
    assert result.verdicts["VERIFIED"] == SESSIONS  # ...and its recording verified: no card in any window
    assert (
        result.signals >= SESSIONS * 3
    )  # suspend, resume and stop at least (a hang-up after the stop is refused: ended)
