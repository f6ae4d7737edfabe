"""Start real servers on 127.0.0.1 for tests, and find their gunicorn workers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from mlops.gitops.probe import wait_for
from mlops.gunicorn_worker import refuse_new_connections
from mlops.port import free_port


def socket_filters_allowed() -> bool:
    """Whether this kernel lets this user attach a socket filter (the worker's stop-time guard)."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return refuse_new_connections(probe)


GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:mlops.gunicorn_conf"]


def server_env(directory: Path, port: int, *, workers: int = 1, **env: str) -> dict[str, str]:
    """gunicorn's environment for the bundle in `directory` (params.yaml there unless PARAMS_FILE is given)."""
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
    return environment


def run_gunicorn(directory: Path, **env: str) -> subprocess.CompletedProcess:
    """gunicorn run to its exit, output captured: for a configuration that must refuse to start."""
    environment = server_env(directory, free_port(), **env)
    return subprocess.run(GUNICORN, cwd=directory, env=environment, capture_output=True, text=True, timeout=60)


@contextlib.contextmanager
def gunicorn(
    directory: Path, *, workers: int = 1, config: Path | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Our API under gunicorn with its production config (or `config`), serving the bundle in `directory`."""
    port = free_port()
    environment = server_env(directory, port, workers=workers, **env)
    log = open(directory / f"gunicorn-{port}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        GUNICORN if config is None else [*GUNICORN[:-1], str(config)],
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


def workers_of(master: int) -> set[int]:
    """A gunicorn master's worker processes (Linux /proc; a killed one stays listed until reaped)."""
    return {int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()}


def worker_of(master: int) -> int:
    """The one worker of a single-worker master."""
    (worker,) = workers_of(master)
    return worker


def wait_for_replacement(master: int, gone: int, *, workers: int = 1, timeout: float = 30) -> set[int]:
    """The master's workers once it has reaped `gone` and is back to `workers` of them (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        current = workers_of(master)
        if (gone not in current and len(current) >= workers) or time.monotonic() > deadline:
            return current
        time.sleep(0.02)
