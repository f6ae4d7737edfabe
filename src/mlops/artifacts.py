"""Writing outputs so that a failure never leaves a half-written file, and hashing them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    # mkstemp makes the file private (0600); an output is readable by all, as a plain write makes
    # it: the image copies model/ as it is, and its non-root user must read every file (run.json).
    os.chmod(tmp, 0o644)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class NotOursError(RuntimeError):
    """A directory to replace holds files its writer did not write."""


@contextlib.contextmanager
def atomic_dir(path: Path, ours: tuple[str, ...]) -> Iterator[Path]:
    """Yield an empty directory beside `path` that replaces `path` whole if the block succeeds.

    Nothing an earlier run wrote survives into the new one. `path` is replaced only if it holds
    nothing but files matching the `ours` patterns (so a mistaken --out . deletes nothing).
    """
    path = Path(path)
    if path.exists():
        foreign = sorted(
            item.name for item in path.iterdir() if not item.is_file() or not any(item.match(p) for p in ours)
        )
        if foreign or not path.is_dir():
            shown = ", ".join(foreign[:5]) if foreign else "it is not a directory"
            raise NotOursError(f"{path}: will not replace it, it holds what this did not write ({shown})")
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield scratch
        old = path.with_name(f"{scratch.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(scratch, path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, payload: object) -> None:
    write_text(path, json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
