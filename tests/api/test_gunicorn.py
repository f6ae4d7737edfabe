"""The API under a real gunicorn on 127.0.0.1, with the production config."""

import json
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import expected_answer, records_of
from metrics_text import sample
from raw_http import connect, post_json, read_reply
from servers import gunicorn
from test_predict import as_batch, assert_answers

pytestmark = pytest.mark.slow


def post(url: str, payload: object, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        f"{url}/predict", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get(url: str, path: str) -> str:
    with urllib.request.urlopen(f"{url}{path}", timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def two_workers(served):
    with gunicorn(served[3], workers=2) as (url, _):
        yield url


def test_ready_and_predictions_equal_in_process(two_workers, served):
    assert json.loads(get(two_workers, "/ready"))["status"] == "ready"
    records = records_of(served, 10)
    assert_answers(as_batch([post(two_workers, record) for record in records]), expected_answer(served, records))


def batch_totals(url: str) -> tuple[float, float]:
    """(model calls, rows predicted) so far, summed over every worker."""
    text = get(url, "/metrics")
    return sample(text, "model_batch_rows_count"), sample(text, "model_batch_rows_sum")


def burst(url: str, records: list[dict]) -> list[dict]:
    """Each record on a connection of its own, opened first, then every request sent at once: a
    worker finds them complete together (sent one by one, a worker that keeps up answers each alone)."""
    connections = [connect(url, timeout=30) for _ in records]
    try:
        for connection, record in zip(connections, records, strict=True):
            connection.sendall(post_json("/predict", json.dumps(record).encode()))
        replies = [read_reply(connection) for connection in connections]
    finally:
        for connection in connections:
            connection.close()
    assert [reply.status for reply in replies] == [200] * len(records)
    return [reply.json() for reply in replies]


def test_concurrent_requests_each_get_their_own_answer(two_workers, served):
    records = records_of(served, len(served[2])) * 2  # the sample's whole test split, twice
    expected = expected_answer(served, records)
    calls_before, rows_before = batch_totals(two_workers)
    answers = [
        answer for start in range(0, len(records), 32) for answer in burst(two_workers, records[start : start + 32])
    ]
    assert_answers(as_batch(answers), expected)
    calls_after, rows_after = batch_totals(two_workers)
    calls, rows = calls_after - calls_before, rows_after - rows_before
    assert rows == len(records)  # one row per request, every one through the model exactly once
    # Micro-batching: 32 requests arriving together over 2 workers share model calls. Fewer calls
    # than rows means some call predicted several requests' rows.
    assert calls < rows, f"{calls:g} model calls for {rows:g} one-row requests: no batch formed"


def test_metrics_add_up_across_workers(two_workers, served):
    before = sample(get(two_workers, "/metrics"), "http_requests_total", route="/predict", status="200") or 0.0
    record = records_of(served, 1)[0]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: post(two_workers, record), range(40)))
    after = sample(get(two_workers, "/metrics"), "http_requests_total", route="/predict", status="200")
    assert after - before == 40


def test_sigterm_under_load_drops_no_in_flight_request(served):
    records = records_of(served, 1) * served[0].serve.max_records  # slow requests: full batches
    with gunicorn(served[3], workers=1) as (url, process):
        results: list = []
        started = threading.Barrier(17)

        def client() -> None:
            started.wait()
            try:
                results.append(len(post(url, {"records": records}, timeout=60)["predictions"]))
            except Exception as error:  # recorded for the assertion
                results.append(error)

        threads = [threading.Thread(target=client) for _ in range(16)]
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(1.0)  # all 16 are in the worker by now (it has 32 threads); each takes far longer
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(60)
        assert process.wait(30) == 0
    assert results == [len(records)] * 16
