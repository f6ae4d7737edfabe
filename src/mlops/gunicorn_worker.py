"""gunicorn's threaded worker, made safe against slow clients, drained without drops, and JSON-only.

gunicorn's `gthread` worker hands each connection to a thread, which then blocks reading the
request: 32 clients sending a byte a second hold all 32 threads and stop the service. This
worker reads every request in its event loop, without a thread, into a bounded buffer
(mlops.http_framing decides when it is complete), and gives a thread only a complete request,
parsed by gunicorn's own parser from memory. So slow clients cost a buffer each, never a thread,
and a request that is not complete within `GUNICORN_REQUEST_TIMEOUT` seconds (default 10) of
its first byte is answered 408 and closed.

A lone request (the only one complete in a pass over the events, with no thread busy) for a route
this worker has seen answered within QUICK_SECONDS is answered in the event loop itself: the two
hand-offs between threads cost about as much as a one-row prediction. A route is a method, a path
and the request's size to the power of two, so a 1,000-row batch is learned apart from a 1-row
request. At most one request is answered in the loop each pass (a client's next pipelined request goes to
a thread), and its response is sent without blocking: whatever the client does not take at once
is sent by a thread, so a client that does not read never stalls the loop. Requests that come in
together, and routes that are slow or not yet seen, go to threads, where the app can batch them
and the loop keeps reading meanwhile.

Also:
- errors gunicorn answers itself (a malformed request line, a URL or header section too large,
  conflicting Content-Length and Transfer-Encoding...) are JSON in the app's error shape,
  instead of gunicorn's HTML page;
- on SIGTERM (a deploy) and SIGHUP (a reload) the worker drains: it answers what is in flight
  and what is already queued on the listening socket, with `Connection: close`, keeps idle
  keep-alive connections until their next request (answered, then closed) or their keep-alive
  timeout, and exits as soon as no connection is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import queue
import selectors
import signal
import socket
import struct
import sys
import time
import uuid
from datetime import datetime
from functools import partial
from pathlib import Path

from gunicorn import http, util
from gunicorn.http import errors as parse_errors
from gunicorn.http import wsgi
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.http import HTTP_STATUS_CODES

from mlops.http_framing import COMPLETE, NEED_MORE, RequestFramer, Verdict

# A header section above this is refused with 431 before it is parsed: far more than any client
# or proxy sends, far less than gunicorn's own worst case (100 fields of 8 KB each).
MAX_HEADER_BYTES = 64 * 1024
# When the app does not say (Flask's MAX_CONTENT_LENGTH), the largest body buffered.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = "10"  # GUNICORN_REQUEST_TIMEOUT unset: seconds (checked by gunicorn_conf)
# All connections' buffers together, per worker: past this a new byte is answered 503.
MAX_BUFFERED_BYTES = 64 * 1024 * 1024
# How long an answered-with-an-error connection is drained before it is closed (RFC 9112 9.6).
LINGER_SECONDS = 2.0
_READ_SIZE = 64 * 1024
_SWEEP_SECONDS = 0.25
# The heartbeat (a file's mtime the master watches, against GUNICORN_TIMEOUT) at most this often,
# not on every event-loop pass: a syscall saved on every request.
_HEARTBEAT_SECONDS = 1.0
# A route answered within this long is answered in the event loop when its request comes alone: the
# longest other clients then wait for the loop. At most MAX_QUICK_ROUTES are remembered: past it the
# set starts again, so a client sending many paths can neither grow it nor fill it for good.
QUICK_SECONDS = 0.01
MAX_QUICK_ROUTES = 64

# gunicorn's parse errors, as the status they deserve (anything else it raises is a 400).
_ERROR_STATUS = (
    (parse_errors.LimitRequestLine, 414),
    (parse_errors.LimitRequestHeaders, 431),
    (parse_errors.ExpectationFailed, 417),
    (parse_errors.UnsupportedTransferCoding, 501),
    (parse_errors.ForbiddenProxyRequest, 403),
    (parse_errors.ConfigurationProblem, 500),
)
_BAD_REQUEST = (
    parse_errors.ParseException,
    parse_errors.InvalidChunkSize,
    parse_errors.ChunkMissingTerminator,
    parse_errors.InvalidChunkExtension,
)


def route_of(request: bytes) -> tuple[bytes, int]:
    """What the worker learns the speed of: a request's method and path (without the query), and
    its size to the power of two (a large batch to the same path is another route)."""
    line = request[: request.find(b"\r\n")]
    method, _, rest = line.partition(b" ")
    target = rest.rpartition(b" ")[0] or rest
    return method + b" " + target.partition(b"?")[0], len(request).bit_length()


def error_response(status: int, message: str, request_id: str | None = None) -> bytes:
    """A complete HTTP/1.1 response in the API's error shape, closing the connection."""
    reason = HTTP_STATUS_CODES.get(status, "Error")
    request_id = request_id or uuid.uuid4().hex
    error = {"status": status, "code": reason.lower().replace(" ", "_"), "message": message}
    body = json.dumps({"error": error, "request_id": request_id}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Date: {util.http_date()}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n\r\n"
    )
    return head.encode("latin-1") + body


def status_for(error: BaseException) -> int:
    """The HTTP status for an error raised by gunicorn's parser (500: not a client error)."""
    for kind, status in _ERROR_STATUS:
        if isinstance(error, kind):
            return status
    return 400 if isinstance(error, _BAD_REQUEST) else 500


# SO_ATTACH_FILTER (Linux) with a one-instruction classic BPF program, "return 0": the socket drops
# every packet that reaches it. On a listening socket that is every new SYN (clients retry it and,
# once nothing listens, are refused); connections the kernel has already queued are unaffected.
_SO_ATTACH_FILTER = 26
_DROP_ALL = struct.pack("HBBI", 0x06, 0, 0, 0)  # BPF_RET | BPF_K, k = 0


def refuse_new_connections(listener) -> bool:
    """Stop the kernel completing new handshakes on `listener` (for every process that holds it);
    False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    program = ctypes.create_string_buffer(_DROP_ALL, len(_DROP_ALL))
    fprog = struct.pack("HP", 1, ctypes.addressof(program))  # struct sock_fprog {len; *filter}
    try:
        listener.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def only_siblings_hold(listener, own_pid: int, parent: int) -> bool:
    """Whether every other process holding `listener` open is a worker of the same master (Linux
    /proc): then the master has closed it, and nobody will accept on it again."""
    target = f"socket:[{os.fstat(listener.fileno()).st_ino}]"
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return False
    for pid in pids:
        if pid == own_pid:
            continue
        try:
            holds = any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd"))
            if holds and int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                return False  # the master itself, or another server's process (gunicorn's USR2 upgrade)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return True


class _DrainAware(wsgi.Response):
    """A response that says `Connection: close` when its headers go out after the worker stopped listening.

    Not as soon as it is told to stop: a client told to close reconnects at once, and until this
    worker has accepted its backlog and closed its listening socket that new connection could be
    queued behind its last accept, then reset by the close. Kept alive instead, its next request
    comes on the same connection and is answered, with close."""

    def __init__(self, req, sock, cfg, worker):
        super().__init__(req, sock, cfg)
        self._worker = worker

    def default_headers(self):
        if self._worker.stopped_listening:
            self.force_close()
        return super().default_headers()

    def sendfile(self, respiter):
        # Answered in the event loop: no sendfile(2), which would block the loop on a slow client.
        return False if isinstance(self.sock, _NonBlockingWriter) else super().sendfile(respiter)

    def write(self, arg):
        """The header section and a body written at once go out in one send (gunicorn: two)."""
        simple = not (self.headers_sent or self.chunked or self._omits_body) and isinstance(arg, bytes) and arg
        if not simple or (self.response_length is not None and len(arg) > self.response_length):
            super().write(arg)
            return
        head = self.default_headers()
        head.extend(f"{name}: {value}\r\n" for name, value in self.headers)
        util.write(self.sock, util.to_bytestring("{}\r\n".format("".join(head)), "latin-1") + arg)
        self.headers_sent = True
        self.sent += len(arg)


class _NonBlockingWriter:
    """The socket a response answered in the event loop writes to: what the client takes at once is
    sent as it comes, the rest is kept (`pending`) for a thread to send."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pending = bytearray()

    def sendall(self, data) -> None:
        sent = 0
        if not self.pending:
            with contextlib.suppress(BlockingIOError):
                sent = self.sock.send(data)  # the socket is non-blocking; any other error is the client's
        self.pending += memoryview(data)[sent:]

    def send(self, data) -> int:
        self.sendall(data)
        return len(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)  # the rest of the socket (environ["gunicorn.socket"]) as it is


class _Connection:
    """One client connection: its socket, the bytes of its next request, and its deadline."""

    def __init__(self, sock: socket.socket, client, server, framer: RequestFramer):
        self.sock, self.client, self.server = sock, client, server
        self.buffer = bytearray()
        self.framer = framer
        self.deadline = 0.0
        self.started = False  # a byte of the current request has arrived
        self.continue_sent = False
        self.request = b""  # the complete request being answered
        self.route: tuple[bytes, int] = (b"", 0)  # its route_of, worked out once
        self.close_after = False
        self.parser = None
        self.lingering = False
        sock.setblocking(False)

    def next_request(self, deadline: float) -> None:
        self.framer.reset()
        self.deadline, self.started, self.continue_sent = deadline, False, False
        self.request, self.close_after, self.parser = b"", False, None


class BufferingWorker(ThreadWorker):
    """`worker_class = "mlops.gunicorn_worker.BufferingWorker"`: gthread, reading requests in the event loop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_timeout = float(os.environ.get("GUNICORN_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT))
        self.max_body_bytes = DEFAULT_MAX_BODY_BYTES
        self.waiting: dict[_Connection, None] = {}  # connections being read, answered-and-lingering, or idle
        self.buffered = 0
        self._next_sweep = 0.0
        self._next_heartbeat = 0.0
        self.stopped_listening = False
        self.complete: list[_Connection] = []  # requests complete in this pass over the events
        self.in_threads = 0  # connections a thread is answering
        self.quick_routes: set[tuple[bytes, int]] = set()  # answered within QUICK_SECONDS when last seen

    def init_signals(self):
        """gunicorn's handlers, plus any stop signal sent before they were in place.

        From fork until here the worker still runs the master's handlers, which only queue a signal
        in the master's (copied) queue: a SIGTERM sent then, as when a deploy stops the server just
        after a worker was replaced, was lost, and the worker served on until the master killed it
        at the graceful timeout, resetting its connections."""
        inherited = signal.getsignal(signal.SIGTERM)
        super().init_signals()
        caught = getattr(getattr(inherited, "__self__", None), "SIG_QUEUE", None)
        if not isinstance(caught, queue.SimpleQueue):
            return
        stops = {signal.SIGTERM: self.handle_exit, signal.SIGINT: self.handle_quit, signal.SIGQUIT: self.handle_quit}
        with contextlib.suppress(queue.Empty):
            while True:
                sig = caught.get_nowait()
                if sig in stops:
                    self.log.info("%s arrived while this worker was starting: stopping", signal.Signals(sig).name)
                    stops[sig](sig, None)

    def notify(self):
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + _HEARTBEAT_SECONDS
            super().notify()

    @classmethod
    def check_config(cls, cfg, log):
        super().check_config(cfg, log)
        if cfg.is_ssl:
            raise RuntimeError("BufferingWorker serves plain HTTP/1.1: end TLS at the proxy in front of it")

    def load_wsgi(self):
        super().load_wsgi()
        # Buffer no more than the app would read: Flask's own body limit, when it has one.
        limit = getattr(self.wsgi, "config", {}).get("MAX_CONTENT_LENGTH")
        if limit:
            self.max_body_bytes = int(limit)

    # --- the event loop: accept, read, dispatch complete requests, expire slow ones -----------
    def run(self):
        self.poller.register(self.method_queue.fileno(), selectors.EVENT_READ, self.method_queue.run_callbacks)
        self.set_accept_enabled(True)
        while self.alive:
            self.notify()
            self._accept_if_room()
            self.wait_for_and_dispatch_events(timeout=1.0)
            if not self.is_parent_alive():
                break
            self._expire()
        self._drain()
        self.tpool.shutdown(wait=False)
        self.poller.close()
        self.method_queue.close()
        for listener in self.sockets:
            listener.close()

    def wait_for_and_dispatch_events(self, timeout):
        super().wait_for_and_dispatch_events(timeout)
        self._answer_complete()

    def enqueue_req(self, conn: _Connection) -> None:
        self.complete.append(conn)  # answered once this pass over the events is over

    def _answer_complete(self) -> None:
        """A lone request for a quick route in the event loop; the others (a burst the app may
        batch, a slow or new route) by threads."""
        alone = len(self.complete) == 1 and not self.in_threads
        if alone and self.complete[0].route in self.quick_routes:
            # At most one per pass: a pipelined request it completes goes to a thread below, so
            # one client's pipeline cannot keep the loop from the others.
            self._answer_here(self.complete.pop())
        for conn in self.complete:
            self._to_thread(conn, self._timed_handle, conn)
        self.complete.clear()

    def _timed_handle(self, conn: _Connection, out: _NonBlockingWriter | None = None) -> bool:
        """`handle`, learning whether the request's route is quick."""
        route = conn.route
        started = time.perf_counter()
        try:
            return self.handle(conn, out)
        finally:
            if time.perf_counter() - started > QUICK_SECONDS:
                self.quick_routes.discard(route)
            elif route not in self.quick_routes:
                if len(self.quick_routes) >= MAX_QUICK_ROUTES:
                    self.quick_routes.clear()
                self.quick_routes.add(route)

    def _to_thread(self, conn: _Connection, work, *args) -> None:
        self.in_threads += 1
        future = self.tpool.submit(work, *args)
        future.add_done_callback(lambda done: self.method_queue.defer(self.finish_request, conn, done))

    def _answer_here(self, conn: _Connection) -> None:
        writer = _NonBlockingWriter(conn.sock)
        keepalive = self._timed_handle(conn, writer)
        if writer.pending:  # the client's receive window is full: a thread waits for it
            self._to_thread(conn, self._send_rest, conn, writer.pending, keepalive)
            return
        self._after_answer(conn, keepalive)

    def _send_rest(self, conn: _Connection, data: bytearray, keepalive: bool) -> bool:
        """In a thread: the part of a response the client did not take at once (blocking, within the deadline)."""
        try:
            conn.sock.settimeout(self.request_timeout)
            conn.sock.sendall(data)
        except OSError:
            return False
        return keepalive

    def _drain(self) -> None:
        """Answer what is in flight and what already waits in the listening socket's backlog, then
        stop listening (new connections go to other workers, or are refused once all have stopped)
        and exit as soon as no connection is left."""
        # When the whole server stops, the last process to close the listening socket would reset
        # any connection queued between its last accept and its close: first make the kernel queue
        # no more, so that the backlog accepted below is all there is.
        for listener in self.sockets:
            if only_siblings_hold(listener, os.getpid(), self.ppid) and refuse_new_connections(listener):
                self.log.info("server stopping: no new connections on %s", listener)
        self._accept_backlog()
        self.set_accept_enabled(False)
        for listener in self.sockets:
            listener.close()
        self.stopped_listening = True
        self.log.info("draining %d connection(s)", self.nr_conns)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.log.warning("graceful timeout: closing %d connection(s)", self.nr_conns)
                return
            self.wait_for_and_dispatch_events(timeout=min(_SWEEP_SECONDS, remaining))
            self._expire()

    def _accept_if_room(self) -> None:
        can_accept = self.nr_conns < self.worker_connections
        if can_accept != self._accepting:
            self.set_accept_enabled(can_accept)

    def _accept_backlog(self) -> None:
        """Accept every connection the kernel has already queued on the listening sockets."""
        for listener in self.sockets:
            listener.setblocking(False)
            while self.nr_conns < self.worker_connections:
                before = self.nr_conns
                self.accept(listener)
                if self.nr_conns == before:
                    break

    def accept(self, listener):
        try:
            sock, client = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        framer = RequestFramer(
            max_request_line=self.cfg.limit_request_line or MAX_HEADER_BYTES,
            max_header_bytes=MAX_HEADER_BYTES,
            max_body_bytes=self.max_body_bytes,
        )
        conn = _Connection(sock, client, listener.getsockname(), framer)
        conn.next_request(time.monotonic() + self.request_timeout)
        self._wait_for_request(conn)

    def _wait_for_request(self, conn: _Connection) -> None:
        self.waiting[conn] = None
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))
        if conn.buffer:  # the client pipelined its next request
            self._advance(conn)

    def _on_readable(self, conn: _Connection, _sock) -> None:
        try:
            data = conn.sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.lingering:
            return  # answered already: discard what the client still sends
        if not conn.started:
            conn.started = True
            conn.deadline = time.monotonic() + self.request_timeout
        if self.buffered + len(data) > MAX_BUFFERED_BYTES:
            self._refuse(conn, 503, "the server is buffering too many requests; retry shortly")
            return
        conn.buffer += data
        self.buffered += len(data)
        self._advance(conn)

    def _advance(self, conn: _Connection) -> None:
        verdict = conn.framer.feed(conn.buffer)
        if verdict.state == NEED_MORE:
            if verdict.expect_continue and not conn.continue_sent:
                conn.continue_sent = True
                self._send_nowait(conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        if verdict.state != COMPLETE:
            self._refuse(conn, verdict.status, verdict.message)
            return
        self._dispatch(conn, verdict)

    def _dispatch(self, conn: _Connection, verdict: Verdict) -> None:
        self._stop_waiting(conn)
        conn.request = bytes(conn.buffer[: verdict.length])
        conn.route = route_of(conn.request)
        del conn.buffer[: verdict.length]
        self.buffered -= verdict.length
        conn.close_after = verdict.close_after
        self.enqueue_req(conn)

    def _stop_waiting(self, conn: _Connection) -> None:
        self.waiting.pop(conn, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _expire(self) -> None:
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_SECONDS
        for conn in [conn for conn in self.waiting if conn.deadline <= now]:
            if conn.started and not conn.lingering:
                self._refuse(conn, 408, f"the request did not arrive within {self.request_timeout:g} s")
            else:
                self._close(conn)  # idle keep-alive, or done lingering

    def _refuse(self, conn: _Connection, status: int, message: str) -> None:
        """Answer an error from the event loop, then linger: close once the client stops sending."""
        self.log.warning("refused request from %s: %d %s", _peer(conn.client), status, message)
        self.buffered -= len(conn.buffer)
        conn.buffer.clear()
        self._send_nowait(conn, error_response(status, message))
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.lingering = True
        conn.deadline = time.monotonic() + LINGER_SECONDS
        if conn not in self.waiting:
            self._wait_for_request(conn)

    def _send_nowait(self, conn: _Connection, data: bytes) -> None:
        with contextlib.suppress(OSError):  # small, into an empty send buffer: not partial in practice
            conn.sock.send(data)

    def _close(self, conn: _Connection) -> None:
        if conn in self.waiting:
            self._stop_waiting(conn)
            self.buffered -= len(conn.buffer)
            conn.buffer.clear()
        self.nr_conns -= 1
        util.close(conn.sock)

    # --- one complete request answered: by a thread, or in the event loop ----------------------
    def handle(self, conn: _Connection, out: _NonBlockingWriter | None = None):
        req = None
        sock = conn.sock if out is None else out
        try:
            if out is None:  # a thread writes to the socket: blocking, but never longer than the read deadline
                conn.sock.settimeout(self.request_timeout)
            conn.parser = http.get_parser(self.cfg, [conn.request], conn.client)
            req = next(conn.parser)
            req._expected_100_continue = False  # the body is here already (RFC 9110 10.1.1)
            keepalive = self.handle_request(req, conn, sock)
            return keepalive and not conn.close_after and conn.parser.finish_body()
        except (http.errors.NoMoreData, StopIteration):
            return False
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, None):
                self.log.exception("socket error answering a request")
            return False
        except Exception as error:
            self.handle_error(req, sock, conn.client, error)
            return False

    def handle_request(self, req, conn: _Connection, sock) -> bool:
        """gunicorn 26's gthread `handle_request`, with one change: the response decides between
        keep-alive and close when its headers go out, so one begun once the worker stopped listening
        says close and one sent before keeps its connection (whose next request is then answered
        with close)."""
        environ, resp = {}, None
        try:
            self.cfg.pre_request(self, req)
            request_start = datetime.now()
            resp, environ = wsgi.create(
                req, sock, conn.client, conn.server, self.cfg, response_class=_DrainAware, response_args=(self,)
            )
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                resp.force_close()
            if not self.cfg.keepalive:
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, datetime.now() - request_start)
                if hasattr(respiter, "close"):
                    respiter.close()
            return not resp.should_close()
        except OSError:
            raise
        except Exception:
            if resp and resp.headers_sent:
                # Too late for an error response: close, so the client sees the answer is cut.
                self.log.exception("Error handling request")
                raise StopIteration() from None
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")

    def finish_request(self, conn: _Connection, fs):
        """Back in the event loop from a thread."""
        self.in_threads -= 1
        try:
            keepalive = bool(fs.result()) if not fs.cancelled() else False
        except Exception:
            keepalive = False
        self._after_answer(conn, keepalive)

    def _after_answer(self, conn: _Connection, keepalive: bool) -> None:
        """Wait for the connection's next request, or close it."""
        if keepalive:
            conn.sock.setblocking(False)
            conn.next_request(time.monotonic() + self.cfg.keepalive)
            self._wait_for_request(conn)
            return
        self.buffered -= len(conn.buffer)
        conn.buffer.clear()
        try:
            conn.sock.setblocking(False)
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            util.close(conn.sock)
            return
        # Linger without blocking the loop, so the response is not cut by a reset.
        conn.lingering = True
        conn.deadline = time.monotonic() + LINGER_SECONDS
        self._wait_for_request(conn)

    def handle_error(self, req, client, addr, exc):
        """gunicorn's own error answers (bad request line, headers too large...) as API JSON errors."""
        status = status_for(exc)
        if status == 500:
            self.log.exception("error answering a request")
            message = "internal server error; see the server log"
        else:
            self.log.warning("invalid request from %s: %s", _peer(addr), exc)
            message = _describe(exc, status)
        try:
            client.sendall(error_response(status, message))
        except OSError:
            self.log.debug("could not send the error response")


def _describe(error: BaseException, status: int) -> str:
    detail = str(error) or type(error).__name__
    label = {414: "request line too long", 431: "request header fields too large"}.get(status)
    return f"{label}: {detail}" if label else f"{type(error).__name__}: {detail}"


def _peer(addr) -> str:
    return addr[0] if isinstance(addr, tuple) and addr else str(addr or "unix")
