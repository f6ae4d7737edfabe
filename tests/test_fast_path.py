"""The fast path computes what the fitted Pipeline computes, for every task and pipeline shape the
template builds; anything it does not recognise is refused, saying which step."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from sklearn.base import clone
from sklearn.preprocessing import MinMaxScaler

from mlops import evaluate, fast_path, prepare, train
from mlops.config import CLASSIFICATION, parse_config

from conftest import params_in, serve_from

TASK_SCENARIOS = ["regression", "regression-numeric", "multiclass", "binary"]


def _features(served):
    cfg, _, test_frame, _ = served
    return test_frame[list(cfg.data.features)]


def _saved_and_loaded(pipeline, task):
    """The fast path as the API runs it: derived, saved as arrays, loaded back."""
    derived = fast_path.derive(pipeline, task)
    return fast_path.from_bytes(fast_path.to_bytes(derived), estimator=derived.estimator)


def _assert_matches(served):
    cfg, result, test_frame, _ = served
    fast = _saved_and_loaded(result.pipeline, cfg.data.task)
    parity = fast_path.check_parity(fast, result.pipeline, _features(served), cfg.data.task)
    assert parity.rows == len(test_frame)
    assert parity.ok, parity.describe(cfg.data.task)
    return fast


def test_the_repositorys_own_model_matches_its_pipeline(served):
    _assert_matches(served)


@pytest.mark.parametrize("scenario", TASK_SCENARIOS)
def test_each_task_matches_its_pipeline(served_scenario, scenario):
    _assert_matches(served_scenario(scenario))


# Estimators a fork may name in params.yaml, each on a dataset of its task: boosted trees (walked in
# lockstep), a link other than the identity, and a classifier calibrated because it has no predict_proba.
FORK_MODELS = {
    "boosted multiclass": ("multiclass", "HistGradientBoostingClassifier", {"max_iter": 30}),
    "boosted binary": ("binary", "HistGradientBoostingClassifier", {"max_iter": 30, "max_leaf_nodes": 7}),
    "poisson regression": ("regression", "HistGradientBoostingRegressor", {"max_iter": 40, "loss": "poisson"}),
    "calibrated LinearSVC": ("binary", "LinearSVC", {"C": 0.5}),
    "random forest regression": ("regression-numeric", "RandomForestRegressor", {"n_estimators": 10}),
}


@pytest.mark.parametrize("name", FORK_MODELS)
def test_a_forks_model_matches_its_pipeline(tmp_path, name):
    scenario, family, model_params = FORK_MODELS[name]
    params = params_in(tmp_path, scenario)
    params["model"] = {"family": family, "params": model_params}
    fast = _assert_matches(serve_from(tmp_path, params))
    boosted = family.startswith("HistGradientBoosting")
    assert (fast.trees is not None) == boosted, fast.model_path


def test_preprocessing_is_bit_for_bit_the_pipelines(served_scenario):
    cfg, result, _, _ = served_scenario("regression")
    frame = _features(served_scenario("regression"))
    assert frame.isna().any().any(), "the scenario should have missing values to impute"
    fast = fast_path.derive(result.pipeline, cfg.data.task)
    expected = result.pipeline[:-1].transform(frame)
    actual = fast.transform(fast_path.records_of(frame, fast.names))
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected, equal_nan=True)


def test_an_unknown_category_is_all_zeros_like_the_encoder(served_scenario):
    cfg, result, _, _ = served_scenario("multiclass")
    fast = fast_path.derive(result.pipeline, cfg.data.task)
    records = fast_path.records_of(_features(served_scenario("multiclass")).head(3), fast.names)
    categorical = next(name for name, spec in cfg.data.features.items() if spec.type == "categorical")
    unknown = [{**record, categorical: "never-seen"} for record in records]
    frame = result.schema.to_frame(unknown)
    np.testing.assert_array_equal(fast.transform(unknown), result.pipeline[:-1].transform(frame))


def test_a_step_without_a_fast_path_is_named(served):
    cfg, result, *_ = served
    pipeline = clone(result.pipeline)
    numeric = pipeline.named_steps["preprocess"].transformers[0][1]
    numeric.steps[-1] = ("scale", MinMaxScaler())
    pipeline.fit(*_training_data(served))
    with pytest.raises(fast_path.NoFastPathError, match="MinMaxScaler in the numeric branch"):
        fast_path.derive(pipeline, cfg.data.task)
    document, data = fast_path.parity_document(pipeline, _features(served), cfg.data.task, "v1")
    assert data is None
    assert document["fast_path"] == {"enabled": False, "reason": document["fast_path"]["reason"]}
    assert "MinMaxScaler" in document["fast_path"]["reason"]
    assert "rows" not in document


def _training_data(served):
    cfg, _, test_frame, _ = served  # any rows will do to fit the altered pipeline
    return test_frame[list(cfg.data.features)], test_frame[cfg.data.target]


class _Skewed:
    """An estimator one part in a million off the real one."""

    def __init__(self, real):
        self.real = real

    def predict(self, features):
        return self.real.predict(features) * (1 + 1e-6)

    def predict_proba(self, features):
        proba = self.real.predict_proba(features)
        return proba + np.array([1e-6, -1e-6, *[0.0] * (proba.shape[1] - 2)])


@pytest.mark.parametrize("scenario", ["regression", "binary"])
def test_a_disagreement_at_training_switches_the_fast_path_off(served_scenario, monkeypatch, scenario):
    served = served_scenario(scenario)
    cfg, result, *_ = served
    real = fast_path.derive(result.pipeline, cfg.data.task)
    skewed = fast_path.FastPath(real.names, real.branches, real.classification, None, _Skewed(real.estimator), "x")
    monkeypatch.setattr(fast_path, "derive", lambda pipeline, task: skewed)
    document, data = fast_path.parity_document(result.pipeline, _features(served), cfg.data.task, "v1")
    assert data is None
    assert document["fast_path"]["enabled"] is False
    assert "disagrees with the pipeline on the test split" in document["fast_path"]["reason"]
    assert "rows" not in document


def _startup(served, document=None, data=None, version=None):
    """What the API does at startup with a served bundle's files (or the ones given)."""
    cfg, result, *_ = served
    document = document or json.loads(cfg.paths.parity.read_text())
    data = cfg.paths.fast_path.read_bytes() if data is None else data
    loads = []

    def load_pipeline():
        loads.append(1)
        return result.pipeline

    fast, status = fast_path.verified(
        document, data, version or document["model_version"], cfg.data.task, load_pipeline
    )
    return fast, status, bool(loads)


@pytest.mark.parametrize("scenario", ["regression", "multiclass"])
def test_startup_checks_the_saved_rows(served_scenario, scenario):
    served = served_scenario(scenario)
    cfg = served[0]
    document = json.loads(cfg.paths.parity.read_text())
    assert 0 < len(document["rows"]) <= fast_path.PARITY_ROWS
    assert len(document["outputs"]) == len(document["rows"])

    fast, status, _ = _startup(served)
    assert fast is not None
    assert status["enabled"]
    assert status["startup_rows"] == len(document["rows"])

    tampered = json.loads(json.dumps(document))
    row = tampered["outputs"][3]
    if cfg.data.task == CLASSIFICATION:
        row[0], row[1] = row[1], row[0]  # another label's probability
    else:
        tampered["outputs"][3] = row * (1 + 1e-7)
    fast, status, _ = _startup(served, document=tampered)
    assert fast is None
    assert "disagrees with the saved outputs at startup" in status["reason"]


def test_boosted_trees_start_without_the_pipeline_and_other_models_with_it(served, served_scenario):
    fast, status, loaded = _startup(served)  # this repository's model, a HistGradientBoosting one here
    assert status["enabled"]
    assert loaded is (fast.trees is None)
    assert status["loads_pipeline"] is loaded
    fast, status, loaded = _startup(served_scenario("multiclass"))  # LogisticRegression
    assert status["enabled"]
    assert fast.trees is None
    assert loaded


def test_startup_refuses_rows_of_another_model_a_changed_file_or_none(served):
    fast, status, _ = _startup(served, version="0123456789ab")
    assert fast is None
    assert "not 0123456789ab" in status["reason"]
    fast, status, _ = _startup(served, data=served[0].paths.fast_path.read_bytes()[:-1] + b"x")
    assert fast is None
    assert "not the one its parity rows were made with" in status["reason"]
    cfg, result, *_ = served
    fast, status = fast_path.verified(None, b"", "v", cfg.data.task, lambda: result.pipeline)
    assert fast is None
    assert "no parity rows" in status["reason"]


def test_parity_rows_cover_missing_values_and_every_category(served_scenario):
    frame = _features(served_scenario("multiclass"))
    rows = fast_path.parity_rows(frame, list(frame.columns), limit=20)
    assert len(rows) == 20
    assert rows.index.is_unique
    for name in frame.columns:
        if frame[name].isna().any():
            assert rows[name].isna().any(), name
        if frame[name].dtype == object or str(frame[name].dtype) == "str":
            assert set(rows[name].dropna()) == set(frame[name].dropna()), name


@pytest.mark.parametrize(
    ("fast", "reference", "ok"),
    [
        ([100.0, -5.0], [100.0 * (1 + 5e-10), -5.0], True),
        ([100.0, -5.0], [100.0 * (1 + 2e-9), -5.0], False),
        ([0.0, np.nan], [0.0, np.nan], True),
        ([0.0, 1.0], [0.0, np.nan], False),
    ],
)
def test_regression_tolerance_is_relative(fast, reference, ok):
    assert fast_path.compare(np.array(fast), np.array(reference), "regression").ok is ok


def test_classification_needs_the_same_labels_and_close_probabilities():
    reference = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert fast_path.compare(reference + 5e-10, reference, CLASSIFICATION).ok
    close = fast_path.compare(reference + np.array([[2e-9, -2e-9], [0, 0]]), reference, CLASSIFICATION)
    assert not close.ok
    assert close.label_mismatches == 0
    assert close.worst_row == 0
    flipped = fast_path.compare(reference[:, ::-1], reference, CLASSIFICATION)
    assert flipped.label_mismatches == 2
    assert not flipped.ok


def test_the_evaluate_stage_saves_the_parity_rows(params_file, workdir):
    cfg = parse_config(yaml.safe_load(params_file.read_text()))
    for stage in (prepare, train, evaluate):
        assert stage.main(["--params", str(params_file)]) == 0
    document = json.loads(cfg.paths.parity.read_text())
    metadata = json.loads(cfg.paths.metadata.read_text())
    assert document["model_version"] == metadata["model"]["version"]
    test_rows = len(prepare.read_frame(cfg.paths.test, cfg.data))
    assert document["fast_path"]["enabled"] is True
    assert document["fast_path"]["test_split"]["rows"] == test_rows
    assert len(document["rows"]) == min(test_rows, fast_path.PARITY_ROWS)


@pytest.mark.parametrize("kind", ["regressor", "multiclass"])
def test_lockstep_trees_are_the_models_own_prediction_with_missing_values(kind):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    rng = np.random.default_rng(0)
    features = rng.normal(size=(400, 5))
    features[rng.random(features.shape) < 0.15] = np.nan  # the trees learn where missing values go
    signal = np.nan_to_num(features[:, 0], nan=2.0) + np.nan_to_num(features[:, 1], nan=-1.0) ** 2
    if kind == "regressor":
        model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(features, signal)
    else:
        labels = np.digitize(signal, np.quantile(signal, [0.33, 0.66]))
        model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(features, labels)
    trees = fast_path.LockstepTrees.of(model)
    rows = features[: fast_path.LOCKSTEP_MAX_ROWS + 5]  # more than one slice
    assert np.isnan(rows).any()
    assert np.array_equal(trees.raw(rows), model._raw_predict(rows))
    for row in rows:  # one row at a time takes its own path
        assert np.array_equal(trees.raw(row[None, :]), model._raw_predict(row[None, :]))
    task = "regression" if kind == "regressor" else CLASSIFICATION
    expected = model.predict(rows) if kind == "regressor" else model.predict_proba(rows)
    parity = fast_path.compare(trees(rows), expected, task)
    assert parity.ok, parity.describe(task)
