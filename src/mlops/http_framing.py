"""Where one HTTP/1.1 request ends in a stream of bytes, found without a thread.

The serving worker (mlops.gunicorn_worker) reads each request into memory in its event loop
and hands it to a thread only once it is complete, so a client that sends slowly holds a
buffer, never a thread. This module decides, from the bytes so far, whether the request is
complete, needs more bytes, or must be refused. It reads only the framing (the end of the
header section, Content-Length, chunked encoding); gunicorn's own parser still parses and
validates the complete request, and refuses what it would refuse anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NEED_MORE = "need_more"
COMPLETE = "complete"
REFUSE = "refuse"

_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
# Codings gunicorn accepts in front of `chunked` (it refuses anything else itself).
_CODINGS_BEFORE_CHUNKED = {b"gzip", b"deflate", b"compress", b"identity"}
_MAX_CHUNK_LINE = 4096


@dataclass(frozen=True)
class Verdict:
    state: str  # NEED_MORE, COMPLETE or REFUSE
    length: int = 0  # COMPLETE: bytes of the buffer that make up the request
    # COMPLETE: the framing is not one this module vouches for (for example both Content-Length and
    # Transfer-Encoding): gunicorn's parser gets the header section only, and refuses it or reads
    # no body; either way the connection must close after it.
    close_after: bool = False
    status: int = 0  # REFUSE: the HTTP status to answer
    message: str = ""
    expect_continue: bool = False  # NEED_MORE: the client waits for "100 Continue" before the body


class RequestFramer:
    """Incremental: call `feed` with the same growing buffer until it is not NEED_MORE, then `reset`."""

    def __init__(self, *, max_request_line: int, max_header_bytes: int, max_body_bytes: int):
        self.max_request_line = max_request_line
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.reset()

    def reset(self) -> None:
        self._scanned = 0  # header bytes already searched for the blank line
        self._body_start: int | None = None
        self._content_length: int | None = None
        self._chunked = False
        self._chunk_at = 0  # next chunk-size line (offset in the buffer)
        self._body_bytes = 0
        self._expect_continue = False

    def feed(self, buffer: bytes | bytearray) -> Verdict:
        if self._body_start is None:
            verdict = self._headers(buffer)
            if verdict is not None:
                return verdict
        if self._chunked:
            return self._chunks(buffer)
        end = self._body_start + self._content_length
        if len(buffer) >= end:
            return Verdict(COMPLETE, end)
        return Verdict(NEED_MORE, expect_continue=self._expect_continue)

    def _headers(self, buffer: bytes | bytearray) -> Verdict | None:
        first_line = buffer.find(b"\r\n", 0, self.max_request_line + 2)
        if first_line < 0 and len(buffer) > self.max_request_line + 1:
            return Verdict(REFUSE, status=414, message=f"request line longer than {self.max_request_line} bytes")
        end = buffer.find(b"\r\n\r\n", max(0, self._scanned - 3))
        if end < 0:
            if len(buffer) > self.max_header_bytes:
                return Verdict(REFUSE, status=431, message=f"header section larger than {self.max_header_bytes} bytes")
            self._scanned = len(buffer)
            return Verdict(NEED_MORE)
        self._body_start = end + 4
        if end + 4 > self.max_header_bytes:
            return Verdict(REFUSE, status=431, message=f"header section larger than {self.max_header_bytes} bytes")
        return self._body_framing(bytes(buffer[:end]))

    def _body_framing(self, head: bytes) -> Verdict | None:
        lengths, codings = [], []
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip(b" \t"))
            elif name == b"transfer-encoding":
                codings.extend(part.strip(b" \t").lower() for part in value.split(b","))
            elif name == b"expect":
                self._expect_continue = value.strip(b" \t").lower() == b"100-continue"
        if codings:
            *before, last = codings
            if lengths or last != b"chunked" or not set(before) <= _CODINGS_BEFORE_CHUNKED:
                return Verdict(COMPLETE, self._body_start, close_after=True)  # gunicorn refuses or reads no body
            self._chunked = True
            self._chunk_at = self._body_start
            return None
        if not lengths:
            self._content_length = 0
            return None
        if len(lengths) > 1 or not lengths[0].isdigit():
            return Verdict(COMPLETE, self._body_start, close_after=True)  # gunicorn refuses it
        self._content_length = int(lengths[0])
        if self._content_length > self.max_body_bytes:
            return Verdict(REFUSE, status=413, message=f"body larger than {self.max_body_bytes} bytes")
        return None

    def _chunks(self, buffer: bytes | bytearray) -> Verdict:
        while True:
            line_end = buffer.find(b"\r\n", self._chunk_at, self._chunk_at + _MAX_CHUNK_LINE)
            if line_end < 0:
                if len(buffer) - self._chunk_at >= _MAX_CHUNK_LINE:
                    return Verdict(REFUSE, status=400, message="chunk-size line too long")
                return Verdict(NEED_MORE, expect_continue=self._expect_continue)
            size_text = bytes(buffer[self._chunk_at : line_end]).split(b";", 1)[0].rstrip(b" \t")
            if not _HEX.fullmatch(size_text):
                return Verdict(REFUSE, status=400, message="malformed chunked body: bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                # The last chunk, then an optional trailer section and a blank line.
                end = buffer.find(b"\r\n\r\n", line_end)
                if end < 0:
                    if len(buffer) - line_end > self.max_header_bytes:
                        return Verdict(REFUSE, status=431, message="trailer section too large")
                    return Verdict(NEED_MORE)
                return Verdict(COMPLETE, end + 4)
            self._body_bytes += size
            if self._body_bytes > self.max_body_bytes:
                return Verdict(REFUSE, status=413, message=f"body larger than {self.max_body_bytes} bytes")
            data_end = line_end + 2 + size
            if len(buffer) < data_end + 2:
                self._body_bytes -= size  # counted again when this chunk is read in full
                return Verdict(NEED_MORE, expect_continue=self._expect_continue)
            if buffer[data_end : data_end + 2] != b"\r\n":
                return Verdict(REFUSE, status=400, message="malformed chunked body: chunk not followed by CRLF")
            self._chunk_at = data_end + 2
