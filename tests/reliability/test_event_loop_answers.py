"""A lone request for a quick route is answered in the worker's event loop, never at others' expense."""

import itertools
import socket
from pathlib import Path

import pytest

from mlops.gunicorn_worker import MAX_QUICK_ROUTES

from raw_http import address, connect, read_reply
from servers import gunicorn

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("probe_conf.py")
TRIES = 20  # a route is learned as quick once answered within QUICK_SECONDS: on a busy machine, not always at once


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with gunicorn(tmp_path_factory.mktemp("probe"), config=CONFIG, GUNICORN_REQUEST_TIMEOUT="30") as (url, _):
        yield url


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def post(path: str, size: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {size}\r\n\r\n".encode() + b"x" * size


def answered_by(sock: socket.socket, request: bytes) -> str:
    """Which thread of the worker answered `request` (200) on this connection."""
    sock.sendall(request)
    reply = read_reply(sock)
    assert reply.status == 200
    return reply.headers["x-answered-by"]


def learn(sock: socket.socket, request: bytes) -> None:
    """Repeat `request` until the worker answers it in the event loop."""
    for _ in range(TRIES):
        if answered_by(sock, request) == "event loop":
            return
    pytest.fail(f"{request.splitlines()[0]!r} was not answered in the event loop within {TRIES} requests")


def test_a_lone_request_for_a_route_seen_to_be_quick_is_answered_in_the_event_loop(server):
    with connect(server) as sock:
        answers = [answered_by(sock, get("/thread")) for _ in range(TRIES)]
    assert answers[0] == "thread"  # a route not seen yet: its speed is unknown
    assert "event loop" in answers


def test_a_slow_route_is_always_answered_by_a_thread(server):
    with connect(server) as sock:
        assert {answered_by(sock, get("/slow")) for _ in range(5)} == {"thread"}


def test_a_quick_route_answered_slowly_once_goes_to_a_thread_next(server):
    with connect(server) as sock:
        learn(sock, get("/varies"))
        assert answered_by(sock, get("/varies?slow")) == "event loop"  # still quick when it arrived: 50 ms this time
        assert answered_by(sock, get("/varies")) == "thread"


def test_a_pipeline_gets_at_most_one_answer_from_the_loop_per_pass(server):
    """Otherwise one client pipelining many requests would keep the loop from every other client."""
    with connect(server) as sock:
        learn(sock, get("/piped"))
        sock.sendall(get("/piped") * 10)
        answers = [read_reply(sock).headers["x-answered-by"] for _ in range(10)]
    assert answers[0] == "event loop"
    assert all(not (a == b == "event loop") for a, b in itertools.pairwise(answers)), answers


def test_a_far_larger_request_to_a_quick_path_is_a_route_of_its_own(server):
    """A 1,000-row batch to /predict is not answered in the loop because a 1-row one was quick."""
    with connect(server) as sock:
        learn(sock, post("/sized", 10))
        assert answered_by(sock, post("/sized", 100_000)) == "thread"


def test_many_made_up_paths_do_not_keep_a_real_route_from_being_learned(server):
    with connect(server) as sock:
        for index in range(MAX_QUICK_ROUTES + 6):
            answered_by(sock, get(f"/made-up/{index}"))
        learn(sock, get("/after-the-made-up-ones"))


def test_a_client_that_does_not_read_its_large_answer_does_not_stall_the_others(server):
    """The answer is sent without blocking the loop: what the client does not take, a thread sends."""
    with socket.socket() as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
        slow.settimeout(10)
        slow.connect(address(server))
        learn(slow, get("/large?small"))  # the same route (path, and a request of the same size), answered small
        slow.sendall(get("/large"))  # 8 MB, not read for now
        with connect(server, timeout=3) as other:  # far less than the 30 s a blocked send could take
            answered_by(other, get("/thread"))  # answered at all, within the timeout
        reply = read_reply(slow)
    assert reply.headers["x-answered-by"] == "event loop"
    assert reply.body == b"x" * (8 * 1024 * 1024)
