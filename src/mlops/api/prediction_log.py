"""One JSON line per predicted record, to stdout and optionally a file (monitoring reads it)."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

EVENT = "prediction"


class PredictionLog:
    def __init__(self, stream: TextIO | None = sys.stdout, path: Path | None = None):
        self._stream = stream
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.path = path
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # O_APPEND: every worker process appends whole lines to the same file.
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(
        self,
        *,
        request_id: str,
        model_version: str,
        records: list[dict],
        predictions: list,
        latency_ms: float,
        probabilities: list[dict] | None = None,
    ) -> None:
        """One line per record: its inputs, prediction (a number or a label) and, for a classifier,
        the class probabilities."""
        timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        lines = []
        for index, (record, prediction) in enumerate(zip(records, predictions, strict=True)):
            event = {
                "event": EVENT,
                "ts": timestamp,
                "request_id": request_id,
                "model_version": model_version,
                "index": index,
                "inputs": record,
                "prediction": prediction,
            }
            if probabilities is not None:
                event["probabilities"] = probabilities[index]
            event["latency_ms"] = round(latency_ms, 3)
            lines.append(json.dumps(event, allow_nan=False) + "\n")
        text = "".join(lines)
        with self._lock:
            if self._stream is not None:
                self._stream.write(text)
                self._stream.flush()
            if self._fd is not None:
                data = memoryview(text.encode())
                while data:  # a write may be partial; the lock keeps this process's lines whole
                    data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_predictions(path: Path) -> list[dict]:
    """The prediction events of a log that may also hold other lines (access log, errors).

    A line may carry a prefix before its JSON object (a timestamp or source that a log
    platform's export adds): the object is read from the line's first `{`.
    """
    events = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            start = line.find("{")
            if start < 0:
                continue
            try:
                event = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == EVENT:
                events.append(event)
    return events
