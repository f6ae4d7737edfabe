"""Does the committed dvc.lock match what the code, params and data would reproduce?

`python -m mlops.gitops.pipeline_check` (make pipeline-check) asks DVC which stage dependencies differ
from dvc.lock. Missing outputs are fine (a fresh clone has none); a changed dependency means
someone changed code, params or data without running `dvc repro` and committing dvc.lock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from mlops import cli


def produced_paths(lock_path: Path = Path("dvc.lock")) -> set[str]:
    """Every output a stage of the pipeline produces, per dvc.lock."""
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except OSError:
        return set()
    return {out["path"] for stage in (lock.get("stages") or {}).values() for out in stage.get("outs") or []}


def lock_mismatches(status: dict, produced: set[str] = frozenset()) -> list[str]:
    """One line per pipeline stage whose dependencies no longer match dvc.lock.

    A dependency that is another stage's output and is merely absent (a fresh clone) is fine.
    """
    problems = []
    for stage, entries in sorted(status.items()):
        if stage.endswith(".dvc"):
            continue  # data tracked by .dvc files: `dvc pull` concerns, not the lock
        changes = []
        for entry in entries:
            if not isinstance(entry, dict):
                changes.append(str(entry))  # e.g. "changed checksum", "always changed"
                continue
            for path, change in (entry.get("changed deps") or {}).items():
                if isinstance(change, dict):  # params: {"model": "modified"}
                    changes += [f"params {key} {how}" for key, how in change.items()]
                elif not (change == "deleted" and path in produced):
                    changes.append(f"{path} {change}")
            if "changed command" in entry:
                changes.append("command changed")
        if changes:
            problems.append(f"stage {stage}: {', '.join(changes)}")
    return problems


def dvc_status() -> dict:
    result = subprocess.run(["dvc", "status", "--json"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise cli.StageError(f"dvc status failed: {result.stderr.strip() or result.stdout.strip()}")
    return json.loads(result.stdout or "{}")


def main(argv: list[str] | None = None) -> int:
    cli.parser(__doc__.splitlines()[0]).parse_args(argv)

    def work() -> None:
        problems = lock_mismatches(dvc_status(), produced_paths())
        if problems:
            raise cli.StageError(
                "dvc.lock does not match what the code and params reproduce:\n  "
                + "\n  ".join(problems)
                + "\nRun `make pipeline` and commit the updated dvc.lock."
            )
        print("dvc.lock matches the code, params and data", file=sys.stderr)

    return cli.run("pipeline-check", work)


if __name__ == "__main__":
    raise SystemExit(main())
