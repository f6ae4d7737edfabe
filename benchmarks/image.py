"""Container image figures: size above the base, start to ready, memory idle and after load.

    make benchmark-image          (needs a Docker daemon; builds the image first)

Results go to stdout and between the `image` markers in docs/benchmarks.md.
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

from report import docker, machine, memory_mb, write_section

ROOT = Path(__file__).resolve().parents[1]
PREDICTIONS = 1000


MEMORY_NOTE = [
    "Memory: PSS summed over the container's processes counts every resident page once (pages that",
    "gunicorn's master and worker share, the model is loaded before the fork, are split between",
    "them); it is the figure held to the target. Summing RSS counts those shared pages twice;",
    "the cgroup figure can undercount, as library pages already cached by another container are",
    "charged to that one.",
]
# `docker run` -> ready includes creating the container, which depends on the storage driver.
DRIVER_NOTES = {
    "vfs": [
        *MEMORY_NOTE,
        "",
        "The `vfs` driver has no copy-on-write: creating a container copies the",
        "whole image, base included, so most of `docker run` → ready is that copy, not the server.",
    ],
    "overlay2": [
        *MEMORY_NOTE,
        "",
        "`overlay2` is Docker's default driver (GitHub's runners, most hosts): creating a container",
        "mounts the image's layers instead of copying them.",
    ],
}


def container_pids(name: str) -> list[int]:
    """Host PIDs of every process in the container."""
    rows = docker("top", name, "-eo", "pid").splitlines()[1:]
    return [int(row.split()[0]) for row in rows if row.strip()]


def cgroup_memory_mb(name: str) -> float:
    """What the container's cgroup is charged (`docker stats`)."""
    usage = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name).split("/")[0].strip()
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}
    for unit, factor in units.items():
        if usage.endswith(unit):
            return float(usage[: -len(unit)]) * factor
    raise ValueError(f"unexpected docker stats output: {usage!r}")


def run_once(image: str, env: dict[str, str]) -> tuple[str, str, float, float]:
    """Start a container; seconds from `docker run` to ready, and from the process start to ready."""
    port = free_port()
    name = f"mlops-bench-{uuid.uuid4().hex[:8]}"
    flags = [item for key, value in {"PORT": str(port), **env}.items() for item in ("--env", f"{key}={value}")]
    started = time.monotonic()
    docker("run", "--detach", "--name", name, "--network", "host", *flags, image)
    wait_for(f"http://127.0.0.1:{port}/ready", timeout=120, interval=0.02)
    ready_at, total = time.time(), time.monotonic() - started
    process_started = datetime.fromisoformat(docker("inspect", "--format", "{{.State.StartedAt}}", name)).timestamp()
    return name, f"http://127.0.0.1:{port}", total, ready_at - process_started


def default_base(dockerfile: str) -> str:
    """The Dockerfile's default PYTHON_IMAGE, or the image of the stage it names."""
    lines = dockerfile.splitlines()
    base = next(line.split("=", 1)[1] for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    for line in lines:
        words = line.split()
        if len(words) == 4 and words[0] == "FROM" and words[2].upper() == "AS" and words[3] == base:
            return words[1]
    return base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.environ.get("IMAGE", "mlops-template:local"))
    parser.add_argument(
        "--base", default=os.environ.get("PYTHON_IMAGE") or None, help="base image (default: the Dockerfile's)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)

    base = args.base or default_base((ROOT / "Dockerfile").read_text())
    driver = docker("info", "--format", "{{.Driver}}")
    image_bytes = int(docker("image", "inspect", "--format", "{{.Size}}", args.image))
    base_bytes = int(docker("image", "inspect", "--format", "{{.Size}}", base))
    added_mb = (image_bytes - base_bytes) / 1e6

    starts, process_starts, idle, loaded = [], [], [], []
    for _ in range(args.runs):
        name, url, seconds, process_seconds = run_once(args.image, {})
        try:
            starts.append(seconds)
            process_starts.append(process_seconds)
            time.sleep(2)
            idle.append({**memory_mb(container_pids(name)), "cgroup_mb": cgroup_memory_mb(name)})
            schema = request(f"{url}/metadata").json()["schema"]
            record = {feature["name"]: feature["typical"] for feature in schema["features"]}
            body = json.dumps(record).encode()
            for _ in range(PREDICTIONS):
                answer = request(
                    f"{url}/predict", method="POST", data=body, headers={"Content-Type": "application/json"}
                )
                assert answer.status == 200, answer
            loaded.append({**memory_mb(container_pids(name)), "cgroup_mb": cgroup_memory_mb(name)})
        finally:
            subprocess.run(["docker", "rm", "--force", name], capture_output=True, check=False)

    start, process_start = statistics.median(starts), statistics.median(process_starts)
    pss_idle = statistics.median(m["pss_mb"] for m in idle)
    pss_loaded = max(m["pss_mb"] for m in loaded)
    rows = [
        ("Image size: layers added above the base (MB)", f"{added_mb:.1f}", "<= 250", added_mb <= 250),
        ("Start to ready: `docker run` to first 200 on /ready (s, median)", f"{start:.2f}", "<= 3", start <= 3),
        (
            "  of which the server: container process start to ready (s)",
            f"{process_start:.2f}",
            "<= 3",
            process_start <= 3,
        ),
        (
            "Memory idle: resident, each page once (PSS summed over processes, MB)",
            f"{pss_idle:.0f}",
            "<= 250",
            pss_idle <= 250,
        ),
        (
            f"Memory after {PREDICTIONS:,} predictions: PSS summed (MB)",
            f"{pss_loaded:.0f}",
            "<= 250",
            pss_loaded <= 250,
        ),
        (
            "  for comparison: cgroup memory (`docker stats`), idle / loaded (MB)",
            f"{statistics.median(m['cgroup_mb'] for m in idle):.0f} / {max(m['cgroup_mb'] for m in loaded):.0f}",
            "",
            True,
        ),
        (
            "  for comparison: RSS summed over processes, idle / loaded (MB)",
            f"{statistics.median(m['rss_mb'] for m in idle):.0f} / {max(m['rss_mb'] for m in loaded):.0f}",
            "",
            True,
        ),
    ]
    section = "\n".join(
        [
            f"### Container image, Docker storage driver `{driver}`",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d} at commit `{git_commit(str(ROOT))[:12]}` on {machine()}, image",
            f"`{args.image}` built on `{base}`, Render defaults (WEB_CONCURRENCY=1), {args.runs} runs. Reproduce:",
            "",
            "```bash",
            "make benchmark-image            # any Docker daemon; PYTHON_IMAGE=<base image> to build on another base",
            "```",
            "",
            "| figure | measured | target | met |",
            "| --- | ---: | --- | --- |",
            *(f"| {name} | {value} | {target} | {'yes' if ok else '**no**'} |" for name, value, target, ok in rows),
            "",
            *DRIVER_NOTES.get(driver, []),
        ]
    )
    print(section)
    write_section(args.docs, f"image-{driver}", section)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
