import logging
import time

import pytest

from mlops import progress


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.04, "0.0 s"), (4.26, "4.3 s"), (42.4, "42 s"), (125, "2 min 05 s"), (-3, "0.0 s")]
)
def test_durations_read_naturally(seconds, shown):
    assert progress.duration(seconds) == shown


def test_heartbeat_says_what_to_expect_then_elapsed_and_remaining(monkeypatch, caplog):
    monkeypatch.setenv("MLOPS_PROGRESS_SECONDS", "0.05")
    log = logging.getLogger("test-progress")
    with caplog.at_level(logging.INFO, logger="test-progress"), progress.heartbeat(log, "crunching", 60.0, "a guess"):
        time.sleep(0.3)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "crunching (expected: about 1 min 00 s, a guess) ..."
    beats = [line for line in lines if "elapsed" in line]
    assert beats
    assert all("left" in line for line in beats)
    assert lines[-1].startswith("  crunching: done in ")


def test_heartbeat_says_when_a_step_runs_over(monkeypatch, caplog):
    monkeypatch.setenv("MLOPS_PROGRESS_SECONDS", "0.05")
    log = logging.getLogger("test-progress")
    with caplog.at_level(logging.INFO, logger="test-progress"), progress.heartbeat(log, "crunching", 0.01):
        time.sleep(0.2)
    assert any("over the 0.0 s expected" in record.getMessage() for record in caplog.records)


def test_a_bad_interval_setting_falls_back(monkeypatch):
    monkeypatch.setenv("MLOPS_PROGRESS_SECONDS", "soon")
    assert progress.interval() == progress.DEFAULT_INTERVAL
    monkeypatch.setenv("MLOPS_PROGRESS_SECONDS", "0")
    assert progress.interval() == 0.05
