"""Start real servers on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> float:
    """Seconds until `url` answers 200; raises if the process dies or time runs out."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@contextlib.contextmanager
def gunicorn(directory: Path, *, workers: int = 1, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Our API under gunicorn with its production config, serving the bundle in `directory`."""
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "PARAMS_FILE": str(directory / "params.yaml"),
        "PREDICTION_LOG_STDOUT": "0",
        **env,
    }
    environment.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = open(directory / f"gunicorn-{port}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:mlops.gunicorn_conf"],
        cwd=directory,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/ready", process=process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
