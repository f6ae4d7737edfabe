"""What every command-line entry point shares: progress logging and one-line errors."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from mlops.artifacts import NotOursError
from mlops.config import DEFAULT_PARAMS, ConfigError
from mlops.raw_data import DataValidationError


class StageError(RuntimeError):
    """An expected failure with a message for the user (missing input, unreachable server...)."""


EXPECTED_ERRORS = (ConfigError, DataValidationError, StageError, NotOursError)


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser that knows where params.yaml is."""
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="parameters file (default: %(default)s)")
    return result


def run(name: str, work: Callable[[], None]) -> int:
    """Run a command's work: progress lines on stderr, expected errors as one line and exit 1."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s", stream=sys.stderr, force=True)
    try:
        work()
    except EXPECTED_ERRORS as error:
        print(f"[{name}] error: {error}", file=sys.stderr)
        return 1
    return 0
