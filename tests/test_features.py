import numpy as np
import pandas as pd
import pytest

from mlops.config import ConfigError, parse_config
from mlops.features import FeatureEngineer, SelectColumns, build_pipeline, make_estimator

from conftest import params_in


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
    rows.loc[rows.index[0], "total_bedrooms"] = np.nan
    rows.loc[rows.index[1], "ocean_proximity"] = "ON THE MOON"
    rows.loc[rows.index[2], "households"] = 0.0
    predictions = result.pipeline.predict(rows)
    assert np.isfinite(predictions).all()


def test_one_hot_columns_follow_training_categories(trained):
    _, result, train, _ = trained
    names = list(result.pipeline[:-1].get_feature_names_out())
    categories = sorted(train["ocean_proximity"].unique())
    assert [n for n in names if n.startswith("ocean_proximity_")] == [f"ocean_proximity_{c}" for c in categories]
    assert {"rooms_per_household", "rotated_45"} <= set(names)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"family": "GradientBoostingClassifier", "params": {}}, r"not a scikit-learn regressor"),
        ({"family": "Ridge", "params": {"max_iter": 5, "depth": 2}}, r"Ridge has no parameter\(s\) depth"),
        (
            {"family": "HistGradientBoostingRegressor", "params": {"max_iter": "abc", "random_state": 0}},
            r"^model\.params\.max_iter: The 'max_iter' parameter of HistGradientBoostingRegressor must be an int "
            r"in the range \[1, inf\)\. Got 'abc' instead",
        ),
        (
            {"family": "HistGradientBoostingRegressor", "params": {"max_iter": 10, "learning_rate": -0.1}},
            r"^model\.params\.learning_rate: The 'learning_rate' parameter .* must be a float in the range "
            r"\(0\.0, inf\)\. Got -0\.1 instead",
        ),
        ({"family": "Ridge", "params": {"solver": "fastest"}}, r"^model\.params\.solver: .*Got 'fastest' instead"),
    ],
)
def test_model_family_and_params_are_checked(tmp_path, model, expected):
    config = parse_config(params_in(tmp_path, model=model))
    with pytest.raises(ConfigError, match=expected):
        make_estimator(config.model)


def test_any_regressor_family_trains(tmp_path, trained):
    _, _, train, test = trained
    config = parse_config(params_in(tmp_path, model={"family": "Ridge", "params": {"alpha": 1.0}}))
    pipeline = build_pipeline(config).fit(train[list(config.data.features)], train[config.data.target])
    assert np.isfinite(pipeline.predict(test[list(config.data.features)])).all()
