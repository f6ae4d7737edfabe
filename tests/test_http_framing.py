"""Where a request ends, decided from bytes alone: fed whole and a byte at a time."""

import pytest

from mlops.http_framing import COMPLETE, NEED_MORE, REFUSE, RequestFramer


def framer(max_body: int = 1000) -> RequestFramer:
    return RequestFramer(max_request_line=100, max_header_bytes=400, max_body_bytes=max_body)


def feed_bytewise(data: bytes, framer: RequestFramer):
    """Feed a growing buffer one byte at a time, as a slow client would; the first final verdict."""
    buffer = bytearray()
    for byte in data:
        buffer.append(byte)
        verdict = framer.feed(buffer)
        if verdict.state != NEED_MORE:
            return verdict, len(buffer)
    return framer.feed(buffer), len(buffer)


GET = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"
POST = b"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = b"POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"


@pytest.mark.parametrize("request_bytes", [GET, POST, CHUNKED], ids=["no-body", "content-length", "chunked"])
def test_a_request_is_complete_exactly_at_its_last_byte(request_bytes):
    pipelined = request_bytes + b"GET /next HTTP/1.1\r\n"
    whole = framer().feed(pipelined)
    assert (whole.state, whole.length) == (COMPLETE, len(request_bytes))
    verdict, fed = feed_bytewise(pipelined, framer())
    assert (verdict.state, verdict.length, fed) == (COMPLETE, len(request_bytes), len(request_bytes))


def test_reset_frames_the_next_request():
    request_framer = framer()
    assert request_framer.feed(POST).length == len(POST)
    request_framer.reset()
    assert request_framer.feed(GET).length == len(GET)


REFUSED = [
    pytest.param(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n", 414, id="request-line-too-long"),
    pytest.param(b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 500 + b"\r\n\r\n", 431, id="header-section-too-large"),
    pytest.param(b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, id="declared-body-too-large"),
    pytest.param(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n", 413, id="chunked-body-too-large"),
    pytest.param(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400, id="bad-chunk-size"),
    pytest.param(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX", 400, id="chunk-without-crlf"),
]


@pytest.mark.parametrize(("request_bytes", "status"), REFUSED)
def test_what_cannot_be_framed_within_the_limits_is_refused(request_bytes, status):
    verdict, _ = feed_bytewise(request_bytes, framer())
    assert (verdict.state, verdict.status) == (REFUSE, status)
    assert verdict.message


AMBIGUOUS = [
    pytest.param(
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", id="length-and-chunked"
    ),
    pytest.param(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", id="two-lengths"),
    pytest.param(b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n", id="negative-length"),
    pytest.param(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", id="chunked-not-last"),
]


@pytest.mark.parametrize("request_bytes", AMBIGUOUS)
def test_framing_gunicorn_refuses_goes_to_its_parser_with_no_body_then_closes(request_bytes):
    verdict = framer().feed(request_bytes + b"body bytes")
    assert (verdict.state, verdict.length, verdict.close_after) == (COMPLETE, len(request_bytes), True)


def test_a_client_expecting_100_continue_is_told_so_until_the_body_arrives():
    head = b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
    request_framer = framer()
    assert request_framer.feed(head).expect_continue
    assert request_framer.feed(head + b"abc").state == COMPLETE
