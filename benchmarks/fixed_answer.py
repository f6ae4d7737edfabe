"""A fixed answer the size of a 1-row prediction's, with no app behind it: what serving costs before any work.

`fixed_answer:app` is a WSGI app, run under gunicorn with this repository's config and worker;
`python fixed_answer.py PORT` is an asyncio server that answers every request after reading only
its framing, the least any HTTP server can do: the load generator and the loopback alone.
"""

from __future__ import annotations

import asyncio
import sys

BODY = b'{"prediction": 452600.0, "model_version": "000000000000", "request_id": "00000000000000000000000000000000"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
RESPONSE = b"HTTP/1.1 200 OK\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in HEADERS) + b"\r\n" + BODY


def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", HEADERS)
    return [BODY]


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def _serve(port: int) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
