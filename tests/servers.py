"""Start real servers on 127.0.0.1 for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from mlops.gitops.probe import wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    for variable in ("PROMETHEUS_MULTIPROC_DIR", "MONITORING_DIR"):  # the config makes its own
        if variable not in env:
            environment.pop(variable, None)
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
        wait_for(f"{url}/ready", alive=lambda: process.poll() is None)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
