"""How the entry points wait for the workflow: reads back off, so a waiting request costs a few DynamoDB
reads, not fifty a second."""

from __future__ import annotations

from callrec_shared import sessions


def test_a_ready_answer_takes_one_read():
    reads = []
    assert sessions.poll(lambda: reads.append(1) or "ready", lambda value: value == "ready", timeout=5) == "ready"
    assert len(reads) == 1


def test_reads_back_off_and_the_last_one_is_answered_at_the_deadline():
    reads = []
    answer = sessions.poll(lambda: reads.append(len(reads)) or len(reads), lambda value: False, timeout=1.0)
    assert answer == len(reads)  # the last read, not a stale one
    # 20 ms growing by half up to 250 ms: ten reads at most in a second (a fixed 20 ms pause made fifty)
    assert 2 <= len(reads) <= 11


def test_no_time_means_one_read():
    reads = []
    sessions.poll(lambda: reads.append(1), lambda value: False, timeout=0)
    assert len(reads) == 1
