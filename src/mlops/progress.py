"""Progress for long steps: what is expected up front, then a line at least every few seconds."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

# A step is never silent for longer than this (MLOPS_PROGRESS_SECONDS overrides it).
DEFAULT_INTERVAL = 10.0


def interval() -> float:
    try:
        return max(0.05, float(os.environ.get("MLOPS_PROGRESS_SECONDS", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def duration(seconds: float) -> str:
    """Seconds for people: 42 s, 3 min 05 s."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def remaining(elapsed: float, expected: float | None) -> str:
    if expected is None:
        return ""
    if elapsed < expected:
        return f", about {duration(expected - elapsed)} left"
    return f", over the {duration(expected)} expected"


@contextlib.contextmanager
def heartbeat(log: logging.Logger, what: str, expected: float | None = None, basis: str = "") -> Iterator[None]:
    """Log `what` with the expected duration (and its `basis`), then elapsed time and an estimate
    every few seconds until the block ends."""
    shown = f"expected: about {duration(expected)}" if expected else ""
    shown = ", ".join(part for part in (shown, basis) if part)
    log.info("%s%s ...", what, f" ({shown})" if shown else "")
    started = time.perf_counter()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(interval()):
            elapsed = time.perf_counter() - started
            log.info("  ... %s: %s elapsed%s", what, duration(elapsed), remaining(elapsed, expected))

    thread = threading.Thread(target=beat, name="progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    log.info("  %s: done in %s", what, duration(time.perf_counter() - started))
