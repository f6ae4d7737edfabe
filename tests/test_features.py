import numpy as np
import pandas as pd
import pytest

from mlops import model_output
from mlops.config import CLASSIFICATION, REGRESSION, ConfigError, parse_config
from mlops.features import FeatureEngineer, SelectColumns, build_pipeline, make_estimator

from conftest import features_of, params_in


def test_engineer_adds_ratios_and_rotations():
    frame = pd.DataFrame({"a": [2.0, 3.0, 1.0], "b": [4.0, 0.0, np.nan], "x": [1.0, 0.0, 2.0], "y": [0.0, 1.0, 2.0]})
    engineer = FeatureEngineer(
        columns=list(frame.columns), ratios={"a_per_b": ["a", "b"]}, rotations={"x": "x", "y": "y", "degrees": [90, 45]}
    ).fit(frame.to_numpy())
    out = pd.DataFrame(engineer.transform(frame.to_numpy(dtype=object)), columns=engineer.get_feature_names_out())
    assert list(out.columns) == ["a", "b", "x", "y", "a_per_b", "rotated_90", "rotated_45"]
    pd.testing.assert_frame_equal(out[["a", "b", "x", "y"]], frame)
    assert out["a_per_b"].iloc[0] == 0.5
    # A zero or missing denominator is missing (imputed later), never infinite.
    assert out["a_per_b"].iloc[1:].isna().all()
    np.testing.assert_allclose(out["rotated_90"], frame["y"], atol=1e-12)
    np.testing.assert_allclose(out["rotated_45"], (frame["x"] + frame["y"]) / np.sqrt(2))


def test_engineer_turns_overflow_into_missing():
    values = np.array([[1e308, 1e-308], [1.0, 2.0]])
    out = FeatureEngineer(columns=["a", "b"], ratios={"r": ["a", "b"]}).fit(values).transform(values)
    assert np.isnan(out[0, 2])
    assert out[1, 2] == 0.5


def test_engineer_without_features_passes_numbers_through():
    values = np.array([[1.0], [2.0]])
    engineer = FeatureEngineer(columns=["a"]).fit(values)
    np.testing.assert_array_equal(engineer.transform(values), values)
    assert list(engineer.get_feature_names_out()) == ["a"]


def test_select_columns_orders_and_checks():
    frame = pd.DataFrame({"b": [1.0], "a": ["x"], "extra": [0]})
    selector = SelectColumns(["a", "b"]).fit(frame)
    assert selector.transform(frame).tolist() == [["x", 1.0]]
    assert list(selector.get_feature_names_out()) == ["a", "b"]
    with pytest.raises(ValueError, match="missing column"):
        SelectColumns(["a", "c"]).fit(frame)


def test_pipeline_handles_missing_values_and_unseen_categories(trained):
    config, result, _, test = trained
    rows = test[list(config.data.features)].head(4).copy()
    for name in features_of(config, kind="numeric"):
        rows.loc[rows.index[0], name] = np.nan
    for name in features_of(config, kind="categorical"):
        rows.loc[rows.index[1], name] = "NOT A CATEGORY"
    for _, denominator in config.features.ratios.values():
        rows.loc[rows.index[2], denominator] = 0.0
    output = model_output.predict(result.pipeline, rows, config.data.task)
    assert len(output.values) == 4
    if output.probabilities is None:
        assert np.isfinite(output.values).all()
    else:
        np.testing.assert_allclose(output.probabilities.sum(axis=1), 1.0)


def test_columns_out_of_preprocessing_follow_the_config(trained):
    config, result, train, _ = trained
    engineered = list(config.features.ratios)
    if config.features.rotations:
        engineered += [f"rotated_{d:g}" for d in config.features.rotations.degrees]
    one_hot = [
        f"{name}_{category}"
        for name in features_of(config, kind="categorical")
        for category in sorted(train[name].dropna().unique())
    ]
    expected = [*features_of(config, kind="numeric"), *engineered, *one_hot]
    assert list(result.pipeline[:-1].get_feature_names_out()) == expected


@pytest.mark.parametrize(
    ("task", "model", "expected"),
    [
        (
            REGRESSION,
            {"family": "GradientBoostingClassifier", "params": {}},
            r"^model.family: GradientBoostingClassifier is a classifier, but data.task is regression: pick a regressor",
        ),
        (
            CLASSIFICATION,
            {"family": "Ridge", "params": {}},
            r"^model.family: Ridge is a regressor, but data.task is classification: pick a classifier",
        ),
        (REGRESSION, {"family": "NoSuchModel", "params": {}}, r"'NoSuchModel' is not a scikit-learn regressor \(e.g. "),
        (CLASSIFICATION, {"family": "NoSuchModel", "params": {}}, r"'NoSuchModel' is not a scikit-learn classifier"),
        (REGRESSION, {"family": "Ridge", "params": {"max_iter": 5, "depth": 2}}, r"Ridge has no parameter\(s\) depth"),
        (
            REGRESSION,
            {"family": "HistGradientBoostingRegressor", "params": {"max_iter": "abc", "random_state": 0}},
            r"^model\.params\.max_iter: The 'max_iter' parameter of HistGradientBoostingRegressor must be an int "
            r"in the range \[1, inf\)\. Got 'abc' instead",
        ),
        (
            REGRESSION,
            {"family": "HistGradientBoostingRegressor", "params": {"max_iter": 10, "learning_rate": -0.1}},
            r"^model\.params\.learning_rate: The 'learning_rate' parameter .* must be a float in the range "
            r"\(0\.0, inf\)\. Got -0\.1 instead",
        ),
        (
            REGRESSION,
            {"family": "Ridge", "params": {"solver": "fastest"}},
            r"^model\.params\.solver: .*Got 'fastest' instead",
        ),
        (CLASSIFICATION, {"family": "LogisticRegression", "params": {"C": -1}}, r"^model\.params\.C: "),
    ],
)
def test_model_family_and_params_are_checked(task, model, expected):
    from mlops.config import ModelConfig

    with pytest.raises(ConfigError, match=expected):
        make_estimator(ModelConfig(**model), task)


def test_a_classifier_without_probabilities_is_calibrated():
    from mlops.config import ModelConfig

    estimator = make_estimator(ModelConfig(family="LinearSVC", params={"C": 0.5}), CLASSIFICATION)
    assert type(estimator).__name__ == "CalibratedClassifierCV"
    assert estimator.estimator.C == 0.5
    assert (
        type(make_estimator(ModelConfig(family="LogisticRegression"), CLASSIFICATION)).__name__ == "LogisticRegression"
    )


@pytest.mark.parametrize(
    ("scenario", "model"),
    [
        ("regression", {"family": "Ridge", "params": {"alpha": 1.0}}),
        ("multiclass", {"family": "LinearSVC", "params": {}}),
        ("binary", {"family": "GaussianNB", "params": {}}),
    ],
)
def test_other_families_train_and_predict(tmp_path, scenario, model):
    from mlops.prepare import prepare
    from mlops.raw_data import load_raw

    config = parse_config(params_in(tmp_path, scenario, model=model))
    train, test = prepare(load_raw(config.paths.raw, config.data), config)
    pipeline = build_pipeline(config).fit(train[list(config.data.features)], train[config.data.target])
    output = model_output.predict(pipeline, test[list(config.data.features)], config.data.task)
    if config.data.is_classification:
        assert set(output.values) <= set(train[config.data.target])
        np.testing.assert_allclose(output.probabilities.sum(axis=1), 1.0)
    else:
        assert np.isfinite(output.values).all()
