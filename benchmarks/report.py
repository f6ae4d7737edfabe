"""Helpers shared by the benchmark scripts: memory of a process tree, docs sections, a free port, docker."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def process_tree(root_pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    pids, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack.extend(children.get(pid, []))
    return pids


def memory_mb(pids: list[int]) -> dict[str, float]:
    """RSS and PSS summed over `pids` (PSS shares pages fairly between forked workers)."""
    totals = {"Rss": 0, "Pss": 0}
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in totals:
                    totals[key] += int(line.split()[1])
        except OSError:
            continue
    return {"rss_mb": totals["Rss"] / 1024, "pss_mb": totals["Pss"] / 1024}


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} cores ({cpu})"


def write_section(path: Path, name: str, section: str) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` (or append it)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()
