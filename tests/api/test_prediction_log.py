import io
import json

import pytest

from mlops.api.prediction_log import PredictionLog, PredictionLogError, read_predictions


def test_each_record_is_one_json_line_and_other_lines_are_skipped(tmp_path):
    path = tmp_path / "service.log"
    stream = io.StringIO()
    log = PredictionLog(stream=stream, path=path)
    log.write(
        request_id="r1", model_version="v1", records=[{"a": 1.0}, {"a": 2.0}], predictions=[10.0, 20.0], latency_ms=3.21
    )
    with open(path, "a") as handle:  # an access-log line and garbage in the same file
        handle.write(json.dumps({"event": "access", "path": "/predict"}) + "\n")
        handle.write("[2026-11-26] gunicorn text line\n{not json\n")
        event = {"event": "prediction", "request_id": "r0", "index": 0, "inputs": {"a": 0.5}, "prediction": 5.0}
        handle.write(f"2026-11-27T10:00:00.123Z srv-abc {json.dumps(event)}\n")  # a log platform's prefix
    second = PredictionLog(stream=None, path=path)  # another worker appending to the same file
    second.write(request_id="r2", model_version="v1", records=[{"a": 3.0}], predictions=[30.0], latency_ms=1.0)
    log.close()
    second.close()
    events = read_predictions(path)
    assert [(e["request_id"], e["index"], e["inputs"], e["prediction"]) for e in events] == [
        ("r1", 0, {"a": 1.0}, 10.0),
        ("r1", 1, {"a": 2.0}, 20.0),
        ("r0", 0, {"a": 0.5}, 5.0),
        ("r2", 0, {"a": 3.0}, 30.0),
    ]
    assert [json.loads(line) for line in stream.getvalue().splitlines()] == events[:2]


def test_lines_that_cannot_be_written_are_counted_and_reported_once_a_minute(caplog):
    lost: list[int] = []
    now = [0.0]
    log = PredictionLog(stream=None, path="/dev/full", on_lost=lost.append, clock=lambda: now[0])  # ENOSPC
    write = {"model_version": "v", "records": [{"a": 1}, {"a": 2}], "predictions": [1.0, 2.0], "latency_ms": 1.0}
    with caplog.at_level("ERROR", logger="mlops.api.prediction_log"):
        results = [log.write(request_id=f"r{i}", **write) for i in range(3)]
        now[0] = 61.0
        results.append(log.write(request_id="later", **write))
    log.close()
    assert results == [False] * 4
    assert lost == [2, 2, 2, 2]
    reports = [record.getMessage() for record in caplog.records]
    assert len(reports) == 2  # the first failure, then one a minute later with what was lost since
    assert reports[1].startswith("prediction log: 6 line(s) lost")


def test_a_broken_stdout_does_not_raise():
    stream = io.StringIO()
    stream.close()
    lost: list[int] = []
    log = PredictionLog(stream=stream, on_lost=lost.append)
    assert log.write(request_id="r", model_version="v", records=[{"a": 1}], predictions=[1.0], latency_ms=1.0) is False
    assert lost == [1]


def test_an_unwritable_path_is_one_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(
        PredictionLogError, match=r"PREDICTION_LOG_FILE=.*: cannot open it for appending \(.*not a directory\)"
    ):
        PredictionLog(stream=None, path=blocker / "log.jsonl")
