"""What a Render free-plan instance (0.1 CPU, 512 MB) gives: the image under `docker run --cpus 0.1 --memory 512m`.

    make benchmark-free-plan      (needs a Docker daemon; builds the image first)
    python benchmarks/free_plan.py --image mlops-template:local --baseline-image <older image>

Each run starts a fresh container (a wake from sleep is a cold start) and measures: `docker run`
to the first 200 on /ready, the container's process start to ready, the CPU the container used
until ready, the first prediction after ready, then 1-row predictions at concurrency 1 and 4
(p50, p99) and the container's peak memory. With --baseline-image the two images alternate run by
run, so a busy machine slows both alike. Results go to stdout and between the `free-plan`
markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from mlops.gitops.probe import request, wait_for
from mlops.port import free_port
from mlops.provenance import git_commit

from load import run_load
from report import docker, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
CPUS, MEMORY = "0.1", "512m"
SCENARIOS = [("c=1", 1, 60), ("c=4", 4, 120)]  # name, concurrency, measured requests


def cgroup_file(container_id: str, controller: str, names: tuple[str, ...]) -> Path | None:
    """The container's cgroup file: v1 (`<controller>/docker/<id>/`) or v2 (`system.slice/docker-<id>.scope/`)."""
    candidates = [
        Path("/sys/fs/cgroup") / controller / "docker" / container_id,
        Path("/sys/fs/cgroup/docker") / container_id,
        Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope",
    ]
    for directory in candidates:
        for name in names:
            if (directory / name).is_file():
                return directory / name
    return None


def cpu_seconds(container_id: str) -> float | None:
    """CPU time the container's processes have used so far."""
    path = cgroup_file(container_id, "cpuacct", ("cpuacct.usage", "cpu.stat"))
    if path is None:
        return None
    text = path.read_text()
    if path.name == "cpuacct.usage":
        return int(text) / 1e9
    usage = next(line for line in text.splitlines() if line.startswith("usage_usec"))
    return int(usage.split()[1]) / 1e6


def peak_memory_mb(container_id: str) -> float | None:
    path = cgroup_file(container_id, "memory", ("memory.max_usage_in_bytes", "memory.peak"))
    return int(path.read_text()) / 2**20 if path else None


def one_run(image: str, extra_env: dict[str, str]) -> dict:
    port = free_port()
    name = f"mlops-free-{uuid.uuid4().hex[:8]}"
    flags = [item for key, value in {"PORT": str(port), **extra_env}.items() for item in ("--env", f"{key}={value}")]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    container_id = docker(
        "run", "--detach", "--name", name, "--network", "host", "--cpus", CPUS, "--memory", MEMORY, *flags, image
    )
    try:
        wait_for(f"{url}/ready", timeout=300, interval=0.1)
        ready_at, result = time.time(), {"start_to_ready_s": time.monotonic() - started}
        ready_cpu = cpu_seconds(container_id)
        process_started = datetime.fromisoformat(docker("inspect", "--format", "{{.State.StartedAt}}", name))
        result["process_to_ready_s"] = ready_at - process_started.timestamp()
        result["cpu_to_ready_s"] = ready_cpu
        schema = request(f"{url}/metadata").json()["schema"]
        record = {feature["name"]: feature["typical"] for feature in schema["features"]}
        body = json.dumps(record).encode()
        first = time.monotonic()
        answer = request(f"{url}/predict", method="POST", data=body, headers={"Content-Type": "application/json"})
        result["first_prediction_ms"] = (time.monotonic() - first) * 1000
        if answer.status != 200:
            raise RuntimeError(f"{image}: first prediction answered {answer.status}")
        for scenario, concurrency, requests in SCENARIOS:
            load = run_load("127.0.0.1", port, "/predict", body, concurrency=concurrency, requests=requests, warmup=4)
            result[scenario] = load.summary()
        result["peak_memory_mb"] = peak_memory_mb(container_id)
        result["cpu_total_s"] = cpu_seconds(container_id)
    finally:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)
    return result


def median(runs: list[dict], key: str, field: str | None = None) -> float | None:
    values = [run[key][field] if field else run[key] for run in runs]
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def verdict(value: float | None, limit: float) -> str:
    return "met" if value is not None and value <= limit else "**missed**"


def shown(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def table(results: dict[str, list[dict]], labels: dict[str, str]) -> list[str]:
    names = list(results)
    rows = [
        ("`docker run` to ready (s)", "start_to_ready_s", None, 1, ""),
        ("  container process start to ready (s)", "process_to_ready_s", None, 1, "<= 10"),
        ("  CPU used until ready (s)", "cpu_to_ready_s", None, 2, ""),
        ("First prediction after ready (ms)", "first_prediction_ms", None, 0, ""),
        ("1 row, c=1: p50 (ms)", "c=1", "p50_ms", 0, "<= 150"),
        ("1 row, c=1: p99 (ms)", "c=1", "p99_ms", 0, ""),
        ("1 row, c=1: mean (ms)", "c=1", "mean_ms", 0, ""),
        ("1 row, c=1: requests/s", "c=1", "rps", 1, ""),
        ("1 row, c=4: p50 (ms)", "c=4", "p50_ms", 0, ""),
        ("1 row, c=4: p99 (ms)", "c=4", "p99_ms", 0, ""),
        ("1 row, c=4: mean (ms)", "c=4", "mean_ms", 0, ""),
        ("1 row, c=4: requests/s", "c=4", "rps", 1, ""),
        ("Peak memory, cgroup (MB)", "peak_memory_mb", None, 0, "<= 512"),
    ]
    lines = [
        "| figure | " + " | ".join(labels[name] for name in names) + " | target |",
        "| --- | " + " | ".join("---:" for _ in names) + " | --- |",
    ]
    for title, key, field, digits, target in rows:
        values = [shown(median(results[name], key, field), digits) for name in names]
        lines.append(f"| {title} | " + " | ".join(values) + f" | {target} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("IMAGE", "mlops-template:local"))
    parser.add_argument("--baseline-image", default=os.environ.get("BASELINE_IMAGE") or None)
    parser.add_argument("--baseline-label", default="before (baseline image)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    images = {"new": args.image, **({"base": args.baseline_image} if args.baseline_image else {})}
    labels = {"new": f"`{args.image}`", "base": args.baseline_label}
    results: dict[str, list[dict]] = {name: [] for name in images}
    load_before = os.getloadavg()[0]
    for run in range(args.runs):
        order = list(images) if run % 2 == 0 else list(reversed(images))
        for name in order:
            print(f"run {run + 1}/{args.runs}: {images[name]} ...", flush=True)
            results[name].append(one_run(images[name], {}))
            print(json.dumps(results[name][-1]), flush=True)
    load_after = os.getloadavg()[0]

    order = ["new", "base"] if "base" in results else ["new"]
    lines = table({name: results[name] for name in order}, labels)
    new_ready = median(results["new"], "process_to_ready_s")
    new_p50 = median(results["new"], "c=1", "p50_ms")
    section = "\n".join(
        [
            "## Render's free plan: 0.1 CPU, 512 MB",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()},",
            f"load average {load_before:.1f} before and {load_after:.1f} after; Docker storage driver "
            f"`{docker('info', '--format', '{{.Driver}}')}`; {args.runs} cold starts per image"
            + (", alternating" if len(images) > 1 else "")
            + " (medians). Reproduce:",
            "",
            "```bash",
            "make benchmark-free-plan     # BASELINE_IMAGE=<an older image> to compare side by side",
            "```",
            "",
            f"Each run: `docker run --cpus {CPUS} --memory {MEMORY}` (what Render gives a free instance),"
            " ready, one prediction,",
            f"then {SCENARIOS[0][2]} one-row predictions at concurrency 1 and {SCENARIOS[1][2]} at concurrency 4"
            " (closed loop, keep-alive).",
            "CPU until ready and peak memory are the container's cgroup counters. `docker run` to ready also",
            "counts creating the container, which depends on the storage driver (`vfs` copies the whole image;",
            "see the image sections above): the server's own start is the container process start to ready.",
            f"`--cpus {CPUS}` is a CFS quota: the container may run {float(CPUS) * 100:g} ms in every 100 ms period,"
            " then waits for the next.",
            "So at concurrency 1 most requests finish within the quota (p50) while the ones that exhaust it wait",
            "most of a period (p99); the mean, and requests/s (about 0.1 s of CPU / CPU per request), show",
            "what a steady stream of requests gets.",
            "",
            *lines,
            "",
            f"Targets: the server ready within 10 s ({verdict(new_ready, 10)}),"
            f" one-row p50 at 0.1 CPU within 150 ms ({verdict(new_p50, 150)}).",
        ]
    )
    print(section)
    write_section(args.docs, "free-plan", section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
