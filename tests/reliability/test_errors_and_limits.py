"""Every error is JSON, including gunicorn's own; what a client sends cannot grow the service."""

import json
import random
import string

import pytest

from mlops.gitops.probe import request

from metrics_text import sample
from raw_http import exchange, one_record, post_json
from servers import gunicorn

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(served):
    with gunicorn(served[3]) as (url, _):
        yield url


def chunked(body: bytes, extra: str = "") -> bytes:
    head = f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{extra}Transfer-Encoding: chunked\r\n\r\n"
    return head.encode() + body


MALFORMED = [
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="malformed-request-line"),
    pytest.param(b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414, id="url-10kb"),
    pytest.param(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431, id="header-20kb"),
    pytest.param(
        b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"".join(b"X-H%d: a\r\n" % i for i in range(150)) + b"\r\n",
        431,
        id="too-many-headers",
    ),
    pytest.param(
        b"GET /health HTTP/1.1\r\nHost: t\r\n" + b"X-Huge: " + b"a" * 70_000 + b"\r\n\r\n",
        431,
        id="header-section-70kb",
    ),
    pytest.param(chunked(b"0\r\n\r\n", "Content-Length: 5\r\n"), 400, id="content-length-and-chunked"),
    pytest.param(
        b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
        400,
        id="two-lengths",
    ),
    pytest.param(chunked(b"zz\r\n"), 400, id="bad-chunk-size"),
    pytest.param(chunked(b"", "").replace(b"chunked", b"br"), 501, id="unknown-transfer-coding"),
    pytest.param(
        b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n", 413, id="declared-body-too-large"
    ),
    pytest.param(b"GET /health HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\n\r\n", 417, id="unknown-expectation"),
]


@pytest.mark.parametrize(("raw", "status"), MALFORMED)
def test_errors_gunicorn_answers_itself_are_json_like_the_apps(server, raw, status):
    reply = exchange(server, raw)
    assert reply.status == status
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert set(body) == {"error", "request_id"}
    assert body["error"]["status"] == status
    assert body["error"]["code"]
    assert body["error"]["message"]
    assert body["request_id"] == reply.headers["x-request-id"]
    assert reply.headers["connection"] == "close"


def test_a_chunked_body_is_read_whole(server, served):
    body = json.dumps(one_record(served)).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    reply = exchange(server, chunked(chunks))
    assert reply.status == 200
    assert reply.json()["prediction"] == exchange(server, post_json("/predict", body)).json()["prediction"]


def metrics_series(url: str) -> list[str]:
    text = request(f"{url}/metrics").body.decode()
    return [line for line in text.splitlines() if line.startswith("http_request")]


def test_made_up_methods_and_paths_do_not_grow_metrics(server):
    def made_up(count: int) -> None:
        rng = random.Random(count)
        for _ in range(count):
            method = "".join(rng.choices(string.ascii_uppercase, k=8))
            path = "/" + "".join(rng.choices(string.ascii_lowercase, k=12))
            assert exchange(server, f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()).status in (404, 405)
            assert exchange(server, f"{method} /predict HTTP/1.1\r\nHost: t\r\n\r\n".encode()).status == 405

    made_up(5)
    metrics_series(server)  # the scrape itself is a series too
    before = metrics_series(server)
    made_up(200)
    after = metrics_series(server)
    assert len(after) == len(before)  # the same series, only their counts moved
    assert sample("\n".join(after), "http_requests_total", route="<unmatched>", method="other", status="405") == 205


def test_sixty_thousand_unknown_keys_get_a_small_answer(server, served):
    record = one_record(served) | {f"u{i}": i for i in range(60_000)}
    reply = exchange(server, post_json("/predict", json.dumps(record).encode()))
    assert reply.status == 400
    assert len(reply.body) < 64 * 1024
    error = reply.json()["error"]
    assert len(error["details"]) == 50
    assert error["message"].startswith("60000 problem(s)")


def test_a_batch_of_records_with_unknown_keys_is_counted_not_listed(server, served):
    records = [one_record(served, i % 80) | {f"x{j}": j for j in range(9)} for i in range(1000)]
    reply = exchange(server, post_json("/predict", json.dumps({"records": records}).encode()))
    assert reply.status == 400
    assert len(reply.body) < 64 * 1024
    assert reply.json()["error"]["message"].startswith("9000 problem(s)")


def test_json_nested_too_deep_is_a_400(server):
    reply = exchange(server, post_json("/predict", b"[" * 5000 + b"]" * 5000))
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "malformed_json"
