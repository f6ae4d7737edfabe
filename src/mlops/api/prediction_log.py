"""One JSON line per predicted record, to stdout and optionally a file (monitoring reads it).

The log never takes predictions down: a line that cannot be written (a full disk, a closed
pipe) is counted and reported at most once a minute, the prediction is answered anyway, and
writing resumes by itself when it can. A line is written whole or not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

EVENT = "prediction"
REPORT_EVERY_SECONDS = 60.0
log = logging.getLogger(__name__)


class PredictionLogError(RuntimeError):
    """The prediction log file cannot be opened for appending (the server does not start)."""


class PredictionLog:
    def __init__(
        self,
        stream: TextIO | None = sys.stdout,
        path: Path | None = None,
        *,
        on_lost: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        """`on_lost(lines)` counts lines that could not be written."""
        self._stream = stream
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._on_lost = on_lost
        self._clock = clock
        self._unreported = 0
        self._next_report = 0.0
        self.path = path
        if path is not None:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # O_APPEND: every worker process appends whole lines to the same file.
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as error:
                # mkdir says "File exists" when a parent is a file: say what is wrong instead.
                reason = "not a directory" if isinstance(error, FileExistsError) else error.strerror or str(error)
                reason = f"{error.filename}: {reason}" if error.filename else reason
                raise PredictionLogError(
                    f"PREDICTION_LOG_FILE={path}: cannot open it for appending ({reason})"
                ) from None

    def write(
        self,
        *,
        request_id: str,
        model_version: str,
        records: list[dict],
        predictions: list,
        latency_ms: float,
        probabilities: list[dict] | None = None,
    ) -> bool:
        """Log one line per record: its inputs, prediction (a number or a label) and, for a classifier,
        the class probabilities. False when the lines were lost (counted, never raised)."""
        timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        events = []
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
            events.append(json.dumps(event, allow_nan=False) + "\n")
        lines = "".join(events)
        failure: Exception | None = None
        with self._lock:
            if self._stream is not None:
                try:
                    self._stream.write(lines)
                    self._stream.flush()
                except (OSError, ValueError) as error:  # a closed or broken stdout
                    failure = error
            if self._fd is not None:
                try:
                    self._append(lines.encode())
                except OSError as error:
                    failure = error
            if failure is not None:
                self._lost(len(records), failure)
        return failure is None

    def _append(self, data: bytes) -> None:
        """Append whole lines, or nothing: a write cut short (disk full) is truncated away. The file
        lock keeps other workers from appending in between."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _lost(self, lines: int, error: Exception) -> None:
        """Count lost lines; say so in the server log at most once every REPORT_EVERY_SECONDS."""
        if self._on_lost is not None:
            self._on_lost(lines)
        self._unreported += lines
        now = self._clock()
        if now >= self._next_report:
            log.error(
                "prediction log: %d line(s) lost (%s); predictions are still answered, writing resumes when it can",
                self._unreported,
                error,
            )
            self._unreported = 0
            self._next_report = now + REPORT_EVERY_SECONDS

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_predictions(path: Path) -> list[dict]:
    """The prediction events of a log that may also hold other lines (access log, errors)."""
    return [event for _, event in prediction_lines(path)]


def prediction_lines(path: Path) -> list[tuple[int, dict]]:
    """(line number, event) of each prediction event in a log that may also hold other lines.

    A line may carry a prefix before its JSON object (a timestamp or source that a log
    platform's export adds): the object is read from the line's first `{`.
    """
    events = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            start = line.find("{")
            if start < 0:
                continue
            try:
                event = json.loads(line[start:])
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == EVENT:
                events.append((number, event))
    return events
