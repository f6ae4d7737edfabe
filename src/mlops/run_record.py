"""A run record for a model DVC restored from its cache: dated by the commit that recorded it.

    python -m mlops.run_record        (make pipeline runs it after dvc repro)

`train` writes model/run.json (when, at which commit, which MLflow run) beside the model; it is
not a DVC output, so when `dvc repro` restores the model from DVC's cache instead of training
it (CI does, for a model its PR run trained) there is none, and /metadata could not say when
the model was trained. Then the model's date is that of the latest commit that put its md5
into dvc.lock: a fact of the git history, the same on every rebuild, and no later than the
training run that produced it was committed. metadata.json never holds a time: it stays a pure
function of code, params and data. Without such a commit (the model is not committed yet, or
the clone is shallow) nothing is written, and the service reports the time as unknown.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlops import artifacts, cli
from mlops.bundle import BundleError, read_metadata, read_run_record
from mlops.config import load_config

log = logging.getLogger(__name__)

SOURCE = "dvc.lock commit"  # what the record's `source` says (train's own records have none)


@dataclass(frozen=True)
class Commit:
    sha: str
    time: str  # committer date, ISO 8601 in UTC


def md5_file(path: Path) -> str:
    """The md5 DVC records for a file in dvc.lock."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def recording_commit(md5: str, lock: str = "dvc.lock", cwd: Path = Path()) -> Commit | None:
    """The latest commit that changed how often `md5` occurs in `lock`, if HEAD's `lock` has it.

    None when HEAD's lock does not name it (uncommitted), or the answer could be a shallow
    clone's cut-off commit (which would make the model look younger than it is).
    """
    if md5 not in (_git(cwd, "show", f"HEAD:{lock}") or ""):
        return None
    found = _git(cwd, "log", "-1", "--format=%H %ct", f"-S{md5}", "--", lock)
    if not found:
        return None
    sha, seconds = found.split()
    shallow = Path(_git(cwd, "rev-parse", "--git-path", "shallow") or "shallow")
    shallow = shallow if shallow.is_absolute() else cwd / shallow
    if shallow.is_file() and sha in shallow.read_text().split():
        return None
    return Commit(sha=sha, time=datetime.fromtimestamp(int(seconds), UTC).isoformat(timespec="seconds"))


def restored_record(version: str, commit: Commit) -> dict:
    return {"model_version": version, "trained_at": commit.time, "git_commit": commit.sha, "source": SOURCE}


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__.splitlines()[0]).parse_args(argv)

    def work() -> None:
        config = load_config(args.params)
        try:
            version = read_metadata(config.paths.metadata)["model"]["version"]
        except (BundleError, KeyError, TypeError) as error:
            raise cli.StageError(f"no model to date: {error}") from None
        record = read_run_record(config.paths.run, version)
        if record:
            log.info("model %s: trained at %s (its run record)", version, record.get("trained_at"))
            return
        commit = recording_commit(md5_file(config.paths.model))
        if commit is None:
            log.info(
                "model %s came from DVC's cache and no commit records it yet: its training time is unknown "
                "(commit dvc.lock, then make pipeline)",
                version,
            )
            return
        artifacts.write_json(config.paths.run, restored_record(version, commit))
        log.info("model %s came from DVC's cache: dated by commit %s (%s)", version, commit.sha[:12], commit.time)

    return cli.run("run-record", work)


if __name__ == "__main__":
    raise SystemExit(main())
