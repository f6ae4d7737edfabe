"""A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next request
as soon as the previous answer arrives, for a fixed number of requests.

One asyncio event loop on raw sockets: it costs the machine far less CPU than the server it
measures, which matters when both share two cores.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> dict:
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "mean_ms": round(statistics.fmean(self.latencies_ms), 2) if self.latencies_ms else None,
        }


def build_request(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return status


async def _run(host, port, request, concurrency, requests, warmup) -> LoadResult:
    budget = {"warmup": warmup, "measured": requests}
    latencies: list[float] = []
    errors = 0
    warmed = asyncio.Event()
    warm_clients = [0]

    def take(kind: str) -> bool:
        if budget[kind] <= 0:
            return False
        budget[kind] -= 1
        return True

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while take("warmup"):
            await _exchange(reader, writer, request)
        warm_clients[0] += 1
        if warm_clients[0] == concurrency:
            warmed.set()
        await warmed.wait()
        while take("measured"):
            started = time.perf_counter()
            try:
                ok = await _exchange(reader, writer, request) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok = False
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += 0 if ok else 1
        writer.close()

    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    await warmed.wait()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    return LoadResult(concurrency, requests, errors, time.perf_counter() - started, latencies)


def run_load(
    host: str, port: int, path: str, body: bytes, *, concurrency: int, requests: int, warmup: int = 0
) -> LoadResult:
    """Send `requests` POSTs (after `warmup` unmeasured ones) over `concurrency` connections."""
    request = build_request(host, port, path, body)
    return asyncio.run(_run(host, port, request, concurrency, requests, warmup))
