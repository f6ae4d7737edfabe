"""The recent-traffic window behind /monitoring/drift, correct across gunicorn workers.

Each worker keeps its most recent rows in a fixed-size ring buffer (numbers as floats,
categories as codes). With several gunicorn workers, each one also writes its buffer to a shared
directory (MONITORING_DIR, set by the gunicorn config on tmpfs), at most once a second; the
endpoint merges every worker's buffer and keeps the newest `window_size` rows of the whole
service. So the verdict covers all traffic, whichever worker answers, lagging by at most a second.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlops.drift import PREDICTION
from mlops.fast_path import records_of
from mlops.schema import FeatureSchema

if TYPE_CHECKING:  # pandas loads on the first drift report, not before the server is ready
    import pandas as pd

FLUSH_SECONDS = 1.0
log = logging.getLogger(__name__)


def window_file(directory: Path, pid: int) -> Path:
    """Where worker `pid` shares its rows (gunicorn's child_exit removes a dead worker's)."""
    return Path(directory) / f"window-{pid}.npy"


class DriftWindow:
    """The last `capacity` predicted rows of this worker (and, via files, of its siblings)."""

    def __init__(
        self, schema: FeatureSchema, capacity: int, directory: Path | None = None, classes: list | None = None
    ):
        """With `classes` (a classifier), predictions arrive as class indices and leave as labels."""
        self.schema = schema
        self.classes = classes
        self.capacity = capacity
        self.directory = Path(directory) if directory else None
        self._columns = [*schema.names, PREDICTION, "timestamp"]
        self._rows = np.full((capacity, len(self._columns)), np.nan)
        self._next = 0
        self._count = 0
        self._lock = threading.Lock()
        self._dirty = False
        self._flusher_pid: int | None = None
        self._codes = {spec.name: {c: i for i, c in enumerate(spec.categories or [])} for spec in schema.features}

    def add(self, frame: pd.DataFrame, predictions: np.ndarray) -> None:
        """Record predicted rows given as a frame (encoded as the API's validated records are)."""
        self.add_records(records_of(frame, self.schema.names), predictions)

    def add_records(self, records: list[dict], predictions: np.ndarray) -> None:
        """Record predicted rows given as validated records (called once per model call, not per request)."""
        encoded = np.empty((len(records), len(self._columns)))
        for index, spec in enumerate(self.schema.features):
            if spec.type == "numeric":  # None (missing) becomes NaN
                encoded[:, index] = np.array([record.get(spec.name) for record in records], dtype=float)
            else:
                codes = self._codes[spec.name]
                encoded[:, index] = [codes.get(record.get(spec.name), np.nan) for record in records]
        self._append(encoded, predictions)

    def _append(self, encoded: np.ndarray, predictions: np.ndarray) -> None:
        encoded[:, -2] = predictions
        encoded[:, -1] = time.time()
        encoded = encoded[-self.capacity :]
        with self._lock:
            positions = (self._next + np.arange(len(encoded))) % self.capacity
            self._rows[positions] = encoded
            self._next = (self._next + len(encoded)) % self.capacity
            self._count = min(self.capacity, self._count + len(encoded))
            self._dirty = True
            if self.directory is not None and self._flusher_pid != os.getpid():
                # Threads do not survive fork(): each worker starts its own flusher.
                self._flusher_pid = os.getpid()
                threading.Thread(target=self._flush_forever, name="drift-window", daemon=True).start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except OSError as error:  # e.g. tmpfs full: keep serving, retry next second
                log.warning("drift window: cannot share rows with other workers (%s)", error)

    def flush(self) -> None:
        """Share this worker's rows with its siblings (atomically: they never read half a file)."""
        with self._lock:
            if not self._dirty or self.directory is None:
                return
            self._dirty = False
            rows = self._chronological()
        try:
            self._write(rows)
        except OSError:
            with self._lock:
                self._dirty = True
            raise

    def _chronological(self) -> np.ndarray:
        """This worker's rows, oldest first (a copy; call with the lock held)."""
        if self._count < self.capacity:
            return self._rows[: self._count].copy()
        return np.concatenate([self._rows[self._next :], self._rows[: self._next]])

    def _write(self, rows: np.ndarray) -> None:
        target = window_file(self.directory, os.getpid())
        tmp = target.with_suffix(f".{threading.get_ident()}.tmp")
        try:
            with open(tmp, "wb") as handle:
                np.save(handle, rows)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def snapshot(self) -> tuple[pd.DataFrame, np.ndarray, int, np.ndarray]:
        """The service's newest rows: features, predictions (values or labels), how many workers, timestamps."""
        with self._lock:
            parts = [self._chronological()]
        workers = 1 if self._count else 0
        if self.directory is not None and self.directory.is_dir():
            for path in self.directory.glob("window-*.npy"):
                if path == window_file(self.directory, os.getpid()):
                    continue  # this worker's own rows are the live ones above
                try:
                    rows = np.load(path)
                except (OSError, ValueError):
                    continue  # a sibling is replacing it right now: next call sees it
                if rows.ndim == 2 and rows.shape[1] == len(self._columns) and len(rows):
                    parts.append(rows)
                    workers += 1
        rows = np.concatenate(parts)
        rows = rows[np.argsort(rows[:, -1], kind="stable")][-self.capacity :]
        predictions = rows[:, -2]
        if self.classes is not None:
            predictions = np.asarray(self.classes, dtype=object)[predictions.astype(int)]
        return self._decode(rows), predictions, workers, rows[:, -1]

    def _decode(self, rows: np.ndarray) -> pd.DataFrame:
        import pandas as pd

        columns = {}
        for index, spec in enumerate(self.schema.features):
            if spec.type == "numeric":
                columns[spec.name] = rows[:, index]
            else:
                categories = np.asarray(spec.categories or [], dtype=object)
                codes = rows[:, index]
                decoded = np.full(len(codes), np.nan, dtype=object)
                known = ~np.isnan(codes)
                decoded[known] = categories[codes[known].astype(int)]
                columns[spec.name] = decoded
        return pd.DataFrame(columns)
