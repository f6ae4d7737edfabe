import math
from pathlib import Path

import pytest

from mlops.config import ConfigError, load_config, parse_config

from conftest import ROOT, params_in, write_params


def test_repository_params_are_valid():
    config = load_config(ROOT / "params.yaml")
    assert config.data.target in config.data.columns
    assert config.data.target not in config.data.features
    assert math.isinf(config.split.stratify.bins[-1])


def test_config_is_frozen(config):
    with pytest.raises(ValueError, match="frozen"):
        config.split.seed = 1


def _broken(tmp_path: Path, change) -> dict:
    params = params_in(tmp_path)
    change(params)
    return params


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.pop("split"), r"split: Field required"),
        (lambda p: p["split"].update(test_size=1.5), r"split.test_size: Input should be less than 1"),
        (lambda p: p["data"].update(target="price"), r"target 'price' is not one of data.columns"),
        (lambda p: p["data"]["columns"]["ocean_proximity"].update(min=0), r"categorical column takes no min/max"),
        (lambda p: p["data"]["columns"]["latitude"].update(min=10, max=0), r"min \(10.0\) is greater than max"),
        (lambda p: p["split"]["stratify"].update(column="nope"), r"split.stratify.column 'nope'"),
        (lambda p: p["split"]["stratify"].update(bins=[0, 3, 1]), r"bins must be strictly increasing"),
        (
            lambda p: p["features"]["ratios"].update(x=["ocean_proximity", "households"]),
            r"'ocean_proximity' is not a num",
        ),
        (lambda p: p["features"]["rotations"].update(x="lon"), r"features.rotations: 'lon' is not a feature column"),
        (lambda p: p["paths"].update(train="data/train.csv", raw="data/housing.csv"), r"paths.train: .* immutable raw"),
        (lambda p: p.update(surprise={"a": 1}), r"surprise: Extra inputs are not permitted"),
        (lambda p: p["model"].update(family=None), r"model.family: Input should be a valid string"),
        (lambda p: p["gate"].update(max_rmse=float("nan")), r"NaN is not a valid parameter value"),
    ],
)
def test_invalid_params_name_the_key(tmp_path, change, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(_broken(tmp_path, change))


def test_params_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read parameters"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("paths: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)
    with pytest.raises(ConfigError, match="expected a mapping"):
        parse_config(["a list"])


def test_load_config_reads_a_written_file(tmp_path):
    path = write_params(tmp_path, params_in(tmp_path))
    assert load_config(path).paths.train == tmp_path / "artifacts" / "train.csv"
