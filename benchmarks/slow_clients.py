"""Slow clients and what the defence costs: gunicorn's gthread worker vs ours (mlops.gunicorn_worker).

    make benchmark-slow-clients     (after make pipeline)

For each worker class, alternating, in rounds: the normal path (1-row predictions, keep-alive,
closed loop, at concurrency 1 and 32), then 1-row predictions from 4 normal clients while 100
other connections send their headers, or their body, at one byte a second. Normal requests give
up after 5 s (counted as failed, at 5 s). Also: how long a slow connection stays open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from mlops.config import load_config
from mlops.prepare import read_frame
from mlops.provenance import git_commit

from load import build_request, run_load
from report import machine, process_tree, write_section
from serving import Server, our_server

ROOT = Path(__file__).resolve().parents[1]
WORKERS = {"gthread": "gthread", "ours": "mlops.gunicorn_worker.BufferingWorker"}
SLOW_CONNECTIONS = 100
NORMAL_CLIENTS = 4
GIVE_UP_S = 5.0
SLOW_PHASE_S = 12.0  # longer than our 10 s read deadline, so the closes show


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process tree so far (less sensitive to a busy machine than latency)."""
    total = 0
    for pid in process_tree(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def start(worker: str, workdir: Path) -> Server:
    server = our_server(worker, workdir, "--worker-class", WORKERS[worker], PREDICTION_LOG_STDOUT="0")
    server.start()
    return server


async def _slow_client(port: int, mode: str, stop: float, closed_after: list[float]) -> None:
    """Trickle one request at a byte a second until the server closes the connection or time is up."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    if mode == "body":
        writer.write(head)
        payload = b"{" * 100000
    else:
        payload = head
    try:
        for byte in payload:
            if time.monotonic() >= stop:
                return
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                await asyncio.wait_for(reader.read(1), timeout=1.0)
                break  # an answer (408) or end of stream: the server is done with this connection
            except TimeoutError:
                continue
        closed_after.append(time.monotonic() - started)
    except OSError:
        closed_after.append(time.monotonic() - started)
    finally:
        writer.close()


async def _normal_client(port: int, request: bytes, stop: float, latencies: list[float], failures: list[int]) -> None:
    reader = writer = None
    while time.monotonic() < stop:
        started = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), GIVE_UP_S)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), GIVE_UP_S)
            lines = head.lower().split(b"\r\n")
            length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
            await asyncio.wait_for(reader.readexactly(length), GIVE_UP_S)
            latencies.append((time.perf_counter() - started) * 1000)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            latencies.append(GIVE_UP_S * 1000)
            failures.append(1)
            if writer is not None:
                writer.close()
            reader = writer = None


async def _under_slow_clients(port: int, mode: str, request: bytes) -> dict:
    stop = time.monotonic() + SLOW_PHASE_S
    closed_after: list[float] = []
    latencies: list[float] = []
    failures: list[int] = []
    slow = [asyncio.create_task(_slow_client(port, mode, stop, closed_after)) for _ in range(SLOW_CONNECTIONS)]
    await asyncio.sleep(1.0)  # every slow connection is open and trickling
    await asyncio.gather(*(_normal_client(port, request, stop, latencies, failures) for _ in range(NORMAL_CLIENTS)))
    await asyncio.gather(*slow)
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "failed": len(failures),
        "p50_ms": round(ordered[len(ordered) // 2], 1) if ordered else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1) if ordered else None,
        "slow_closed": len(closed_after),
        "slow_closed_after_s": round(statistics.median(closed_after), 1) if closed_after else None,
    }


def measure(worker: str, workdir: Path, body: bytes, requests: int) -> dict:
    server = start(worker, workdir)
    try:
        result = {}
        for concurrency in (1, 32):
            before = cpu_seconds(server.process.pid)
            load = run_load(
                "127.0.0.1", server.port, "/predict", body, concurrency=concurrency, requests=requests, warmup=64
            )
            cpu_ms = (cpu_seconds(server.process.pid) - before) * 1000 / (requests + 64)
            result[f"c{concurrency}"] = load.summary() | {"cpu_ms_per_request": round(cpu_ms, 3)}
        request = build_request("127.0.0.1", server.port, "/predict", body)
        for mode in ("headers", "body"):
            result[f"slow_{mode}"] = asyncio.run(_under_slow_clients(server.port, mode, request))
        return result
    finally:
        server.stop()


def summarize(results: dict[str, list[dict]], rounds: int, requests: int) -> str:
    """The docs section: medians over rounds, and the spread of the normal path's CPU cost."""

    def med(name: str, scenario: str, field: str) -> float | None:
        values = [r[scenario][field] for r in results[name] if r[scenario][field] is not None]
        return statistics.median(values) if values else None

    def show(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:g}{unit}"

    rows = ["| | gthread (gunicorn's) | ours (BufferingWorker) |", "| --- | ---: | ---: |"]
    for concurrency in (1, 32):
        fields = (
            ("rps", "req/s"),
            ("p50_ms", "p50 ms"),
            ("p99_ms", "p99 ms"),
            ("cpu_ms_per_request", "server CPU ms/request"),
        )
        for field, label in fields:
            key = f"c{concurrency}"
            values = " | ".join(show(med(name, key, field)) for name in WORKERS)
            rows.append(f"| normal path, concurrency {concurrency}: {label} | {values} |")
    for mode in ("headers", "body"):
        key = f"slow_{mode}"
        label = f"{SLOW_CONNECTIONS} connections trickling {mode} at 1 byte/s"
        for field, unit in (("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"), ("failed", "normal requests failed (5 s)")):
            rows.append(f"| {label}: {unit} | {show(med('gthread', key, field))} | {show(med('ours', key, field))} |")
        rows.append(
            f"| {label}: slow connections closed within {SLOW_PHASE_S:g} s (median s open) | "
            f"{show(med('gthread', key, 'slow_closed'))} ({show(med('gthread', key, 'slow_closed_after_s'))}) | "
            f"{show(med('ours', key, 'slow_closed'))} ({show(med('ours', key, 'slow_closed_after_s'))}) |"
        )
    return "\n".join(
        [
            "## Slow clients: gunicorn's gthread worker vs ours",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()},",
            f"Python {platform.python_version()}, {rounds} rounds alternating the two (medians shown),",
            "on a machine shared with other work (figures are noisy; re-run on a quiet one). Reproduce:",
            "",
            "```bash",
            "make pipeline && make benchmark-slow-clients",
            "```",
            "",
            "Both: gunicorn with this repository's config, 1 worker, 32 threads; only `--worker-class` differs.",
            f"Normal path: {requests} one-row predictions per level, keep-alive, closed loop. Slow phase:",
            f"{NORMAL_CLIENTS} normal clients for {SLOW_PHASE_S:g} s while {SLOW_CONNECTIONS} connections trickle a",
            "request at one byte a second; a normal request that takes 5 s counts as failed, at 5 s.",
            "",
            *rows,
            "",
            cost_line(results),
        ]
    )


def cost_line(results: dict[str, list[dict]]) -> str:
    """What reading requests in the event loop costs the normal path: server CPU per request, per round."""
    parts = []
    for concurrency in (1, 32):
        key = f"c{concurrency}"
        spread = {name: ", ".join(f"{r[key]['cpu_ms_per_request']:.2f}" for r in results[name]) for name in WORKERS}
        parts.append(f"concurrency {concurrency}: gthread {spread['gthread']}, ours {spread['ours']}")
    return (
        "Cost on the normal path, server CPU ms per request in each round (user + system time of the"
        " server's processes, less sensitive to a busy machine than latency): " + "; ".join(parts) + "."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000, help="normal-path requests per concurrency level")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    config = load_config(ROOT / "params.yaml")
    test = read_frame(ROOT / config.paths.test, config.data)
    body = json.dumps(json.loads(test[list(config.data.features)].head(1).to_json(orient="records"))[0]).encode()
    workdir = Path(tempfile.mkdtemp(prefix="bench-slow-"))
    results: dict[str, list[dict]] = {name: [] for name in WORKERS}
    try:
        for round_index in range(args.rounds):
            for name in list(WORKERS)[round_index % 2 :] + list(WORKERS)[: round_index % 2]:
                print(f"round {round_index + 1}/{args.rounds}: {name} ...", flush=True)
                results[name].append(measure(name, workdir, body, args.requests))
                print(json.dumps(results[name][-1]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    section = summarize(results, args.rounds, args.requests)
    print(section)
    write_section(args.docs, "slow-clients", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
