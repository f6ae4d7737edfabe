import math
import os
import re
from pathlib import Path

import pytest

from mlops.config import CLASSIFICATION, REGRESSION, ConfigError, StratifyConfig, load_config, parse_config

from conftest import ROOT, params_in, repo_config, write_params

CFG = repo_config()
FIRST, SECOND = list(CFG.data.features)[:2]
OTHER_TASK_METRIC = "accuracy" if CFG.data.task == REGRESSION else "rmse"


def test_repository_params_are_valid():
    config = load_config(ROOT / "params.yaml")
    assert config.data.target in config.data.columns
    assert config.data.target not in config.data.features
    assert config.gate.metric


def test_config_is_frozen(config):
    with pytest.raises(ValueError, match="frozen"):
        config.split.seed = 1


def _broken(tmp_path: Path, change) -> dict:
    params = params_in(tmp_path)
    change(params)
    return params


def _same_file(path: str) -> str:
    """`path` spelled another way (dir/./name)."""
    return os.path.join(os.path.dirname(path), ".", os.path.basename(path))


def _column(params: dict, name: str, **spec) -> None:
    params["data"]["columns"][name] = spec


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda p: p.pop("split"), r"split: Field required"),
        (lambda p: p["split"].update(test_size=1.5), r"split.test_size: Input should be less than 1"),
        (lambda p: p["data"].update(target="no_such_column"), r"target 'no_such_column' is not one of data.columns"),
        (lambda p: p["data"].update(task="ranking"), r"data.task: Input should be 'regression' or 'classification'"),
        (lambda p: _column(p, FIRST, type="categorical", min=0), r"categorical column takes no min/max"),
        (lambda p: _column(p, FIRST, type="numeric", min=10, max=0), r"min \(10.0\) is greater than max"),
        (lambda p: _column(p, FIRST, type="numeric", unit=""), r"unit: String should have at least 1 character"),
        (lambda p: p["split"].update(stratify={"column": "nope", "bins": [0, 1, 2]}), r"split.stratify.column 'nope'"),
        (
            lambda p: (
                _column(p, FIRST, type="numeric"),
                p["split"].update(stratify={"column": FIRST, "bins": [0, 3, 1]}),
            ),
            r"bins must be strictly increasing",
        ),
        (
            lambda p: (_column(p, FIRST, type="numeric"), p["split"].update(stratify={"column": FIRST})),
            rf"split.stratify: {re.escape(repr(FIRST))} is numeric; give split.stratify.bins",
        ),
        (
            lambda p: (
                _column(p, FIRST, type="categorical"),
                p["split"].update(stratify={"column": FIRST, "bins": [0, 1, 2]}),
            ),
            rf"split.stratify.bins: {re.escape(repr(FIRST))} is categorical",
        ),
        (
            lambda p: (_column(p, FIRST, type="categorical"), p["features"].update(ratios={"x": [FIRST, SECOND]})),
            rf"features.ratios.x: {re.escape(repr(FIRST))} is not a numeric feature column",
        ),
        (
            lambda p: p["features"].update(rotations={"x": "lon", "y": SECOND}),
            r"features.rotations: 'lon' is not a numeric feature column",
        ),
        (lambda p: p["paths"].update(train="data/train.csv", raw="data/raw.csv"), r"paths.train: .* immutable raw"),
        (lambda p: p.update(surprise={"a": 1}), r"surprise: Extra inputs are not permitted"),
        (lambda p: p["model"].update(family=None), r"model.family: Input should be a valid string"),
        (lambda p: p["gate"].update(threshold=float("nan")), r"NaN is not a valid parameter value"),
        (lambda p: p["gate"].update(max_regression_pct=-1), r"gate.max_regression_pct: Input should be greater than"),
        (
            lambda p: p["gate"].update(metric=OTHER_TASK_METRIC),
            rf"gate.metric '{OTHER_TASK_METRIC}' is not a {CFG.data.task} metric",
        ),
        (lambda p: p["gate"].pop("metric"), r"gate.metric: Field required"),
        (lambda p: p["split"].update(seed=-1), r"split.seed: Input should be greater than or equal to 0"),
        (lambda p: p.setdefault("evaluate", {}).update(seed=2**32), r"evaluate.seed: Input should be less than"),
        (lambda p: p.setdefault("monitor", {}).update(seed=-5), r"monitor.seed: Input should be greater than"),
        (lambda p: p["paths"].update(test=p["paths"]["train"]), r"paths.test and paths.train are both .*: each needs"),
        (
            lambda p: p["paths"].update(metrics=_same_file(p["paths"]["model"])),
            r"paths.metrics and paths.model are both",
        ),
    ],
)
def test_invalid_params_name_the_key(tmp_path, change, expected):
    with pytest.raises(ConfigError, match=expected):
        parse_config(_broken(tmp_path, change))


def test_a_categorical_target_needs_classification(tmp_path):
    params = params_in(tmp_path)
    params["data"].update(task="regression")
    _column(params, params["data"]["target"], type="categorical")
    with pytest.raises(ConfigError, match=r"target '.*' is categorical, but data.task is regression"):
        parse_config(params)
    params["data"].update(task="classification")
    params["gate"] = {"metric": "accuracy"}
    assert parse_config(params).data.is_classification


@pytest.mark.parametrize(
    ("task", "configured", "expected"),
    [
        (CLASSIFICATION, None, "target"),
        (CLASSIFICATION, "none", None),
        (REGRESSION, None, None),
        (CLASSIFICATION, {"column": FIRST}, FIRST),
    ],
)
def test_what_the_split_stratifies_on(tmp_path, task, configured, expected):
    params = params_in(tmp_path)
    params["data"]["task"] = task
    params["gate"] = {"metric": "accuracy" if task == CLASSIFICATION else "rmse"}
    params["features"] = {}
    _column(params, FIRST, type="categorical")
    target = params["data"]["target"]
    _column(params, target, type="categorical" if task == CLASSIFICATION else "numeric")
    params["split"]["stratify"] = configured
    stratify = parse_config(params).stratify
    if expected is None:
        assert stratify is None
    else:
        assert stratify == StratifyConfig(column=target if expected == "target" else expected)


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
    assert load_config(path).paths.train == tmp_path / CFG.paths.train


def test_infinity_is_kept(tmp_path):
    params = params_in(tmp_path)
    params["gate"]["threshold"] = float("inf")
    assert math.isinf(parse_config(params).gate.threshold)
