"""GitHub Actions' job files: step outputs and the job summary. Outside Actions, no-ops.

Standard library only: the workflows that use it run without installing the project.
"""

from __future__ import annotations

import os


def _append(variable: str, text: str) -> None:
    path = os.environ.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")


def write_summary(markdown: str) -> None:
    """Append to the job summary ($GITHUB_STEP_SUMMARY)."""
    _append("GITHUB_STEP_SUMMARY", markdown)


def write_outputs(**values: str) -> None:
    """Set step outputs ($GITHUB_OUTPUT) for later steps' `steps.<id>.outputs.<name>`."""
    for name, value in values.items():
        if "\n" in value or "\r" in value:  # one line each: a newline would let a value set another output
            raise ValueError(f"step output {name!r} must be one line")
    _append("GITHUB_OUTPUT", "".join(f"{name}={value}\n" for name, value in values.items()))
