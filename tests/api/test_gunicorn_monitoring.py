"""Drift under a real gunicorn with two workers, and `make monitor` on the log the service wrote."""

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from mlops import monitor as monitor_cli
from mlops.gitops.probe import request

from conftest import ROOT
from servers import gunicorn
from test_monitoring import drifting_slice, like_training, records, repeated

pytestmark = pytest.mark.slow


def post(url: str, rows: list[dict]) -> None:
    body = json.dumps({"records": rows}).encode()
    answer = request(f"{url}/predict", method="POST", data=body, headers={"Content-Type": "application/json"})
    assert answer.status == 200, answer


def monitor(params: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m mlops.monitor` as a user runs it (exit code and output)."""
    command = [sys.executable, "-m", "mlops.monitor", "--params", str(params), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)


def drift_when(url: str, condition, timeout: float = 15) -> dict:
    """The drift report once `condition` holds (workers share their rows within about a second)."""
    deadline = time.monotonic() + timeout
    while True:
        report = request(f"{url}/monitoring/drift").json()
        if condition(report) or time.monotonic() > deadline:
            return report
        time.sleep(0.2)


@pytest.fixture(scope="module")
def service(served_full):
    directory = served_full[3]
    log = directory / "predictions.jsonl"
    with gunicorn(directory, workers=2, PREDICTION_LOG_FILE=str(log)) as (url, _):
        yield url, log


@pytest.fixture(scope="module")
def drifting(served_full) -> tuple[str, list[dict]]:
    """A feature and 600 records that drift on it (on a categorical feature when the model has one)."""
    name, rows = drifting_slice(served_full, "categorical" if served_full[1].schema.categorical else "numeric")
    return name, repeated(records(rows, served_full), 600)


def test_the_verdict_covers_every_worker(service, drifting):
    url, _ = service
    name, rows = drifting
    batches = [rows[i : i + 10] for i in range(0, len(rows), 10)]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda batch: post(url, batch), batches))
    report = drift_when(url, lambda r: r["window"]["rows"] == len(rows))
    assert report["window"]["rows"] == len(rows)  # all of it, whichever worker answered
    assert report["window"]["workers"] == 2
    assert report["verdict"] == "drift"
    assert name in report["drifted"]


def test_monitor_report_on_the_log_the_service_wrote(service, served_full, drifting, tmp_path):
    _, log = service
    name, _ = drifting
    directory = served_full[3]
    out = tmp_path / "report"
    done = monitor(directory / "params.yaml", "--input", str(log), "--out", str(out))
    assert done.returncode == 1, done.stderr  # drift found
    text = (out / "drift.md").read_text()
    assert "❌ **drift**" in text
    assert f"| {name} |" in text
    (figure,) = monitor_cli.figure_files([name])
    assert (out / figure).read_bytes().startswith(b"\x89PNG")
    assert f"![{monitor_cli.alt_text(name)}]({figure})" in text


def test_monitor_on_new_data_like_training_finds_none(served_full, tmp_path):
    directory = served_full[3]
    csv = tmp_path / "new.csv"
    pd.DataFrame(like_training(served_full, 1000)).to_csv(csv, index=False)
    done = monitor(directory / "params.yaml", "--input", str(csv), "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    assert "✅ no drift" in (tmp_path / "r" / "drift.md").read_text()
    assert list((tmp_path / "r").glob("*.png")) == []


def test_monitor_reads_only_the_current_models_lines_unless_told(service, served_full, tmp_path, capsys):

    _, log = service
    params = served_full[3] / "params.yaml"
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    other = tmp_path / "other-model.jsonl"
    other.write_text("".join(json.dumps({**line, "model_version": "m-older"}) + "\n" for line in lines))
    assert monitor_cli.main(["--params", str(params), "--input", str(other), "--out", str(tmp_path / "r")]) == 2
    current = lines[0]["model_version"]  # what the service logged
    assert (
        f"no prediction lines of model {current}; the log has m-older ({len(lines):,} lines)" in capsys.readouterr().err
    )
    assert not (tmp_path / "r").exists()
    for version in ("m-older", "all"):
        out = tmp_path / version
        args = ["--params", str(params), "--input", str(other), "--out", str(out), "--model-version", version]
        assert monitor_cli.main(args) == 1  # the same drifted rows, now assessed
        assert f"{len(lines):,} rows" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "no prediction lines"), ("not,a,log\n1,2,3\n", "no prediction lines"), (None, "no such file")],
)
def test_monitor_bad_input_exits_2(served_full, tmp_path, capsys, content, message):
    directory = served_full[3]
    path = tmp_path / "input.jsonl"
    if content is not None:
        path.write_text(content)
    args = ["--params", str(directory / "params.yaml"), "--input", str(path), "--out", str(tmp_path / "r")]
    assert monitor_cli.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
