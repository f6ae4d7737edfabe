"""Read a raw CSV and check it against the columns declared in params.yaml (data.columns)."""

from __future__ import annotations

import csv
import difflib
import io
from pathlib import Path

import numpy as np
import pandas as pd

from mlops.config import DataConfig

SHOWN_ROWS = 5


class DataValidationError(ValueError):
    """The raw data breaks the declared schema; the message names the file, column and rows."""


def _rows(mask: pd.Series) -> str:
    """Offending rows as file line numbers (the header is line 1)."""
    lines = (np.flatnonzero(mask.to_numpy()) + 2).tolist()
    shown = ", ".join(str(line) for line in lines[:SHOWN_ROWS])
    more = f" and {len(lines) - SHOWN_ROWS} more" if len(lines) > SHOWN_ROWS else ""
    return f"{len(lines)} row(s) at line(s) {shown}{more}"


def _check_last_line(text: str, n_columns: int) -> str | None:
    """A file cut off mid-write loses fields on its last line; pandas would silently fill NaN."""
    lines = text.rstrip("\r\n").splitlines()
    if len(lines) < 2:
        return None
    last = next(csv.reader(io.StringIO(lines[-1])), [])
    if len(last) != n_columns:
        return f"truncated: last line ({len(lines)}) has {len(last)} of {n_columns} fields"
    return None


def parse_csv(path: Path) -> pd.DataFrame:
    """Parse the file, turning every way it can be unreadable into one clear error."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise DataValidationError(f"{path}: cannot read ({error.strerror})") from None
    if not raw.strip():
        raise DataValidationError(f"{path}: file is empty (expected a CSV header and data rows)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataValidationError(f"{path}: not UTF-8 text (bad byte at offset {error.start}); is it a CSV?") from None
    if "\x00" in text:
        raise DataValidationError(f"{path}: contains NUL bytes; not a text CSV")
    header = text.lstrip().splitlines()[0]
    other = next((separator for separator in (";", "\t", "|") if separator in header), None)
    if "," not in header and other:
        shown = {"\t": "tab"}.get(other, repr(other))
        raise DataValidationError(f"{path}: the header has no comma but {shown}s; save the file comma-separated")
    try:
        # Only an empty cell is missing: "NA" or "None" may be a real category label.
        frame = pd.read_csv(io.StringIO(text), on_bad_lines="error", keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataValidationError(f"{path}: not a valid CSV ({str(error).strip()})") from None
    problem = _check_last_line(text, len(frame.columns))
    if problem:
        raise DataValidationError(f"{path}: {problem}")
    if frame.empty:
        raise DataValidationError(f"{path}: has a header but no data rows")
    return frame


def check_frame(frame: pd.DataFrame, data: DataConfig, *, require_target: bool = True) -> list[str]:
    """Every way the frame breaks the declared columns, one message per column and problem."""
    expected = [name for name in data.columns if require_target or name != data.target]
    missing = [name for name in expected if name not in frame.columns]
    if missing:
        # A header that differs only in case, spaces or a letter: say which, the names alone do not show it.
        found = {str(column).strip().lower(): str(column) for column in frame.columns if column not in expected}
        near = {name: difflib.get_close_matches(name.strip().lower(), found, n=1, cutoff=0.8) for name in missing}
        hints = [f"{name!r} in params.yaml, {found[match[0]]!r} in the CSV" for name, match in near.items() if match]
        hint = f"; close but not equal: {', '.join(hints)}" if hints else ""
        return [f"missing required column(s): {', '.join(missing)} (expected: {', '.join(expected)}){hint}"]

    problems = []
    for name in expected:
        spec = data.columns[name]
        column = frame[name]
        if spec.type == "numeric":
            numbers = pd.to_numeric(column, errors="coerce")
            not_numbers = numbers.isna() & column.notna()
            if not_numbers.any():
                example = column[not_numbers].iloc[0]
                problems.append(f"column {name!r}: expected numbers, found {example!r} in {_rows(not_numbers)}")
            infinite = np.isinf(numbers)
            if infinite.any():
                problems.append(f"column {name!r}: infinite values in {_rows(infinite)}")
            if spec.min is not None and (below := numbers < spec.min).any():
                problems.append(f"column {name!r}: values below the minimum {spec.min:g} in {_rows(below)}")
            if spec.max is not None and (above := numbers > spec.max).any():
                problems.append(f"column {name!r}: values above the maximum {spec.max:g} in {_rows(above)}")
        elif pd.api.types.is_numeric_dtype(column) and column.notna().any():
            problems.append(f"column {name!r}: expected category labels (text), found only numbers")
        if name == data.target and (absent := column.isna()).any():
            problems.append(f"column {name!r} (the target): missing values in {_rows(absent)}")
        if name == data.target and data.is_classification and spec.type == "numeric":
            numbers = pd.to_numeric(column, errors="coerce")
            fractional = numbers.notna() & (numbers != np.round(numbers))
            if fractional.any():
                problems.append(
                    f"column {name!r} (the target): data.task is classification, but it holds non-integer numbers "
                    f"(e.g. {numbers[fractional].iloc[0]:g}) in {_rows(fractional)}; class labels are text or whole "
                    "numbers. Predicting a number? Set data.task: regression"
                )
    return problems


def coerce(frame: pd.DataFrame, data: DataConfig, *, require_target: bool = True) -> pd.DataFrame:
    """Only the declared columns, numeric ones as float64, categorical ones as str or NaN."""
    names = [name for name in data.columns if require_target or name != data.target]
    result = frame[names].copy()
    for name in names:
        if data.columns[name].type == "numeric" and data.is_classification and name == data.target:
            result[name] = pd.to_numeric(result[name]).astype("int64")  # class labels: whole numbers
        elif data.columns[name].type == "numeric":
            result[name] = pd.to_numeric(result[name]).astype("float64")
        else:
            result[name] = result[name].astype("object").where(result[name].notna(), np.nan)
    return result


def load_raw(path: Path, data: DataConfig, *, require_target: bool = True) -> pd.DataFrame:
    """Parse and validate a raw CSV; raise DataValidationError listing every problem."""
    frame = parse_csv(path)
    problems = check_frame(frame, data, require_target=require_target)
    if len(problems) == 1:
        raise DataValidationError(f"{path}: {problems[0]}")
    if problems:
        raise DataValidationError(f"{path}: invalid data\n" + "\n".join(f"  - {p}" for p in problems))
    return coerce(frame, data, require_target=require_target)
