"""gunicorn settings for the API: `gunicorn -c python:mlops.gunicorn_conf`.

Every value can be overridden by the environment Render (or you) set: PORT, HOST,
WEB_CONCURRENCY, GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_GRACEFUL_TIMEOUT (and the worker's
GUNICORN_REQUEST_TIMEOUT, see mlops.gunicorn_worker); MLOPS_RUNTIME_DIR is
where the directories below are created when not set (default /dev/shm, else the temp dir).
"""

from __future__ import annotations

import atexit
import json
import math
import os
import shlex
import shutil
import tempfile
from pathlib import Path

from gunicorn import glogging

from mlops.gunicorn_worker import DEFAULT_REQUEST_TIMEOUT


def _number(name: str, default: str, kind: type = int, minimum: float = 1) -> float:
    """A setting from the environment; a bad one stops the server in one line that names it."""
    text = os.environ.get(name, default).strip()
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        whole = "whole " if kind is int else ""
        raise SystemExit(f"Error: {name}={text!r}: expected a {whole}number of at least {minimum:g}")
    return value


# One BLAS/OpenMP thread per worker. OpenMP's default (one thread per core in every worker)
# oversubscribes the CPU: measured here, it made a 2-worker server 10x slower under load.
# Set before the app (numpy, scikit-learn) is imported by preload_app below.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# Prometheus multiprocess mode: every worker writes its samples to PROMETHEUS_MULTIPROC_DIR;
# /metrics sums them. It must exist before prometheus_client is imported (preload).
_shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None  # noqa: S108 (tmpfs, on purpose)
_runtime = os.environ.get("MLOPS_RUNTIME_DIR") or _shm
# The drift window: each worker shares its recent rows in MONITORING_DIR, so /monitoring/drift
# sees them all. Directories set by the operator are used as they are and never deleted.
_created: list[str] = []
_master = os.getpid()
for _variable, _prefix in (("PROMETHEUS_MULTIPROC_DIR", "prometheus-"), ("MONITORING_DIR", "monitoring-")):
    if not os.environ.get(_variable):
        os.environ[_variable] = tempfile.mkdtemp(prefix=_prefix, dir=_runtime)
        _created.append(os.environ[_variable])


def _remove_created() -> None:
    """Delete the directories made above: once, and only in the master (forked workers inherit
    atexit handlers and exit while the master, and the directories, live on)."""
    if os.getpid() != _master:
        return
    while _created:
        shutil.rmtree(_created.pop(), ignore_errors=True)


# on_exit covers a normal shutdown; atexit also covers an app that fails to load (no on_exit then).
atexit.register(_remove_created)

wsgi_app = "mlops.api:create_app()"
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 (a container listens on all interfaces)
# Render's free plan: 512 MB and 0.1 CPU, so one worker by default; threads serve concurrency
# and feed the micro-batcher.
workers = _number("WEB_CONCURRENCY", "1")
# gthread, reading each request in its event loop: slow clients hold a buffer, not a thread; errors
# gunicorn answers itself are JSON; SIGTERM and SIGHUP drain without dropping a request.
worker_class = "mlops.gunicorn_worker.BufferingWorker"
threads = _number("GUNICORN_THREADS", "32")
# Load (and integrity-check) the model once in the master: a bad bundle stops the server before
# it binds, and workers share the model's memory copy-on-write.
preload_app = True
timeout = _number("GUNICORN_TIMEOUT", "30")
# On SIGTERM, in-flight requests get this long to finish (Render waits 30 s before SIGKILL).
graceful_timeout = _number("GUNICORN_GRACEFUL_TIMEOUT", "20", minimum=0)
# How long a client may take to send a whole request (read by the worker, checked here).
_number("GUNICORN_REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT, float, minimum=0.1)
keepalive = 5
# Heartbeat files on tmpfs: a disk-backed /tmp can stall workers (gunicorn's FAQ).
worker_tmp_dir = _shm
# No runtime control socket: nothing uses it, and it would write under $HOME.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")


class JsonAccessLogger(glogging.Logger):
    """Access log as one JSON object per line (valid JSON whatever the client sends)."""

    def access(self, resp, req, environ, request_time) -> None:
        if not (self.cfg.accesslog or self.cfg.logconfig or self.cfg.syslog):
            return
        # The fields read directly, not through gunicorn's `atoms` (every header of the request and
        # the response in a dict, on every request, for the few named here).
        status = str(resp.status).split(None, 1)
        line = {
            "event": "access",
            "ts": self.now().strip("[]"),  # gunicorn's own timestamp, as its `atoms` gives it
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING"),
            "status": int(status[0]) if status else None,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "request_id": next((value for name, value in resp.headers if name == "X-Request-ID"), None),
            "remote": environ.get("REMOTE_ADDR", "-"),
            "user_agent": environ.get("HTTP_USER_AGENT", "-"),
        }
        self.access_log.info(json.dumps(line))


logger_class = JsonAccessLogger


def child_exit(server, worker) -> None:
    """A dead worker's gauges and drift rows must stop counting. prometheus_client removes only its
    `live*` gauge files; the `mostrecent` ones (the drift gauges) would keep its last values."""
    from prometheus_client import multiprocess

    from mlops.api.drift_window import window_file

    multiprocess.mark_process_dead(worker.pid)
    for path in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob(f"gauge_*_{worker.pid}.db"):
        path.unlink(missing_ok=True)
    window_file(os.environ["MONITORING_DIR"], worker.pid).unlink(missing_ok=True)


def when_ready(server) -> None:
    """Say where the API is and how to call it."""
    host, port = bind.rsplit(":", 1)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"  # noqa: S104
    state = getattr(server.app.wsgi(), "extensions", {}).get("mlops")
    if state is None:  # another WSGI app under this config (a benchmark's, a test's)
        server.log.info("serving on %s", url)
        return
    example = shlex.quote(json.dumps(state.predictor.schema.example_record()))
    auth = ' -H "Authorization: Bearer $API_KEY"' if state.settings.api_key else ""
    server.log.info("serving on %s (docs: %s/docs); try:", url, url)
    server.log.info("curl -s -X POST %s/predict -H 'Content-Type: application/json'%s -d %s", url, auth, example)


def on_exit(server) -> None:
    _remove_created()
