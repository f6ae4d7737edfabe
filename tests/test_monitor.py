"""`make monitor`'s report directory and figures (tests/api/test_gunicorn_monitoring.py runs it on a service's log)."""

import json
import re
import struct
from pathlib import Path

import pandas as pd
import pytest

from mlops import monitor
from mlops.api import create_app

from conftest import SAMPLE, api_settings, features_of, pick_feature, records_of, repo_config


@pytest.mark.parametrize(
    "edges",
    [
        [85716.2, 110146.3, 135035.0, 1_234_567.8],  # prices
        [1.909, 2.349, 2.738, 3.144],  # a ratio
        [-122.28, -121.98, -121.37],  # negative coordinates
        [12.0, 17.0, 20.0, 46.0],  # whole numbers
        [0.0001234, 0.0001256],  # tiny
        [1e9, 2e9],  # huge
        [5.0],
    ],
)
def test_bin_labels_are_plain_distinct_numbers(edges):
    labels = monitor.bin_labels(edges)
    assert len(labels) == len(edges) + 2  # below the first, between each pair, from the last, missing
    assert labels[-1] == "missing"
    text = " ".join(labels)
    assert not re.search(r"\d[eE][+-]?\d", text)  # no scientific notation
    numbers = [label.split(" ")[-1] for label in labels[:-1]]  # each bin's upper edge (the last: its lower)
    assert len(set(numbers)) == len(edges)  # neighbouring edges stay apart
    for edge, shown in zip(edges, [label.split(" ")[-1] for label in labels[:-2]], strict=True):
        assert float(shown.replace(",", "")) == pytest.approx(edge, rel=0.01)
        if abs(edge) >= 1000:
            assert "," in shown  # thousands separators
        if float(edge).is_integer() and abs(edge) < 1e6:
            assert "." not in shown  # 12, not 12.0


def test_no_edges_is_one_bin():
    assert monitor.bin_labels([]) == ["all", "missing"]


def test_figure_files_are_plain_distinct_names_whatever_the_features_are_called():
    names = ["Mean Radius", "Area mm/px", "Area mm px", "../up", "(%) share", "prédiction", "prediction"]
    files = monitor.figure_files(names)
    assert len(set(files)) == len(names)
    for file in files:
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*\.png", file), file  # no folder, nothing a link breaks on


@pytest.fixture
def shifted_csv(tmp_path):
    """300 rows of the committed sample from one end of a feature's range: that feature drifted."""
    sample = pd.read_csv(SAMPLE)
    numeric = features_of(repo_config(), kind="numeric")
    if numeric:
        feature = numeric[0]
        values = sample[feature].dropna()
        rows = sample.loc[values[values >= values.quantile(0.75)].index]
    else:  # only categories: the most common one alone
        feature = features_of(repo_config())[0]
        rows = sample[sample[feature] == sample[feature].mode()[0]]
    path = tmp_path / "shifted.csv"
    rows.sample(300, replace=True, random_state=0).to_csv(path, index=False)
    return feature, path


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header.startswith(b"\x89PNG")
    return struct.unpack(">II", header[16:24])


def test_a_new_report_replaces_the_old_one_whole(served, shifted_csv, tmp_path):
    feature, shifted = shifted_csv
    params, out = served[3] / "params.yaml", tmp_path / "monitoring-report"
    out.mkdir()
    (out / "drift.md").write_text("an earlier report")
    (out / "a_feature_that_drifted_last_week.png").write_bytes(b"\x89PNG old")
    assert monitor.main(["--params", str(params), "--input", str(shifted), "--out", str(out)]) == monitor.DRIFT
    figures = sorted(path.name for path in out.glob("*.png"))
    assert "a_feature_that_drifted_last_week.png" not in figures
    text = (out / "drift.md").read_text()
    assert sorted(re.findall(r"!\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)", text)) == figures  # every figure, no other
    assert f"![{monitor.alt_text(feature)}](" in text
    for figure in figures:
        assert png_size(out / figure)[0] == monitor.FIGURE_WIDTH_PX  # the width GitHub shows
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no scratch left


def test_an_out_directory_with_other_files_is_left_alone(served, shifted_csv, tmp_path, capsys):
    out = tmp_path / "docs"
    out.mkdir()
    (out / "README.md").write_text("not a drift report")
    args = ["--params", str(served[3] / "params.yaml"), "--input", str(shifted_csv[1]), "--out", str(out)]
    assert monitor.main(args) == monitor.BAD_INPUT
    assert "will not replace it, it holds what this did not write (README.md)" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["README.md"]


@pytest.fixture
def written_log(served, tmp_path) -> Path:
    """A prediction log as the API writes it: one line per request for 20 test rows."""
    log = tmp_path / "predictions.jsonl"
    client = create_app(api_settings(served, prediction_log_file=log, prediction_log_stdout=False)).test_client()
    for record in records_of(served, 20):
        assert client.post("/predict", json=record).status_code == 200
    return log


def spoil(log: Path, line: int, change) -> None:
    """Apply `change` to the event on `line` (1-based) of the log."""
    lines = log.read_text().splitlines()
    event = json.loads(lines[line - 1])
    change(event)
    lines[line - 1] = json.dumps(event)
    log.write_text("\n".join(lines) + "\n")


def first_feature(served):
    """A feature a request must hold (one with missing values in training may be left out)."""
    return pick_feature(served[1].schema, nullable=False)


# Each edit of line 7 of a log the API wrote, and what the one-line error must name.
SPOILED = {
    "inputs not an object": (lambda event, spec: event.update(inputs="oops"), '"inputs"'),
    # Text for a number, or a text no category equals: what the API refuses.
    "a value of the wrong kind": (lambda event, spec: event["inputs"].update({spec.name: "?" * 99}), "inputs.{name}"),
    "a feature missing": (lambda event, spec: event["inputs"].pop(spec.name), "inputs.{name}"),
    "a prediction that is not one": (lambda event, spec: event.update(prediction=[1, 2]), '"prediction"'),
    "no prediction": (lambda event, spec: event.pop("prediction"), '"prediction"'),
}


@pytest.mark.parametrize("case", SPOILED)
def test_a_spoiled_log_line_is_bad_input_named_by_line_and_field(served, written_log, tmp_path, capsys, case):
    change, named = SPOILED[case]
    spec = first_feature(served)
    spoil(written_log, 7, lambda event: change(event, spec))
    out = tmp_path / "report"
    args = ["--params", str(served[3] / "params.yaml"), "--input", str(written_log), "--out", str(out)]
    assert monitor.main(args) == monitor.BAD_INPUT
    error = capsys.readouterr().err
    assert f"{written_log}, line 7: " in error
    assert named.format(name=spec.name) in error
    assert "Traceback" not in error
    assert not out.exists()  # no report from input that was refused


def test_the_log_the_api_wrote_is_read_whole(served, written_log, tmp_path, capsys):
    out = tmp_path / "report"
    args = ["--params", str(served[3] / "params.yaml"), "--input", str(written_log), "--out", str(out)]
    assert monitor.main(args) in (monitor.NO_DRIFT, monitor.DRIFT)
    assert "20 rows" in (out / "drift.md").read_text()


def test_an_out_path_that_is_a_file_is_bad_input(served, shifted_csv, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    args = ["--params", str(served[3] / "params.yaml"), "--input", str(shifted_csv[1]), "--out", str(blocker / "r")]
    assert monitor.main(args) == monitor.BAD_INPUT
    error = capsys.readouterr().err
    assert f"--out {blocker / 'r'}: cannot write the report there" in error
    assert blocker.read_text() == ""
