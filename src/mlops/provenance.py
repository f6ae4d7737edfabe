"""Where a model came from: the git commit and the library versions it was built with."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata

# The libraries whose versions decide whether a pickled pipeline loads and predicts the same.
RUNTIME_LIBRARIES = ("scikit-learn", "pandas", "numpy", "scipy", "joblib")


def git_commit(cwd: str = ".") -> str:
    """HEAD's commit, suffixed with -dirty when tracked files have uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RUNTIME_LIBRARIES:
        versions[name] = metadata.version(name)
    return versions
