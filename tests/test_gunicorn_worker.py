"""The worker's socket plumbing for a server that stops (refusing new handshakes, knowing when
nobody else will accept on the listening socket), and the route a request is counted under."""

import os
import socket
import subprocess
import sys

import pytest

from mlops.gunicorn_worker import only_siblings_hold, refuse_new_connections, route_of

from servers import socket_filters_allowed

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux socket filter and /proc")


@pytest.mark.skipif(
    not socket_filters_allowed(),
    reason="this kernel does not let this user attach a socket filter (unprivileged BPF off)",
)
def test_a_refusing_listener_keeps_its_queued_connections_and_completes_no_new_one():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        address = listener.getsockname()
        queued = socket.create_connection(address, timeout=5)
        queued.sendall(b"sent before")
        assert refuse_new_connections(listener)
        late = socket.socket()
        late.settimeout(0.5)
        with pytest.raises(TimeoutError):  # its SYN is dropped: it would retry, then be refused
            late.connect(address)
        late.close()
        accepted, _ = listener.accept()
        with accepted, queued:
            accepted.settimeout(5)
            assert accepted.recv(100) == b"sent before"
            accepted.sendall(b"answered")
            assert queued.recv(100) == b"answered"


def test_only_the_masters_workers_holding_the_listener_means_it_stops():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        own = os.getpid()
        assert only_siblings_hold(listener, own, parent=-1)  # nobody else holds it
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.read()"],
            stdin=subprocess.PIPE,
            pass_fds=[listener.fileno()],
        )
        try:
            # A process whose parent is ours (a sibling when we are its master's worker) ...
            assert only_siblings_hold(listener, own, parent=own)
            # ... or any other process: someone may still accept, so the socket must keep listening.
            assert not only_siblings_hold(listener, own, parent=-1)
        finally:
            holder.communicate(b"", timeout=10)


@pytest.mark.parametrize(
    ("request_bytes", "path"),
    [
        (b"POST /predict HTTP/1.1\r\nHost: x\r\n\r\n{}", b"POST /predict"),
        (b"GET /predict?debug=1 HTTP/1.1\r\n\r\n", b"GET /predict"),  # the query is not part of it
        (b"GET /a/b?x=1&y=2 HTTP/1.0\r\n\r\n", b"GET /a/b"),
        (b"GET /\r\n\r\n", b"GET /"),  # no version: the whole target
    ],
)
def test_a_route_is_the_requests_method_and_path(request_bytes, path):
    assert route_of(request_bytes)[0] == path


def post(body_bytes: int) -> bytes:
    return b"POST /predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % body_bytes + b"x" * body_bytes


def test_a_request_of_a_similar_size_is_the_same_route_and_a_far_larger_one_another():
    assert route_of(post(300)) == route_of(post(320))
    assert route_of(post(300_000)) != route_of(post(300))
