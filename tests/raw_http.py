"""Raw HTTP/1.1 over a socket: requests no well-behaved client library would send."""

from __future__ import annotations

import json
import socket
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self):
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def connect(url: str, timeout: float = 10) -> socket.socket:
    return socket.create_connection(address(url), timeout=timeout)


# Bytes read past the end of a response (the next pipelined one), kept for the next read_reply.
_unread: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def read_reply(sock: socket.socket) -> Reply:
    """One response (Content-Length framed, as all of ours are); skips 1xx interim responses."""
    buffer = _unread.pop(sock, b"")
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed after {len(buffer)} bytes of a response")
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines[1:])}
        if status >= 200:
            break
    length = int(headers.get("content-length", 0))
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the middle of a response body")
        buffer += chunk
    _unread[sock] = buffer[length:]
    return Reply(status, headers, buffer[:length])


def exchange(url: str, data: bytes, timeout: float = 10) -> Reply:
    """Send `data` on a new connection and read one response."""
    with connect(url, timeout) as sock:
        sock.sendall(data)
        return read_reply(sock)


def post_json(path: str, body: bytes, host: str = "test", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server has closed the connection (reads until end of stream or timeout)."""
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except OSError:
        return True
    return True


def one_record(served, index: int = 0) -> dict:
    """A real record from the served model's test split that the API accepts (any index: a small
    split repeats its rows)."""
    from conftest import records_of

    records = records_of(served, len(served[2]))
    return records[index % len(records)]
