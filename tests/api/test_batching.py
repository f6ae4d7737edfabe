import threading
import time

import numpy as np
import pytest

from mlops.api.batching import AnnounceRequests, MicroBatcher, _Job
from mlops.config import BatchingConfig


class RecordingModel:
    """Predicts row["x"] * 2; records every call; fails any call holding a row with x < 0."""

    def __init__(self, gate: threading.Event | None = None):
        self.calls: list[int] = []
        self.gate = gate
        self.entered = threading.Event()  # set once the batching thread is inside a model call

    def __call__(self, rows):
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.calls.append(len(rows))
        if any(row["x"] < 0 for row in rows):
            raise ValueError("negative x")
        return np.array([row["x"] * 2.0 for row in rows])


class RecordingClassifier(RecordingModel):
    """RecordingModel answering as predict_proba does: a row per record, here [x, 1 - x]."""

    def __call__(self, rows):
        values = super().__call__(rows) / 2
        return np.column_stack([values, 1 - values])


def wait_until(condition, timeout: float = 30) -> None:
    """Poll `condition` (the test's own threads make it true soon); fail rather than hang."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def config(**changes) -> BatchingConfig:
    return BatchingConfig(**{"enabled": True, "max_wait_ms": 2, "max_rows": 64, **changes})


def submit_all(batcher: MicroBatcher, jobs: list[list[dict]]) -> list:
    results: list = [None] * len(jobs)

    def run(index: int) -> None:
        try:
            results[index] = batcher.submit(jobs[index])
        except Exception as error:  # collected for the assertion
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def queued_behind_a_busy_model(
    batching: BatchingConfig, jobs: list[list[dict]], model_class: type = RecordingModel
) -> tuple[RecordingModel, list]:
    """Hold the batching thread in a model call, queue `jobs` meanwhile, then let it run.

    Returns the model (its `calls`, the first being the holding call) and each job's result.
    """
    gate = threading.Event()
    model = model_class(gate)
    batcher = MicroBatcher(model, batching)
    threading.Thread(target=batcher.submit, args=([{"x": 0}],), daemon=True).start()
    assert model.entered.wait(30)
    done: list = []
    collector = threading.Thread(target=lambda: done.append(submit_all(batcher, jobs)), daemon=True)
    collector.start()
    wait_until(lambda: len(batcher._queue) == len(jobs))
    gate.set()
    collector.join(10)
    return model, done[0]


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows():
    jobs = [[{"x": i}, {"x": i + 0.5}] for i in range(1, 21)]
    model, results = queued_behind_a_busy_model(config(), jobs)
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, [row["x"] * 2 for row in job])
    assert model.calls == [1, 40]  # the 20 waiting requests went in one call


def test_a_classifiers_probability_rows_go_to_their_own_requests():
    jobs = [[{"x": i / 10}, {"x": i / 20}] for i in range(1, 6)]
    model, results = queued_behind_a_busy_model(config(), jobs, RecordingClassifier)
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, [[row["x"], 1 - row["x"]] for row in job])
    assert model.calls == [1, 10]  # the five waiting requests went in one call


def test_max_rows_splits_batches_but_never_a_request():
    model, results = queued_behind_a_busy_model(config(max_rows=5), [[{"x": 1}] * 3, [{"x": 2}] * 3, [{"x": 3}] * 7])
    assert sorted(model.calls[1:]) == [3, 3, 7]
    assert [len(result) for result in results] == [3, 3, 7]


def test_one_bad_request_does_not_fail_the_others():
    _, (good_one, bad, good_three) = queued_behind_a_busy_model(config(), [[{"x": 1}], [{"x": -1}], [{"x": 3}]])
    np.testing.assert_array_equal(good_one, [2.0])
    assert isinstance(bad, ValueError)
    np.testing.assert_array_equal(good_three, [6.0])


def test_a_lone_request_never_waits(monkeypatch):
    """With nothing else arriving, the batch is formed without a timed wait (no added latency)."""
    batcher = MicroBatcher(RecordingModel(), config(max_wait_ms=100))
    waits: list = []
    original = batcher._ready.wait

    def spy(timeout=None):
        waits.append(timeout)
        return original(timeout)

    monkeypatch.setattr(batcher._ready, "wait", spy)
    for x in range(3):
        assert batcher.submit([{"x": x}])[0] == 2 * x
    assert all(timeout is None for timeout in waits)  # only the idle wait for work, never a linger


def test_a_batch_waits_for_announced_requests():
    model = RecordingModel()
    batcher = MicroBatcher(model, config(max_wait_ms=100))
    arrived = threading.Event()

    def late_request():
        batcher.announce()
        arrived.wait(5)
        batcher.submit([{"x": 5}])

    late = threading.Thread(target=late_request, daemon=True)
    late.start()
    wait_until(lambda: batcher._arriving == 1)
    early = threading.Thread(target=batcher.submit, args=([{"x": 1}],), daemon=True)
    early.start()
    wait_until(lambda: len(batcher._queue) == 1)
    arrived.set()
    late.join(5)
    early.join(5)
    assert model.calls == [2]  # the early request waited for the announced one


def test_withdraw_stops_the_wait():
    batcher = MicroBatcher(RecordingModel(), config())
    batcher.announce()
    assert batcher._arriving == 1
    batcher.withdraw()
    batcher.withdraw()  # idempotent
    assert batcher._arriving == 0


@pytest.mark.parametrize(
    ("method", "path", "announced"), [("POST", "/predict", True), ("GET", "/predict", False), ("POST", "/x", False)]
)
def test_middleware_announces_only_predictions(method, path, announced):
    batcher = MicroBatcher(RecordingModel(), config())
    seen = []

    def app(environ, start_response):
        seen.append(batcher._arriving)
        return [b""]

    AnnounceRequests(app, batcher, "/predict")({"PATH_INFO": path, "REQUEST_METHOD": method}, None)
    assert seen == [1 if announced else 0]
    assert batcher._arriving == 0


def test_a_model_returning_the_wrong_number_of_rows_is_retried_per_request():
    calls = []

    def short_for_batches(rows):
        calls.append(len(rows))
        values = np.array([row["x"] * 2.0 for row in rows])
        return values[:-1] if len(rows) > 1 else values

    batcher = MicroBatcher(short_for_batches, config())
    assert [float(v) for v in batcher._predict_rows([{"x": 3}])] == [6.0]
    jobs = [_Job([{"x": 1}]), _Job([{"x": 2}])]
    batcher._predict_batch(jobs)
    assert [list(job.result) for job in jobs] == [[2.0], [4.0]]
    assert calls == [1, 2, 1, 1]  # the whole batch once, then each request on its own


class Fatal(BaseException):
    """Something no `except Exception` catches."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_fatal_model_error_fails_the_waiting_requests_instead_of_hanging():
    fail = threading.Event()

    def model(rows):
        if fail.is_set():
            raise Fatal("boom")
        return np.array([1.0] * len(rows))

    batcher = MicroBatcher(model, config())
    batcher._busy = True  # force the queued path through the batching thread
    fail.set()
    result: list = []

    def call():
        try:
            batcher.submit([{"x": 1}])
        except BaseException as error:
            result.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    wait_until(lambda: len(batcher._queue) == 1)
    with batcher._lock:
        batcher._busy = False
        batcher._ready.notify()
    caller.join(10)
    assert isinstance(result[0], Fatal)
    # The batching thread died with it; the next request starts a new one and is served.
    wait_until(lambda: not batcher._thread.is_alive())
    fail.clear()
    assert list(batcher.submit([{"x": 1}])) == [1.0]
