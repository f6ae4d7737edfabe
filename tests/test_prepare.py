import pandas as pd
import pytest

from mlops import prepare
from mlops.config import parse_config
from mlops.raw_data import DataValidationError, load_raw

from conftest import SAMPLE, params_in, write_params


@pytest.fixture
def raw(config):
    return load_raw(SAMPLE, config.data)


def test_split_is_reproducible_and_a_partition(raw, config):
    train_a, test_a = prepare.split(raw, config.split)
    train_b, test_b = prepare.split(raw, config.split)
    pd.testing.assert_frame_equal(train_a, train_b)
    pd.testing.assert_frame_equal(test_a, test_b)
    assert set(train_a.index).isdisjoint(test_a.index)
    assert len(train_a) + len(test_a) == len(raw)
    assert len(test_a) == pytest.approx(config.split.test_size * len(raw), abs=1)


def test_another_seed_gives_another_split(raw, config):
    other = config.split.model_copy(update={"seed": config.split.seed + 1})
    assert set(prepare.split(raw, config.split)[1].index) != set(prepare.split(raw, other)[1].index)


def test_split_is_stratified_on_income(raw, config):
    _, test = prepare.split(raw, config.split)
    bins = config.split.stratify.bins
    overall = pd.cut(raw["median_income"], bins).value_counts(normalize=True).sort_index()
    in_test = pd.cut(test["median_income"], bins).value_counts(normalize=True).sort_index()
    # Stratified: every income band's share in the test split is within one row of its overall share.
    assert (in_test - overall).abs().max() <= 1 / len(test) + 1e-9


def test_split_without_stratification(raw, tmp_path):
    params = params_in(tmp_path)
    params["split"].pop("stratify")
    config = parse_config(params)
    train, test = prepare.split(raw, config.split)
    assert len(train) + len(test) == len(raw)


def sparse_top_bin(raw: pd.DataFrame) -> pd.DataFrame:
    """The sample with a single row left in the top income bin, (6, inf]."""
    return pd.concat([raw[raw["median_income"] <= 6], raw[raw["median_income"] > 6].head(1)])


def one_row_missing_income(raw: pd.DataFrame) -> pd.DataFrame:
    frame = raw.copy()
    frame.loc[frame.index[0], "median_income"] = float("nan")
    return frame


def two_rows_per_bin(raw: pd.DataFrame) -> pd.DataFrame:
    """Every bin has its 2 rows, but a 20% test split of 10 rows cannot hold all 5 bins."""
    return raw.groupby(pd.cut(raw["median_income"], [0, 1.5, 3, 4.5, 6, float("inf")])).head(2)


@pytest.mark.parametrize(
    ("make_frame", "expected"),
    [
        (sparse_top_bin, r"bin\(s\) \(6, inf\] has 1 row\(s\); each bin needs at least 2"),
        (one_row_missing_income, r"bin\(s\) outside \[0, inf\] or missing has 1 row\(s\)"),
        (
            two_rows_per_bin,
            r"test_size = 2 should be greater or equal to the number of classes = 5 "
            r"\(rows per bin: \[0, 1\.5\]: 2, \(1\.5, 3\]: 2, .*\(6, inf\]: 2\)",
        ),
    ],
)
def test_split_too_sparse_to_stratify_names_the_bins_and_the_fix(raw, config, make_frame, expected):
    with pytest.raises(DataValidationError, match=expected) as error:
        prepare.split(make_frame(raw), config.split)
    assert "stratify the train/test split on 'median_income'" in str(error.value)
    assert "Merge sparse bins with a neighbour in params.yaml (split.stratify.bins)" in str(error.value)


def prepare_fails_on(workdir, capsys, name: str, write) -> str:
    """Run prepare on a raw file that `write(path)` creates; it must exit 1 with one error line,
    no traceback and no outputs. Returns its stderr."""
    raw = workdir / "incoming" / name
    raw.parent.mkdir()
    write(raw)
    params = params_in(workdir)
    params["paths"]["raw"] = str(raw)
    assert prepare.main(["--params", str(write_params(workdir, params))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (workdir / "artifacts").exists()
    return err


def test_main_fails_on_a_sparse_income_bin_and_writes_nothing(workdir, config, capsys):
    sparse = sparse_top_bin(load_raw(SAMPLE, config.data))
    err = prepare_fails_on(workdir, capsys, "sparse.csv", lambda path: sparse.to_csv(path, index=False))
    assert "[prepare] error: cannot stratify the train/test split on 'median_income'" in err
    assert "(6, inf] has 1 row(s)" in err


def test_main_writes_both_splits_and_reads_them_back(params_file, workdir, capsys):
    assert prepare.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    train = prepare.read_frame(config.paths.train, config.data)
    test = prepare.read_frame(config.paths.test, config.data)
    raw = load_raw(SAMPLE, config.data)
    assert len(train) + len(test) == len(raw)
    assert "total_bedrooms: 13 missing value(s)" in capsys.readouterr().err


def test_main_fails_on_bad_data_and_writes_nothing(workdir, capsys):
    bad = SAMPLE.read_text().replace("NEAR BAY", "NEAR BAY,extra", 1)
    err = prepare_fails_on(workdir, capsys, "bad.csv", lambda path: path.write_text(bad))
    assert "[prepare] error:" in err
    assert "bad.csv: not a valid CSV" in err


def test_read_frame_names_the_missing_stage(config):
    with pytest.raises(prepare.cli.StageError, match="run the prepare stage first"):
        prepare.read_frame(config.paths.train, config.data)
