"""The prediction log never takes predictions down: a full disk loses lines (counted), never answers."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlops.gitops.probe import request

from conftest import ROOT, subprocess_env
from metrics_text import sample
from raw_http import exchange, one_record, post_json
from servers import gunicorn, run_gunicorn

pytestmark = pytest.mark.slow

# Writes prediction lines under a file-size limit (RLIMIT_FSIZE: a full disk for this process,
# no privilege needed), then lifts the limit: the "disk" has room again.
FULL_DISK = textwrap.dedent(
    """
    import json, resource, sys
    from mlops.api.prediction_log import PredictionLog
    path, limit = sys.argv[1], int(sys.argv[2])
    lost = []
    log = PredictionLog(stream=None, path=path, on_lost=lost.append)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    written = [log.write(request_id=f"r{i}", model_version="v", records=[{"a": i}] * 3, predictions=[1.0] * 3,
                         latency_ms=1.0) for i in range(100)]
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    resumed = log.write(request_id="after", model_version="v", records=[{"a": 0}], predictions=[2.0], latency_ms=1.0)
    print(json.dumps({"written": written, "lost": lost, "resumed": resumed}))
    """
)


def test_a_full_disk_loses_whole_lines_counts_them_and_writing_resumes(tmp_path):
    path = tmp_path / "predictions.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(path), "5000"],
        capture_output=True,
        text=True,
        env=subprocess_env(PYTHONPATH=str(ROOT / "src")),
        check=True,
    )
    outcome = json.loads(done.stdout.splitlines()[-1])
    assert outcome["resumed"] is True
    assert outcome["written"].count(False) > 0
    assert sum(outcome["lost"]) == 3 * outcome["written"].count(False)  # every lost line counted
    text = path.read_text()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]  # no half-written line anywhere
    assert len(lines) == 3 * outcome["written"].count(True) + 1
    assert lines[-1]["request_id"] == "after"
    assert "line(s) lost" in done.stderr  # reported once, not once per request
    assert done.stderr.count("line(s) lost") == 1


def metrics(url: str) -> str:
    return request(f"{url}/metrics").body.decode()


def test_predictions_succeed_when_the_log_cannot_be_written(served):
    body = json.dumps(one_record(served)).encode()
    with gunicorn(served[3], PREDICTION_LOG_FILE="/dev/full") as (url, _):  # every write: ENOSPC
        statuses = [exchange(url, post_json("/predict", body)).status for _ in range(10)]
        assert statuses == [200] * 10
        assert request(f"{url}/ready").status == 200
        text = metrics(url)
    assert sample(text, "prediction_log_errors_total") == 10
    # One observation per predicted row: the value (regression) or the winning probability (classification).
    predicted = (
        "model_prediction_confidence_count" if served[0].data.is_classification else "model_prediction_value_count"
    )
    assert sample(text, predicted) == 10


def can_mount_tmpfs(directory: Path) -> bool:
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)], capture_output=True)
    return done.returncode == 0


def test_the_issues_probe_a_64k_tmpfs_fills_up_and_empties(served, tmp_path):
    """The probe as an operator hits it: a real filesystem that fills, then gets room back."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not can_mount_tmpfs(disk):
        pytest.skip("needs root and permission to mount a tmpfs (RLIMIT_FSIZE covers the same code unprivileged)")
    try:
        ballast = disk / "ballast"
        ballast.write_bytes(b"x" * 32 * 1024)
        log = disk / "predictions.jsonl"
        batch = json.dumps({"records": [one_record(served, i) for i in range(10)]}).encode()
        body = json.dumps(one_record(served)).encode()
        with gunicorn(served[3], PREDICTION_LOG_FILE=str(log)) as (url, _):
            statuses = [exchange(url, post_json("/predict", batch)).status for _ in range(25)]
            lost = sample(metrics(url), "prediction_log_errors_total")
            ballast.unlink()  # space returns
            after = exchange(url, post_json("/predict", body, extra="X-Request-ID: after-the-cleanup\r\n"))
        assert statuses == [200] * 25
        assert after.status == 200
        assert lost > 0
        lines = [json.loads(line) for line in log.read_text().splitlines()]  # whole lines only
        assert len(lines) == 250 - lost + 1
        assert lines[-1]["request_id"] == "after-the-cleanup"
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_an_unwritable_log_path_stops_the_server_with_one_line(served, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = run_gunicorn(served[3], PREDICTION_LOG_FILE=str(blocker / "predictions.jsonl"))
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: PREDICTION_LOG_FILE={blocker / 'predictions.jsonl'}: cannot open it for appending"
        f" ({blocker}: not a directory)"
    ]
