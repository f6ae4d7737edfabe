import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from mlops.config import parse_config
from mlops.raw_data import DataValidationError, load_raw

from conftest import SAMPLE, features_of, params_in, repo_config

CFG = repo_config()
TEXT = SAMPLE.read_text()
CELLS = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)  # every cell as written
NUMERIC = features_of(CFG, kind="numeric")
CATEGORICAL = features_of(CFG, kind="categorical")
WITH_MAX = [name for name in NUMERIC if CFG.data.columns[name].max is not None]
WITH_MIN = [name for name in NUMERIC if CFG.data.columns[name].min is not None]


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "raw.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def with_cell(row: int, column: str, value: str) -> str:
    """The sample with one cell replaced; `row` counts data rows from 0 (file line row + 2)."""
    frame = CELLS.copy()
    frame.loc[row, column] = value
    return frame.to_csv(index=False)


def quoted(name: str) -> str:
    """A column name as messages quote it ({name!r}), as a regular expression."""
    return re.escape(repr(name))


def without_column(column: str) -> str:
    return CELLS.drop(columns=[column]).to_csv(index=False)


def truncated() -> str:
    lines = TEXT.splitlines()
    last = next(csv.reader(io.StringIO(lines[50])))
    return "\n".join(lines[:50]) + "\n" + ",".join(last[:2])


def needs(names: list[str], why: str):
    return [] if names else [pytest.mark.skip(reason=f"the data declares no {why}")]


def test_sample_loads_with_declared_dtypes(config):
    frame = load_raw(SAMPLE, config.data)
    assert list(frame.columns) == list(config.data.columns)
    assert len(frame) == len(CELLS)
    for name, spec in config.data.columns.items():
        assert frame[name].isna().sum() == (CELLS[name] == "").sum(), name
        if spec.type == "categorical":
            assert frame[name].dropna().map(type).eq(str).all(), name
        elif not (config.data.is_classification and name == config.data.target):
            assert frame[name].dtype == "float64", name


def test_extra_columns_are_dropped(tmp_path, config):
    path = write(tmp_path, CELLS.assign(comment_column="x").to_csv(index=False))
    assert "comment_column" not in load_raw(path, config.data).columns


@pytest.mark.parametrize("column", CATEGORICAL[:1], ids=["categorical"])
def test_na_text_is_a_label_not_missing(tmp_path, config, column):
    frame = load_raw(write(tmp_path, with_cell(3, column, "NA")), config.data)
    assert frame.loc[3, column] == "NA"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"", r"raw.csv: file is empty", id="empty"),
        pytest.param(b"  \n\n", r"file is empty", id="blank"),
        pytest.param(TEXT.splitlines()[0] + "\n", r"has a header but no data rows", id="header-only"),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", r"not UTF-8 text \(bad byte at offset \d+\)", id="binary"
        ),
        pytest.param(b"a,b\n1,2\x00\n", r"NUL bytes", id="nul"),
        pytest.param('a,b\n1,2\n"unclosed,3\n', r"not a valid CSV", id="unclosed-quote"),
        pytest.param(
            TEXT.replace(",", ";"), r"the header has no comma but ';'s; save the file comma-separated", id="semicolons"
        ),
        pytest.param(TEXT.replace(",", "\t"), r"the header has no comma but tabs", id="tabs"),
        pytest.param(truncated(), rf"truncated: last line \(51\) has 2 of {len(CELLS.columns)} fields", id="truncated"),
        pytest.param(
            without_column(NUMERIC[0]),
            rf"missing required column\(s\): {re.escape(NUMERIC[0])} \(expected: ",
            id="missing-column",
        ),
        pytest.param(
            with_cell(4, NUMERIC[0], "many"),
            rf"column {quoted(NUMERIC[0])}: expected numbers, found 'many' in 1 row\(s\) at line\(s\) 6",
            id="text-in-numbers",
        ),
        pytest.param(
            with_cell(0, WITH_MAX[0], "1e300") if WITH_MAX else "",
            rf"column {quoted(WITH_MAX[0] if WITH_MAX else '')}: values above the maximum .* in 1 row\(s\) at line\(s\) 2\b",
            marks=needs(WITH_MAX, "maximum"),
            id="above-max",
        ),
        pytest.param(
            with_cell(9, WITH_MIN[0], "-1e300") if WITH_MIN else "",
            rf"column {quoted(WITH_MIN[0] if WITH_MIN else '')}: values below the minimum .* in 1 row\(s\) at line\(s\) 11",
            marks=needs(WITH_MIN, "minimum"),
            id="below-min",
        ),
        pytest.param(
            with_cell(2, NUMERIC[0], "inf"), rf"column {quoted(NUMERIC[0])}: infinite values in 1 row", id="infinite"
        ),
        pytest.param(
            with_cell(7, CFG.data.target, ""),
            rf"{quoted(CFG.data.target)} \(the target\): missing values in 1 row\(s\) at line\(s\) 9",
            id="target-missing",
        ),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, config, content, expected):
    with pytest.raises(DataValidationError, match=expected):
        load_raw(write(tmp_path, content), config.data)


@pytest.mark.parametrize(
    "spell",
    [lambda name: f" {name}", lambda name: f"{name} ", str.upper],
    ids=["leading-space", "trailing-space", "upper"],
)
def test_a_column_spelled_almost_as_declared_is_pointed_out(tmp_path, config, spell):
    name = NUMERIC[0]
    near = spell(name)
    if near == name:
        pytest.skip(f"{name!r} has no upper case to differ in")
    with pytest.raises(DataValidationError) as caught:
        load_raw(write(tmp_path, CELLS.rename(columns={name: near}).to_csv(index=False)), config.data)
    assert f"close but not equal: {name!r} in params.yaml, {near!r} in the CSV" in str(caught.value)


def test_every_problem_is_reported_at_once_with_rows_capped(tmp_path, config):
    frame = CELLS.copy()
    first, other = NUMERIC[0], NUMERIC[-1]
    frame.loc[0:7, first] = "n/a"
    frame.loc[19, other] = "west"
    with pytest.raises(DataValidationError) as caught:
        load_raw(write(tmp_path, frame.to_csv(index=False)), config.data)
    message = str(caught.value)
    assert f"column {first!r}: expected numbers, found 'n/a' in 8 row(s) at line(s) 2, 3, 4, 5, 6 and 3 more" in message
    if other != first:
        assert f"column {other!r}: expected numbers, found 'west' in 1 row(s) at line(s) 21" in message


@pytest.mark.parametrize("column", CATEGORICAL[:1], ids=["categorical"])
def test_numbers_in_a_categorical_column_are_refused(tmp_path, config, column):
    frame = CELLS.assign(**{column: "1"})
    with pytest.raises(DataValidationError, match=f"{quoted(column)}: expected category labels"):
        load_raw(write(tmp_path, frame.to_csv(index=False)), config.data)


def test_unreadable_path(tmp_path, config):
    with pytest.raises(DataValidationError, match="cannot read"):
        load_raw(tmp_path / "absent.csv", config.data)


def test_features_only_when_the_target_is_not_required(tmp_path, config):
    path = write(tmp_path, without_column(config.data.target))
    frame = load_raw(path, config.data, require_target=False)
    assert config.data.target not in frame.columns
    assert list(frame.columns) == list(config.data.features)


def test_a_fractional_target_is_not_a_class(tmp_path):
    cfg = parse_config(params_in(tmp_path, "binary"))
    frame = pd.read_csv(cfg.paths.raw, dtype=str, keep_default_na=False)
    frame.loc[4, cfg.data.target] = "0.5"
    with pytest.raises(DataValidationError) as caught:
        load_raw(write(tmp_path, frame.to_csv(index=False)), cfg.data)
    message = str(caught.value)
    assert (
        f"column {cfg.data.target!r} (the target): data.task is classification, but it holds non-integer numbers"
        in message
    )
    assert "(e.g. 0.5)" in message
    assert "line(s) 6" in message
    assert "Set data.task: regression" in message


def test_whole_number_labels_stay_whole_numbers(tmp_path):
    cfg = parse_config(params_in(tmp_path, "binary"))
    target = load_raw(cfg.paths.raw, cfg.data)[cfg.data.target]
    assert target.dtype == "int64"
    assert set(target) == {0, 1}
