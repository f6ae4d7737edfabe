import io
import json

from mlops.api.prediction_log import PredictionLog, read_predictions


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
