"""Serving benchmark: `mlflow models serve` (A) vs our API without (B) and with (C) micro-batching.

    make benchmark-serving        (or: .venv/bin/python benchmarks/serving.py)

Everything runs on 127.0.0.1 in one run, the three servers alternating round by round, under the
same bounded closed-loop load. Our servers run from a serving-only environment built from
uv.lock (what the container installs), with the Render defaults (WEB_CONCURRENCY=1). Results go
to stdout and between the `serving` markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from mlops.bundle import load_bundle
from mlops.config import load_config
from mlops.gitops.probe import wait_for
from mlops.port import free_port
from mlops.prepare import read_frame
from mlops.provenance import git_commit

from load import LoadResult, run_load
from report import machine, memory_mb, process_tree, write_section

ROOT = Path(__file__).resolve().parents[1]
SERVING_ENV = ROOT / ".tools" / "serving-venv"
SCENARIOS = [  # name, rows per request, concurrency, measured requests
    ("1 row, c=1", 1, 1, 500),
    ("1 row, c=8", 1, 8, 400),
    ("1 row, c=32", 1, 32, 800),
    ("100 rows, c=8", 100, 8, 100),
]
SERVERS = ("A", "B", "C", "D", "E")
# Settings of the shell that must not leak into a measured server (metrics dirs, thread counts).
SERVER_SETTINGS = ("PROMETHEUS_", "OMP_", "MONITORING_")
LABELS = {
    "A": "A: mlflow models serve",
    "B": "B: ours, batching off",
    "C": "C: ours, batching on",
    "D": "D: fixed answer, asyncio",
    "E": "E: fixed answer, our gunicorn",
}
# Reference points, no model: what the load generator and loopback cost (D), and our gunicorn
# config and worker with an app that answers at once (E). Measured at c=1 only.
REFERENCES = ("D", "E")
ONE_ROW_C1 = "1 row, c=1"
MODEL_SERVERS = tuple(server for server in SERVERS if server not in REFERENCES)


def scenarios_for(server: str) -> list[tuple[str, int, int, int]]:
    """The scenarios a server is measured in: the reference points only at c=1."""
    return [scenario for scenario in SCENARIOS if server not in REFERENCES or scenario[0] == ONE_ROW_C1]


def build_serving_env() -> Path:
    """The container's dependency set (no DVC, MLflow or test tools), from uv.lock."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(SERVING_ENV), "UV_COMPILE_BYTECODE": "1"}
    uv = ROOT / ".tools" / "bin" / "uv"
    # --reinstall-package: a non-editable install is otherwise not refreshed when only src/ changed.
    command = [
        str(uv),
        "sync",
        "--locked",
        "--no-default-groups",
        "--no-editable",
        "--reinstall-package",
        "mlops-template",
        "--quiet",
    ]
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return SERVING_ENV / "bin" / "python"


def save_mlflow_copy(directory: Path) -> Path:
    """The same fitted pipeline, saved as an MLflow model (what `mlflow models serve` loads)."""
    import mlflow.sklearn
    import skops.io

    config = load_config(ROOT / "params.yaml")
    bundle = load_bundle(ROOT / config.paths.model, ROOT / config.paths.metadata)
    path = directory / "mlflow-model"
    mlflow.sklearn.save_model(
        bundle.pipeline,
        str(path),
        code_paths=[str(ROOT / "src" / "mlops")],
        skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(bundle.pipeline)),
    )
    return path


class Server:
    def __init__(self, name: str, command: list[str], env: dict, ready_path: str, predict_path: str, wrap, log: Path):
        self.name, self.command, self.env = name, command, env
        self.ready_path, self.predict_path, self.wrap, self.log = ready_path, predict_path, wrap, log
        self.port = int(env["PORT"])
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Seconds from process start to the first 200 on the readiness endpoint."""
        with open(self.log, "a") as log:
            started = time.monotonic()
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_for(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=120, interval=0.02, alive=self.alive)
        return time.monotonic() - started

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def our_server(name: str, workdir: Path, *args: str, python: Path | str = sys.executable, **env: str) -> Server:
    """This repository's gunicorn config and worker on a free port, one worker, serving the API (or the
    app in `args`) for params.yaml (or env's PARAMS_FILE); not started yet."""
    inherited = {key: value for key, value in os.environ.items() if not key.startswith(SERVER_SETTINGS)}
    environment = {**inherited, "HOST": "127.0.0.1", "PORT": str(free_port()), "WEB_CONCURRENCY": "1"}
    environment |= {"PARAMS_FILE": str(ROOT / "params.yaml"), **env}
    command = [str(python), "-m", "gunicorn", "-c", "python:mlops.gunicorn_conf", *args]
    return Server(name, command, environment, "/ready", "/predict", wrap_for_api, workdir / f"{name}.log")


def wrap_for_api(rows: list[dict]) -> dict:
    """The /predict body for `rows`: one record, or a batch."""
    return rows[0] if len(rows) == 1 else {"records": rows}


def make_servers(workdir: Path, serving_python: Path, mlflow_model: Path) -> dict[str, Server]:
    base = {key: value for key, value in os.environ.items() if not key.startswith(SERVER_SETTINGS)}
    batching_off = workdir / "params-batching-off.yaml"
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["serve"]["batching"]["enabled"] = False
    batching_off.write_text(yaml.safe_dump(params, sort_keys=False))

    fixed_port = free_port()
    # The config and worker, but not the API: the fixed answer.
    fixed_by_ours = our_server(
        "E", workdir, "--pythonpath", str(ROOT / "benchmarks"), "fixed_answer:app", python=serving_python
    )
    port = str(free_port())
    mlflow_command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        str(mlflow_model),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        port,
    ]
    mlflow_env = {**base, "PORT": port, "MLFLOW_DISABLE_TELEMETRY": "true"}
    return {
        "A": Server(
            "A",
            mlflow_command,
            mlflow_env,
            "/ping",
            "/invocations",
            lambda rows: {"dataframe_records": rows},
            workdir / "A.log",
        ),
        "B": our_server("B", workdir, python=serving_python, PARAMS_FILE=str(batching_off)),
        "C": our_server("C", workdir, python=serving_python),
        "D": Server(
            "D",
            [str(serving_python), str(ROOT / "benchmarks" / "fixed_answer.py"), str(fixed_port)],
            {**base, "PORT": str(fixed_port)},
            "/",
            "/predict",
            lambda rows: rows[0],
            workdir / "D.log",
        ),
        "E": fixed_by_ours,
    }


def measure(server: Server, records: list[dict], scale: float) -> dict:
    result: dict = {"cold_start_s": server.start()}
    try:
        for name, rows, concurrency, requests in scenarios_for(server.name):
            body = json.dumps(server.wrap(records[:rows])).encode()
            load: LoadResult = run_load(
                "127.0.0.1",
                server.port,
                server.predict_path,
                body,
                concurrency=concurrency,
                requests=max(concurrency, int(requests * scale)),
                warmup=2 * concurrency,
            )
            result[name] = load.summary()
        result["pss_mb"] = memory_mb(process_tree(server.process.pid))["pss_mb"]
    finally:
        server.stop()
    return result


def median_of(rounds: list[dict], key: str, field: str | None = None) -> float:
    values = [r[key][field] if field else r[key] for r in rounds]
    return statistics.median(values)


def summarize(results: dict[str, list[dict]], floor: dict) -> tuple[list[str], list[tuple[str, float, str, bool]]]:
    lines = ["| server | scenario | req/s | p50 ms | p99 ms | errors |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for server in SERVERS:
        for name, *_ in scenarios_for(server):
            rps = median_of(results[server], name, "rps")
            p50 = median_of(results[server], name, "p50_ms")
            p99 = median_of(results[server], name, "p99_ms")
            errors = sum(r[name]["errors"] for r in results[server])
            lines.append(f"| {LABELS[server]} | {name} | {rps:,.1f} | {p50:,.1f} | {p99:,.1f} | {errors} |")
    lines += ["", "| server | cold start (s) | PSS after load (MB) |", "| --- | ---: | ---: |"]
    for server in MODEL_SERVERS:
        cold = median_of(results[server], "cold_start_s")
        pss = max(r["pss_mb"] for r in results[server])
        lines.append(f"| {LABELS[server]} | {cold:.2f} | {pss:,.0f} |")

    rps = {s: median_of(results[s], "1 row, c=32", "rps") for s in MODEL_SERVERS}
    c_p99 = median_of(results["C"], "1 row, c=32", "p99_ms")
    c_p50_one = median_of(results["C"], ONE_ROW_C1, "p50_ms")
    d_p50, e_p50 = (median_of(results[s], ONE_ROW_C1, "p50_ms") for s in REFERENCES)
    per_row_ms = 1000 / (median_of(results["C"], "100 rows, c=8", "rps") * 100)
    cold = max(median_of(results[s], "cold_start_s") for s in ("B", "C"))
    pss = max(max(r["pss_mb"] for r in results[s]) for s in ("B", "C"))
    targets = [
        ("in-process 1-row predict, fast path (ms)", floor["one_row_ms"], "<= 5", floor["one_row_ms"] <= 5),
        ("c=32, 1 row: C / A requests/s", rps["C"] / rps["A"], ">= 15", rps["C"] >= 15 * rps["A"]),
        ("c=32, 1 row: C / B requests/s", rps["C"] / rps["B"], ">= 2.5", rps["C"] >= 2.5 * rps["B"]),
        ("c=32, 1 row: C p99 (ms)", c_p99, "<= 150", c_p99 <= 150),
        (
            "c=1: C p50 / in-process 1-row predict (fast path)",
            c_p50_one / floor["one_row_ms"],
            "<= 1.2",
            c_p50_one <= 1.2 * floor["one_row_ms"],
        ),
        ("c=1: C p50 (ms)", c_p50_one, "", True),
        ("c=1: C p50 / in-process 1-row POST /predict through the app", c_p50_one / floor["app_one_row_ms"], "", True),
        ("c=1: D p50, fixed answer from asyncio: load generator and loopback (ms)", d_p50, "", True),
        ("c=1: E p50, fixed answer from our gunicorn, no app (ms)", e_p50, "", True),
        (
            "c=1: (C p50 - E p50) / in-process 1-row POST /predict through the app",
            (c_p50_one - e_p50) / floor["app_one_row_ms"],
            "",
            True,
        ),
        (
            "100-row batches: C per-row cost / in-process per-row",
            per_row_ms / (floor["hundred_rows_ms"] / 100),
            "<= 1.3",
            per_row_ms <= 1.3 * floor["hundred_rows_ms"] / 100,
        ),
        ("cold start, ours (s)", cold, "<= 3", cold <= 3),
        ("PSS, ours with Render defaults (MB)", pss, "<= 250", pss <= 250),
    ]
    return lines, targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every scenario's request count")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    config = load_config(ROOT / "params.yaml")
    test = read_frame(ROOT / config.paths.test, config.data)
    records = json.loads(test[list(config.data.features)].head(100).to_json(orient="records"))
    print("building the serving-only environment ...", flush=True)
    serving_python = build_serving_env()

    def measure_floor() -> dict:
        done = subprocess.run(
            [str(serving_python), str(ROOT / "benchmarks" / "floor.py"), str(ROOT / "params.yaml")],
            input=json.dumps(records),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return json.loads(done.stdout)

    floors: list[dict] = []
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    try:
        servers = make_servers(workdir, serving_python, save_mlflow_copy(workdir))
        results: dict[str, list[dict]] = {name: [] for name in SERVERS}
        for round_index in range(args.rounds):
            # The in-process floor is measured every round too, so machine noise hits both sides.
            floors.append(measure_floor())
            print(f"in-process floor: {floors[-1]}", flush=True)
            order = SERVERS[round_index % len(SERVERS) :] + SERVERS[: round_index % len(SERVERS)]
            for name in order:
                print(f"round {round_index + 1}/{args.rounds}: {LABELS[name]} ...", flush=True)
                results[name].append(measure(servers[name], records, args.scale))
                print(json.dumps(results[name][-1]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load_after = os.getloadavg()[0]
    floor = {key: statistics.median(f[key] for f in floors) for key in floors[0]}
    lines, targets = summarize(results, floor)
    target_lines = ["| target | measured | limit | met |", "| --- | ---: | --- | --- |"]
    target_lines += [
        f"| {name} | {value:.2f} | {limit} | {('yes' if ok else '**no**') if limit else ''} |"
        for name, value, limit, ok in targets
    ]
    section = "\n".join(
        [
            "## Serving: ours vs `mlflow models serve`",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()},",
            f"Python {platform.python_version()}, {args.rounds} rounds alternating A to E (medians shown),",
            f"load average {load_before:.1f} before and {load_after:.1f} after. Reproduce:",
            "",
            "```bash",
            "make pipeline && make benchmark-serving",
            "```",
            "",
            "Load: closed loop (each connection sends its next request when the answer arrives), keep-alive,",
            "from one asyncio process on the same machine. A serves an MLflow-saved copy of the same fitted",
            "pipeline (`--env-manager local`, MLflow's defaults); B and C are gunicorn with this repository's",
            "config (1 worker, 32 threads, one OpenMP thread) from the serving-only environment. D and E are",
            "reference points with no model, measured at c=1 only: a fixed answer the size of a prediction's",
            "from an asyncio server that reads only the framing (the load generator and the loopback alone),",
            "and the same fixed answer from a WSGI app under gunicorn with this repository's config and worker.",
            "",
            "In-process floor (serving environment, one OpenMP thread, measured each round, median): one",
            "model call as the API makes it, through the fast path (mlops.fast_path):"
            f" 1-row predict {floor['one_row_ms']:.2f} ms, 100-row predict {floor['hundred_rows_ms']:.2f} ms;",
            "through the fitted Pipeline, as before the fast path:"
            f" 1-row {floor['pipeline_one_row_ms']:.2f} ms, 100-row {floor['pipeline_hundred_rows_ms']:.2f} ms."
            " A whole 1-row POST /predict through the Flask app, called in process (validation, metrics,"
            f" drift window and prediction log included; no HTTP, no server): {floor['app_one_row_ms']:.2f} ms.",
            "",
            *lines,
            "",
            "### Targets",
            "",
            *target_lines,
            "",
            "Per-row cost of 100-row batches: the server's time per row under load, 1 / (rows answered per",
            "second) with 100-row requests at concurrency 8, against the in-process 100-row predict / 100.",
        ]
    )
    print(section)
    write_section(args.docs, "serving", section)
    return 0 if all(ok for *_, ok in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
