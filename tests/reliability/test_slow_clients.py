"""Slow clients hold a buffer, never a thread: everyone else is answered, and slow ones are cut off."""

import json
import select
import threading

import pytest

from raw_http import Reply, closed_by_peer, connect, exchange, one_record, post_json, read_reply
from servers import gunicorn

pytestmark = pytest.mark.slow

THREADS = 4
SLOW = 3 * THREADS  # more slow connections than the worker has threads
DEADLINE_S = 4  # GUNICORN_REQUEST_TIMEOUT for these tests
GIVE_UP_S = DEADLINE_S - 0.5  # a normal request that waits for the slow ones to be cut off fails


@pytest.fixture(scope="module")
def server(served):
    env = {"GUNICORN_THREADS": str(THREADS), "GUNICORN_REQUEST_TIMEOUT": str(DEADLINE_S)}
    with gunicorn(served[3], **env) as (url, _):
        yield url


def trickle(url: str, payload: bytes, results: list, interval: float = 0.25) -> None:
    """Send `payload` a byte at a time until the server answers or closes; record what it did."""
    with connect(url, timeout=DEADLINE_S + 5) as sock:
        for byte in payload:
            sock.send(bytes([byte]))
            readable, _, _ = select.select([sock], [], [], interval)
            if readable:
                break
        else:
            results.append("sent everything: the server never cut the connection")
            return
        try:
            reply = read_reply(sock)
        except ConnectionError:
            results.append("closed without an answer")
            return
        results.append((reply, closed_by_peer(sock)))


def slow_payload(served, part: str) -> bytes:
    body = json.dumps(one_record(served)).encode()
    request = post_json("/predict", body)
    return request if part == "headers" else request[: request.index(b"\r\n\r\n") + 4] + b" " * 10_000


@pytest.mark.parametrize("part", ["headers", "body"])
def test_slow_connections_do_not_stall_others_and_are_cut_off(server, served, part):
    results: list = []
    slow = [threading.Thread(target=trickle, args=(server, slow_payload(served, part), results)) for _ in range(SLOW)]
    for thread in slow:
        thread.start()
    try:
        # Meanwhile, normal clients are answered: before the slow ones are cut off, not after.
        body = json.dumps(one_record(served)).encode()
        answers = [exchange(server, post_json("/predict", body), timeout=GIVE_UP_S).status for _ in range(10)]
    finally:
        for thread in slow:
            thread.join(DEADLINE_S + 10)
    assert answers == [200] * 10
    assert len(results) == SLOW
    for outcome in results:
        assert isinstance(outcome, tuple), outcome
        reply, closed = outcome
        assert isinstance(reply, Reply)
        assert reply.status == 408
        assert reply.json()["error"]["code"] == "request_timeout"
        assert reply.headers["connection"] == "close"
        assert closed


def test_an_idle_connection_is_closed_without_an_answer(server):
    with connect(server, timeout=DEADLINE_S + 5) as sock:
        assert sock.recv(1024) == b""  # end of stream: closed, and no 408 to a client that sent nothing


def test_expect_100_continue_is_honoured(server, served):
    body = json.dumps(one_record(served)).encode()
    request = post_json("/predict", body, extra="Expect: 100-continue\r\n")
    head, payload = request.split(b"\r\n\r\n", 1)
    with connect(server) as sock:
        sock.sendall(head + b"\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the body is sent
        sock.sendall(payload)
        assert read_reply(sock).status == 200


def test_pipelined_requests_are_each_answered_in_order(server):
    one = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n"
    last = b"GET /nowhere HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(one + one + last)
        statuses = [read_reply(sock).status for _ in range(3)]
        assert statuses == [200, 200, 404]
        assert closed_by_peer(sock)
