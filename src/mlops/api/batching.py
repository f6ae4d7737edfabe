"""Dynamic micro-batching: requests that arrive together in one worker share one model call.

A 1-row predict costs nearly as much as a 100-row one, so under concurrent load a server that
predicts request by request wastes most of its CPU. A request that finds the model idle and
nobody else on the way predicts right away in its own thread. Otherwise it queues, and one
batching thread takes everything queued (up to `max_rows`) as soon as the model is free and
predicts it in one call, waiting (at most `max_wait_ms`) only for requests already being parsed
in this worker. So a lone request is never delayed, and under load each call serves many.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mlops.config import BatchingConfig


@dataclass
class _Job:
    rows: Sequence[dict]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class AnnounceRequests:
    """WSGI middleware: announce each request to `path` as it enters the app, the earliest point
    a batch can know that more rows are on their way."""

    def __init__(self, app, batcher: MicroBatcher, path: str):
        self.app, self.batcher, self.path = app, batcher, path

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.path or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        self.batcher.announce()
        try:
            return self.app(environ, start_response)
        finally:
            self.batcher.withdraw()


class MicroBatcher:
    """Thread-safe; the batching thread starts on first use in each process (after a fork)."""

    def __init__(self, predict_rows: Callable[[list[dict]], np.ndarray], config: BatchingConfig):
        self._predict_rows = predict_rows
        self._max_rows = config.max_rows
        self._max_wait = config.max_wait_ms / 1000
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[_Job] = deque()
        self._arriving = 0  # requests between announce() and submit()
        self._local = threading.local()
        self._owner_pid: int | None = None
        self._thread: threading.Thread | None = None
        self._busy = False  # a model call is running (in the batching thread or inline)

    def announce(self) -> None:
        """This thread's request has started and will probably submit rows: a batch may wait for it."""
        with self._lock:
            self._arriving += 1
        self._local.announced = True

    def withdraw(self) -> None:
        """This thread's request is over; if it never submitted (bad input), stop waiting for it."""
        if getattr(self._local, "announced", False):
            self._local.announced = False
            with self._lock:
                self._arriving -= 1
                if self._queue:  # a batch may be waiting for this request: it need not any longer
                    self._ready.notify()

    def submit(self, rows: Sequence[dict]) -> np.ndarray:
        """Predict `rows` as part of a batch; returns exactly their predictions, or raises their error."""
        job = _Job(rows)
        with self._lock:
            if getattr(self._local, "announced", False):
                self._arriving -= 1
                self._local.announced = False
            self._ensure_thread()
            # Nothing running, queued or on its way: predict right here, with no thread handoff.
            inline = not (self._busy or self._queue or self._arriving)
            if inline:
                self._busy = True
            else:
                self._queue.append(job)
                self._ready.notify()
        if inline:
            try:
                return self._predict_rows(list(rows))
            finally:
                with self._lock:
                    self._busy = False
                    if self._queue:  # requests that queued meanwhile form the next batch
                        self._ready.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _ensure_thread(self) -> None:
        # Threads do not survive fork(): each gunicorn worker starts its own (and a new one if
        # a fatal error ever ended it).
        if self._owner_pid != os.getpid() or not self._thread.is_alive():
            thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
            thread.start()
            self._thread, self._owner_pid = thread, os.getpid()

    def _next_batch(self) -> list[_Job]:
        with self._lock:
            while not self._queue or self._busy:
                self._ready.wait()
            deadline = time.monotonic() + self._max_wait
            while self._arriving and self._rows_queued() < self._max_rows:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
            batch, rows = [], 0
            while self._queue and (not batch or rows + len(self._queue[0].rows) <= self._max_rows):
                job = self._queue.popleft()
                batch.append(job)
                rows += len(job.rows)
            self._busy = True
            return batch

    def _rows_queued(self) -> int:
        return sum(len(job.rows) for job in self._queue)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                self._predict_batch(batch)
            except BaseException as error:  # never leave a request waiting forever
                for job in batch:
                    if job.result is None and job.error is None:
                        job.error = error
                raise
            finally:
                with self._lock:
                    self._busy = False
                    self._ready.notify()
                for job in batch:
                    job.done.set()

    def _predict_batch(self, batch: list[_Job]) -> None:
        rows = [row for job in batch for row in job.rows]
        try:
            values = self._predict_rows(rows)
            if len(values) != len(rows):
                raise ValueError(f"the model returned {len(values)} predictions for {len(rows)} rows")
            start = 0
            for job in batch:
                job.result = values[start : start + len(job.rows)]
                start += len(job.rows)
        except Exception:
            # One request's rows must not fail the others: retry each request on its own.
            for job in batch:
                try:
                    job.result = self._predict_rows(list(job.rows))
                except Exception as error:
                    job.error = error
