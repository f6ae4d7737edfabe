"""The hostile-client and unlucky-operator probes of docs/reliability.md, against the served model.

    make benchmark-reliability     (after make pipeline; the full-disk probe needs root for a tmpfs)

Each probe starts gunicorn with this repository's config on 127.0.0.1, does what the probe says,
and records what happened. Every loop is bounded in requests and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from mlops.config import load_config
from mlops.gitops.probe import request
from mlops.port import free_port
from mlops.prepare import read_frame
from mlops.provenance import git_commit

from report import machine, write_section
from serving import Server, our_server

ROOT = Path(__file__).resolve().parents[1]


def start(workdir: Path, name: str, **env: str) -> Server:
    server = our_server(name, workdir, PREDICTION_LOG_STDOUT="0", **env)
    server.start()
    return server


def raw(port: int, data: bytes, timeout: float = 10) -> tuple[int | None, bytes, bytes]:
    """(status, head, body) of one exchange on a fresh connection; status None when cut off."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return None, buffer, b""
                buffer += chunk
            head, body = buffer.split(b"\r\n\r\n", 1)
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except OSError:
            return None, buffer, b""
    return int(head.split()[1]), head, body


def post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


def worker_pid(server: Server) -> int:
    pid = server.process.pid
    return int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the probes -------------------------------------------------------------------------------
def probe_slow_clients(workdir: Path, body: bytes) -> dict:
    """80 connections send headers at 1 byte/s while 4 clients predict, for 14 s."""
    server = start(workdir, "slow")
    stop = time.monotonic() + 14
    closed_after: list[float] = []

    def slow() -> None:
        opened = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
            for byte in post("/predict", body):
                if time.monotonic() > stop:
                    return
                try:
                    sock.send(bytes([byte]))
                    sock.recv(1, socket.MSG_PEEK)  # waits up to 1 s: the pace of one byte a second
                    break  # an answer (408) or end of stream: the server is done with it
                except TimeoutError:
                    continue
                except OSError:
                    break
        closed_after.append(time.monotonic() - opened)

    latencies: list[float] = []

    def normal() -> None:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status = raw(server.port, post("/predict", body), timeout=5)[0]
            except OSError:
                status = None
            latencies.append(time.perf_counter() - started if status == 200 else 5.0)

    try:
        with ThreadPoolExecutor(84) as pool:
            slow_jobs = [pool.submit(slow) for _ in range(80)]
            time.sleep(1)
            normal_jobs = [pool.submit(normal) for _ in range(4)]
            for job in [*slow_jobs, *normal_jobs]:
                job.result()
    finally:
        server.stop()
    answered = [value for value in latencies if value < 5.0]
    return {
        "normal_requests": len(latencies),
        "answered_within_5s": len(answered),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "slow_closed": len(closed_after),
        "slow_open_s_median": round(sorted(closed_after)[len(closed_after) // 2], 1) if closed_after else None,
    }


def probe_metrics_growth(workdir: Path) -> dict:
    """1,500 requests with made-up methods (and paths): /metrics size and scrape time."""
    server = start(workdir, "methods")
    try:
        request(f"http://127.0.0.1:{server.port}/metrics")
        before = len(request(f"http://127.0.0.1:{server.port}/metrics").body)
        rng = random.Random(0)
        sizes = {}
        for sent in range(1, 1501):
            method = "".join(rng.choices(string.ascii_uppercase, k=10))
            path = "/" + "".join(rng.choices(string.ascii_lowercase, k=16))
            raw(server.port, f"{method} {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
            if sent in (100, 1500):
                started = time.perf_counter()
                sizes[sent] = len(request(f"http://127.0.0.1:{server.port}/metrics").body)
                scrape_ms = (time.perf_counter() - started) * 1000
    finally:
        server.stop()
    return {
        "metrics_bytes_before": before,
        "metrics_bytes_after_100": sizes[100],
        "metrics_bytes_after_1500": sizes[1500],
        "scrape_ms": round(scrape_ms, 1),
    }


def probe_unknown_keys(workdir: Path, record: dict) -> dict:
    """One record with 60,000 unknown keys: the answer's size; the worker's peak memory at 4 and 12 at once."""
    server = start(workdir, "keys")
    flood = json.dumps(record | {f"u{i}": i for i in range(60_000)}).encode()
    try:
        pid = worker_pid(server)
        idle = rss_mb(pid)
        status, _, body = raw(server.port, post("/predict", flood), timeout=60)
        peaks = {}
        for concurrency in (4, 12):
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(lambda _: raw(server.port, post("/predict", flood), timeout=60), range(concurrency)))
            peaks[concurrency] = rss_mb(pid, "VmHWM")
    finally:
        server.stop()
    return {
        "status": status,
        "body_bytes": len(body),
        "details": len(json.loads(body)["error"]["details"]),
        "idle_rss_mb": round(idle),
        "peak_rss_mb_4": round(peaks[4]),
        "peak_rss_mb_12": round(peaks[12]),
    }


def probe_server_errors(workdir: Path) -> dict:
    server = start(workdir, "errors")
    probes = {
        "url_10kb": b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: probe\r\n\r\n",
        "header_20kb": b"GET /health HTTP/1.1\r\nHost: probe\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        "bad_request_line": b"NOT HTTP AT ALL\r\n\r\n",
        "150_headers": b"GET /health HTTP/1.1\r\nHost: probe\r\n"
        + b"".join(b"X-H%d: a\r\n" % i for i in range(150))
        + b"\r\n",
        "length_and_chunked": b"POST /predict HTTP/1.1\r\nHost: probe\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    }
    results = {}
    try:
        for name, data in probes.items():
            status, head, body = raw(server.port, data)
            json_body = b"content-type: application/json" in head.lower() and "error" in json.loads(body)
            results[name] = f"{status} {'JSON' if json_body else 'not JSON'}"
    finally:
        server.stop()
    return results


class KeepAlive(threading.Thread):
    def __init__(self, port: int, body: bytes, stop: threading.Event):
        super().__init__()
        self.port, self.body, self.stop = port, body, stop
        self.answered, self.failures, self.refused = 0, [], False

    def run(self) -> None:
        while not self.stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                connection.connect()
            except ConnectionRefusedError:
                self.refused = True
                return
            try:
                while not self.stop.is_set():
                    connection.request("POST", "/predict", self.body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    response.read()
                    self.answered += response.status == 200
                    if response.status != 200:
                        self.failures.append(f"status {response.status}")
                    if response.getheader("Connection", "").lower() == "close":
                        break
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(type(error).__name__)
            finally:
                connection.close()


def probe_signals(workdir: Path, body: bytes) -> dict:
    """8 keep-alive clients; SIGHUP after 2 s; SIGTERM 3 s later; count what was not answered."""
    server = start(workdir, "signals", WEB_CONCURRENCY="2")
    stop = threading.Event()
    clients = [KeepAlive(server.port, body, stop) for _ in range(8)]
    for client in clients:
        client.start()
    time.sleep(2)
    server.process.send_signal(signal.SIGHUP)
    time.sleep(3)
    answered_at_term = sum(client.answered for client in clients)
    failures_at_term = sum(len(client.failures) for client in clients)
    terminated = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(60)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
        server.stop()
    failures = [failure for client in clients for failure in client.failures]
    return {
        "answered": sum(client.answered for client in clients),
        "answered_before_sigterm": answered_at_term,
        "failed_after_sighup": failures_at_term,
        "failed_after_sigterm": len(failures) - failures_at_term,
        "failures": sorted(set(failures)),
        "exit_after_sigterm_s": round(time.monotonic() - terminated, 1),
        "clients_refused_at_the_end": sum(client.refused for client in clients),
    }


def probe_backlog(workdir: Path, body: bytes) -> dict:
    """Connections queued while the worker is frozen, then SIGTERM: answered or reset?"""
    server = start(workdir, "backlog")
    worker = worker_pid(server)
    os.kill(worker, signal.SIGSTOP)
    sockets = []
    try:
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            sock.sendall(post("/predict", body))
            sockets.append(sock)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
    finally:
        os.kill(worker, signal.SIGCONT)
    started = time.monotonic()
    outcomes = []
    for sock in sockets:
        try:
            data = sock.recv(65536)
            outcomes.append(int(data.split()[1]) if data else "closed")
        except OSError as error:
            outcomes.append(type(error).__name__)
        sock.close()
    waited = time.monotonic() - started
    server.process.wait(60)
    server.stop()
    return {
        "queued": len(sockets),
        "answered_200": outcomes.count(200),
        "other": [o for o in outcomes if o != 200],
        "answers_within_s": round(waited, 1),
    }


def probe_full_disk(workdir: Path, body: bytes) -> dict:
    disk = workdir / "disk"
    disk.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not mounted:
        return {"skipped": "needs root to mount a 64 KB tmpfs"}
    try:
        log = disk / "predictions.jsonl"
        server = start(workdir, "disk", PREDICTION_LOG_FILE=str(log))
        try:
            url = f"http://127.0.0.1:{server.port}"
            statuses = [raw(server.port, post("/predict", body))[0] for _ in range(600)]
            ready = request(f"{url}/ready").status
            text = request(f"{url}/metrics").body.decode()
            lost = next(
                float(line.split()[1]) for line in text.splitlines() if line.startswith("prediction_log_errors_total ")
            )
            rows = next(
                float(line.split()[1]) for line in text.splitlines() if line.startswith("model_prediction_value_count ")
            )
            lines_full = len(log.read_text().splitlines())
            log.write_bytes(b"")  # the operator frees space (truncates the log)
            after = [raw(server.port, post("/predict", body))[0] for _ in range(10)]
            lines_after = log.read_text().splitlines()
        finally:
            server.stop()
        whole = all(line.startswith("{") and line.endswith("}") for line in log.read_text().splitlines())
        return {
            "answered_200": statuses.count(200),
            "other_statuses": sorted({s for s in statuses if s != 200}),
            "ready": ready,
            "lines_written": lines_full,
            "lines_lost_counted": int(lost),
            "rows_counted": int(rows),
            "after_freeing_200": after.count(200),
            "lines_after_freeing": len(lines_after),
            "only_whole_lines": whole,
        }
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def probe_unwritable_log(workdir: Path) -> dict:
    blocker = workdir / "a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS_", "MONITORING_"))}
    env |= {"HOST": "127.0.0.1", "PORT": str(free_port()), "PARAMS_FILE": str(ROOT / "params.yaml")}
    env["PREDICTION_LOG_FILE"] = str(blocker / "predictions.jsonl")
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:mlops.gunicorn_conf"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = (done.stdout + done.stderr).strip().splitlines()
    return {
        "exit": done.returncode,
        "traceback": any("Traceback" in line for line in output),
        "error": next((line for line in output if line.startswith("Error:")), None),
    }


def probe_gauges(workdir: Path, records: list[dict]) -> dict:
    server = start(workdir, "gauges")
    url = f"http://127.0.0.1:{server.port}"
    try:
        batch = json.dumps({"records": records}).encode()
        for _ in range(3):
            raw(server.port, post("/predict", batch))
        time.sleep(2.1)  # past the report cache
        before = request(f"{url}/monitoring/drift").json()["verdict"]
        gauge_before = _gauge(url)
        old = worker_pid(server)
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if worker_pid(server) != old and request(f"{url}/ready").status == 200:
                    break
            except (OSError, IndexError):
                pass
            time.sleep(0.2)
        after = request(f"{url}/monitoring/drift").json()["verdict"]
        gauge_after = _gauge(url)
    finally:
        server.stop()
    return {
        "verdict_before": before,
        "gauge_before": gauge_before,
        "verdict_after_restart": after,
        "gauge_after_restart": gauge_after,
    }


def _gauge(url: str) -> str:
    text = request(f"{url}/metrics").body.decode()
    return next((line.split()[1] for line in text.splitlines() if line.startswith("model_drift_detected ")), "absent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "reliability.md")
    args = parser.parse_args(argv)
    config = load_config(ROOT / "params.yaml")
    test = read_frame(ROOT / config.paths.test, config.data)
    records = json.loads(test[list(config.data.features)].head(100).to_json(orient="records"))
    body = json.dumps(records[0]).encode()
    results = {}
    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        workdir = Path(tmp)
        for name, probe in (
            ("slow_clients", lambda: probe_slow_clients(workdir, body)),
            ("metrics_growth", lambda: probe_metrics_growth(workdir)),
            ("unknown_keys", lambda: probe_unknown_keys(workdir, records[0])),
            ("server_errors", lambda: probe_server_errors(workdir)),
            ("signals", lambda: probe_signals(workdir, body)),
            ("backlog", lambda: probe_backlog(workdir, body)),
            ("full_disk", lambda: probe_full_disk(workdir, body)),
            ("unwritable_log", lambda: probe_unwritable_log(workdir)),
            ("gauges", lambda: probe_gauges(workdir, records)),
        ):
            print(f"probe {name} ...", flush=True)
            results[name] = probe()
            print(json.dumps(results[name]), flush=True)
    header = (
        f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()}, "
        f"Python {platform.python_version()}, while other work shared the machine."
    )
    section = "\n".join([header, "", "```json", json.dumps(results, indent=2), "```"])
    write_section(args.out, "probes", section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
