"""SIGHUP (reload) and SIGTERM (deploy) under keep-alive load: no request sent is dropped."""

import http.client
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from raw_http import address, closed_by_peer, connect, one_record, post_json, read_reply
from servers import gunicorn, socket_filters_allowed, wait_for_replacement, worker_of

pytestmark = pytest.mark.slow

CLIENTS = 6


class KeepAliveClient(threading.Thread):
    """Predicts over one keep-alive connection after another, as fast as it is answered, until stopped
    or until the server refuses new connections. Records every outcome."""

    def __init__(self, url: str, body: bytes, stop: threading.Event):
        super().__init__()
        self.host, self.port = address(url)
        self.body, self.stop = body, stop
        self.answered = 0
        self.closes = 0  # responses that said Connection: close
        self.failures: list[tuple[float, str]] = []  # (when its connection was opened, what happened)
        self.refused = False

    def run(self) -> None:
        while not self.stop.is_set():
            connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            opened = time.monotonic()
            try:
                connection.connect()
            except ConnectionRefusedError:
                self.refused = True  # never accepted: allowed once the server has stopped
                return
            try:
                self._use(connection, opened)
            finally:
                connection.close()

    def _use(self, connection: http.client.HTTPConnection, opened: float) -> None:
        while not self.stop.is_set():
            try:
                connection.request("POST", "/predict", self.body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as error:  # a request sent and not answered
                self.failures.append((opened, f"{type(error).__name__}: {error}"))
                return
            if response.status != 200:
                self.failures.append((opened, f"status {response.status}"))
            self.answered += 1
            if response.getheader("Connection", "").lower() == "close":
                self.closes += 1
                return


def load(url: str, served, stop: threading.Event) -> list[KeepAliveClient]:
    body = json.dumps(one_record(served)).encode()
    clients = [KeepAliveClient(url, body, stop) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    return clients


def test_reload_then_stop_under_keep_alive_load_drops_nothing(served):
    stop = threading.Event()
    with gunicorn(served[3], workers=2) as (url, process):
        clients = load(url, served, stop)
        try:
            time.sleep(0.8)
            process.send_signal(signal.SIGHUP)  # new workers start, the old ones drain
            time.sleep(1.5)
            answered_before_stop = sum(client.answered for client in clients)
            stopping = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            stop.set()
            for client in clients:
                client.join(30)
    failures = [(opened, failure) for client in clients for opened, failure in client.failures]
    assert [failure for opened, failure in failures if opened < stopping] == []
    # A connection opened while the server stops can land between the last worker's final accept
    # and its close; the worker closes that window with a socket filter where the kernel allows
    # one (docs/reliability.md).
    if socket_filters_allowed():
        assert failures == []
    assert any(client.refused for client in clients)  # clients ran until the server was gone
    assert answered_before_stop > 0
    # The old workers answered their last request on each connection with Connection: close.
    assert sum(client.closes for client in clients) >= CLIENTS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_connections_queued_when_sigterm_arrives_are_answered_not_reset(served):
    body = json.dumps(one_record(served)).encode()
    with gunicorn(served[3]) as (url, process):
        idle = connect(url)  # a keep-alive connection, idle when the signal comes
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_reply(idle).headers["connection"] == "keep-alive"
        worker = worker_of(process.pid)
        os.kill(worker, signal.SIGSTOP)  # the worker accepts nothing: connections queue in the backlog
        try:
            queued = [connect(url) for _ in range(5)]
            for sock in queued:
                sock.sendall(post_json("/predict", body))
            process.send_signal(signal.SIGTERM)  # the master closes its listener, signals the worker
            time.sleep(0.5)
        finally:
            os.kill(worker, signal.SIGCONT)
        replies = [read_reply(sock) for sock in queued]
        assert [reply.status for reply in replies] == [200] * 5
        assert {reply.headers["connection"] for reply in replies} == {"close"}
        # The idle connection's next request is answered too, with Connection: close.
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        reply = read_reply(idle)
        assert reply.status == 200
        assert reply.headers["connection"] == "close"
        assert closed_by_peer(idle)
        assert process.wait(30) == 0
        with pytest.raises(ConnectionRefusedError):  # now nothing listens: new connections are refused
            connect(url)
        for sock in [*queued, idle]:
            sock.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the worker through /proc")
def test_a_worker_told_to_stop_while_it_starts_stops_at_once(served):
    """A deploy's SIGTERM just after gunicorn replaced a worker: the new worker stops, instead of
    serving on until the master kills it, with its connections, at the graceful timeout."""
    with gunicorn(served[3], config=Path(__file__).with_name("slow_start_conf.py"), GUNICORN_GRACEFUL_TIMEOUT="60") as (
        _,
        process,
    ):
        first = worker_of(process.pid)
        os.kill(first, signal.SIGKILL)  # gunicorn forks a replacement, which sleeps a second in post_fork
        wait_for_replacement(process.pid, first)
        process.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        assert process.wait(50) == 0
    # Well under the 60 s graceful timeout the master would otherwise wait before its SIGKILL.
    assert time.monotonic() - stopped < 30
