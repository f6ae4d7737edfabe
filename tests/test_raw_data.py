from pathlib import Path

import pandas as pd
import pytest

from mlops.raw_data import DataValidationError, load_raw

from conftest import SAMPLE

LINES = SAMPLE.read_text().splitlines()
HEADER = LINES[0].split(",")


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "raw.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def with_cell(row: int, column: str, value: str) -> str:
    """The sample with one cell replaced; `row` counts data rows from 0 (file line row + 2)."""
    lines = list(LINES)
    cells = lines[row + 1].split(",")
    cells[HEADER.index(column)] = value
    lines[row + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def without_column(column: str) -> str:
    frame = pd.read_csv(SAMPLE, keep_default_na=False, na_values=[""])
    return frame.drop(columns=[column]).to_csv(index=False)


def test_sample_loads_with_declared_dtypes(config):
    frame = load_raw(SAMPLE, config.data)
    assert list(frame.columns) == list(config.data.columns)
    assert len(frame) == len(LINES) - 1
    assert frame["total_bedrooms"].isna().sum() == sum(1 for line in LINES[1:] if ",," in line)
    assert frame["ocean_proximity"].map(type).eq(str).all()
    assert all(frame[name].dtype == "float64" for name, spec in config.data.columns.items() if spec.type == "numeric")


def test_extra_columns_are_dropped(tmp_path, config):
    frame = pd.read_csv(SAMPLE).assign(comment="x")
    path = write(tmp_path, frame.to_csv(index=False))
    assert "comment" not in load_raw(path, config.data).columns


def test_na_text_is_a_label_not_missing(tmp_path, config):
    frame = load_raw(write(tmp_path, with_cell(3, "ocean_proximity", "NA")), config.data)
    assert frame.loc[3, "ocean_proximity"] == "NA"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", r"raw.csv: file is empty"),
        (b"  \n\n", r"file is empty"),
        (LINES[0] + "\n", r"has a header but no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", r"not UTF-8 text \(bad byte at offset \d+\)"),
        (b"a,b\n1,2\x00\n", r"NUL bytes"),
        ('a,b\n1,2\n"unclosed,3\n', r"not a valid CSV"),
        ("\n".join(LINES[:50]) + "\n" + LINES[50][:20], r"truncated: last line \(51\) has \d of 10 fields"),
        (without_column("median_income"), r"missing required column\(s\): median_income \(expected: longitude, "),
        (
            with_cell(4, "total_rooms", "many"),
            r"column 'total_rooms': expected numbers, found 'many' in 1 row\(s\) at line\(s\) 6",
        ),
        (
            with_cell(0, "latitude", "95.5"),
            r"column 'latitude': values above the maximum 90 in 1 row\(s\) at line\(s\) 2\b",
        ),
        (
            with_cell(9, "population", "-3"),
            r"column 'population': values below the minimum 0 in 1 row\(s\) at line\(s\) 11",
        ),
        (with_cell(2, "median_income", "inf"), r"column 'median_income': infinite values in 1 row"),
        (
            with_cell(7, "median_house_value", ""),
            r"'median_house_value' \(the target\): missing values in 1 row\(s\) at line\(s\) 9",
        ),
    ],
)
def test_bad_files_get_a_clear_error(tmp_path, config, content, expected):
    with pytest.raises(DataValidationError, match=expected):
        load_raw(write(tmp_path, content), config.data)


def test_every_problem_is_reported_at_once_with_rows_capped(tmp_path, config):
    lines = list(LINES)
    for row in range(1, 9):
        cells = lines[row].split(",")
        cells[HEADER.index("households")] = "-1"
        lines[row] = ",".join(cells)
    cells = lines[20].split(",")
    cells[HEADER.index("longitude")] = "west"
    lines[20] = ",".join(cells)
    with pytest.raises(DataValidationError) as caught:
        load_raw(write(tmp_path, "\n".join(lines) + "\n"), config.data)
    message = str(caught.value)
    assert "column 'households': values below the minimum 0 in 8 row(s) at line(s) 2, 3, 4, 5, 6 and 3 more" in message
    assert "column 'longitude': expected numbers, found 'west' in 1 row(s) at line(s) 21" in message


def test_numbers_in_a_categorical_column_are_refused(tmp_path, config):
    frame = pd.read_csv(SAMPLE).assign(ocean_proximity=1)
    with pytest.raises(DataValidationError, match="'ocean_proximity': expected category labels"):
        load_raw(write(tmp_path, frame.to_csv(index=False)), config.data)


def test_unreadable_path(tmp_path, config):
    with pytest.raises(DataValidationError, match="cannot read"):
        load_raw(tmp_path / "absent.csv", config.data)


def test_features_only_when_the_target_is_not_required(tmp_path, config):
    path = write(tmp_path, without_column("median_house_value"))
    frame = load_raw(path, config.data, require_target=False)
    assert config.data.target not in frame.columns
