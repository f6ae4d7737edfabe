import pandas as pd
import pytest

from mlops import sample
from mlops.config import parse_config
from mlops.prepare import strata_of
from mlops.raw_data import load_raw

from conftest import SAMPLE, params_in, write_params


@pytest.mark.parametrize("scenario", ["regression", "multiclass", "binary"])
def test_a_sample_shows_what_the_data_holds(tmp_path, scenario):
    config = parse_config(params_in(tmp_path, scenario))
    raw = load_raw(config.paths.raw, config.data)
    rows = len(raw) // 3
    picked = sample.sample(raw, config, rows=rows)
    assert len(picked) == rows
    assert picked.index.is_monotonic_increasing  # file order
    pd.testing.assert_frame_equal(picked, raw.loc[picked.index])
    for name, spec in config.data.columns.items():
        if raw[name].isna().any():
            assert picked[name].isna().any(), f"{name}: no missing value kept"
        if spec.type == "categorical" and name != config.data.target:
            assert set(picked[name].dropna()) == set(raw[name].dropna()), name
    target = config.data.target
    if config.data.is_classification:
        assert set(picked[target]) == set(raw[target])
        # Enough of each class that a split of the sample can stratify.
        assert picked[target].value_counts().min() >= min(sample.PER_GROUP, raw[target].value_counts().min())
    else:
        assert picked[target].min() == raw[target].min()
        assert picked[target].max() == raw[target].max()
    if config.stratify is not None:
        assert set(strata_of(picked, config.stratify)) == set(strata_of(raw, config.stratify))


def test_a_sample_is_deterministic_and_small_data_is_kept_whole(tmp_path):
    config = parse_config(params_in(tmp_path, "regression"))
    raw = load_raw(config.paths.raw, config.data)
    pd.testing.assert_frame_equal(sample.sample(raw, config, rows=100), sample.sample(raw, config, rows=100))
    assert not sample.sample(raw, config, rows=100).equals(sample.sample(raw, config, rows=100, seed=1))
    assert sample.sample(raw, config, rows=len(raw) + 1) is raw


def test_the_committed_sample_is_what_make_sample_writes(tmp_path, real_data):
    """tests/fixtures/sample.csv is `make sample` of this repository's data: rerun it after changing either."""
    params = params_in(tmp_path)
    params["paths"]["raw"] = str(real_data)
    params["paths"]["sample"] = str(tmp_path / "sample.csv")
    assert sample.main(["--params", str(write_params(tmp_path, params))]) == 0
    assert (tmp_path / "sample.csv").read_text() == SAMPLE.read_text(), "run `make sample` and commit the file"


def test_main_refuses_a_tiny_sample(tmp_path, capsys):
    params = params_in(tmp_path)
    assert sample.main(["--params", str(write_params(tmp_path, params)), "--rows", "10"]) == 1
    assert "[sample] error: --rows 10: a sample needs at least 50 rows" in capsys.readouterr().err
    assert not parse_config(params).paths.sample.exists()
