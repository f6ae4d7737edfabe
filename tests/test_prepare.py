import re

import numpy as np
import pandas as pd
import pytest

from mlops import prepare
from mlops.config import StratifyConfig, parse_config
from mlops.raw_data import DataValidationError, load_raw

from conftest import SAMPLE, features_of, params_in, repo_config, write_params

NUMERIC = features_of(repo_config(), kind="numeric")[0]


@pytest.fixture
def raw(config):
    return load_raw(SAMPLE, config.data)


def quartile_bins(raw: pd.DataFrame, column: str = NUMERIC) -> StratifyConfig:
    """Bins at a numeric column's quartiles, open at both ends."""
    edges = np.unique(raw[column].quantile([0.25, 0.5, 0.75]).to_numpy())
    return StratifyConfig(column=column, bins=[-np.inf, *edges.tolist(), np.inf])


def test_split_is_reproducible_and_a_partition(raw, config):
    train_a, test_a = prepare.split(raw, config.split, config.stratify)
    train_b, test_b = prepare.split(raw, config.split, config.stratify)
    pd.testing.assert_frame_equal(train_a, train_b)
    pd.testing.assert_frame_equal(test_a, test_b)
    assert set(train_a.index).isdisjoint(test_a.index)
    assert len(train_a) + len(test_a) == len(raw)
    assert len(test_a) == pytest.approx(config.split.test_size * len(raw), abs=1)


def test_another_seed_gives_another_split(raw, config):
    other = config.split.model_copy(update={"seed": config.split.seed + 1})
    assert set(prepare.split(raw, config.split, None)[1].index) != set(prepare.split(raw, other, None)[1].index)


@pytest.mark.parametrize("source", ["configured", "quartiles"])
def test_split_is_stratified(raw, config, source):
    stratify = config.stratify if source == "configured" else quartile_bins(raw)
    if stratify is None:
        pytest.skip("params.yaml does not stratify the split")
    _, test = prepare.split(raw, config.split, stratify)
    overall = prepare.strata_of(raw, stratify).value_counts(normalize=True)
    in_test = prepare.strata_of(test, stratify).value_counts(normalize=True).reindex(overall.index, fill_value=0)
    # Stratified: every stratum's share in the test split is within one row of its overall share.
    assert (in_test - overall).abs().max() <= 1 / len(test) + 1e-9


def test_split_without_stratification(raw, tmp_path):
    params = params_in(tmp_path)
    params["split"]["stratify"] = "none"
    config = parse_config(params)
    assert config.stratify is None
    train, test = prepare.split(raw, config.split, config.stratify)
    assert len(train) + len(test) == len(raw)


def test_too_sparse_bins_name_the_bin_and_the_fix(raw, config):
    stratify = quartile_bins(raw)
    top = stratify.bins[-2]
    sparse = pd.concat([raw[raw[NUMERIC] <= top], raw[raw[NUMERIC] > top].head(1)])
    with pytest.raises(DataValidationError) as error:
        prepare.split(sparse, config.split, stratify)
    message = str(error.value)
    assert f"cannot stratify the train/test split on {NUMERIC!r}" in message
    assert f"bin(s) ({top:g}, inf] has 1 row(s); each bin needs at least 2" in message
    assert "Merge sparse bins with a neighbour in params.yaml (split.stratify.bins)" in message


def test_missing_values_get_a_stratum_of_their_own(raw, config):
    frame = raw.copy()
    frame.loc[frame.index[0], NUMERIC] = np.nan
    with pytest.raises(DataValidationError, match=r"bin\(s\) outside \[-inf, inf\] or missing has 1 row\(s\)"):
        prepare.split(frame, config.split, quartile_bins(raw))


def test_more_strata_than_test_rows_is_explained_with_the_counts(raw, config):
    stratify = quartile_bins(raw)
    tiny = raw.groupby(prepare.strata_of(raw, stratify)).head(2)  # 2 rows per bin: a 20% test split has 1 or 2
    with pytest.raises(
        DataValidationError, match=r"should be greater or equal to the number of classes.*\(rows per bin: "
    ):
        prepare.split(tiny, config.split.model_copy(update={"test_size": 0.2}), stratify)


def classification_frame(tmp_path, scenario="multiclass"):
    cfg = parse_config(params_in(tmp_path, scenario))
    return cfg, load_raw(cfg.paths.raw, cfg.data)


def test_classification_stratifies_on_the_target_by_default(tmp_path):
    cfg, raw = classification_frame(tmp_path)
    train, test = prepare.prepare(raw, cfg)
    target = cfg.data.target
    overall = raw[target].value_counts(normalize=True)
    assert (test[target].value_counts(normalize=True) - overall).abs().max() <= 1 / len(test) + 1e-9
    assert set(train[target]) == set(raw[target])


def test_a_class_with_one_row_is_named(tmp_path):
    cfg, raw = classification_frame(tmp_path)
    target = cfg.data.target
    rare = raw[target].iloc[0]
    frame = pd.concat([raw[raw[target] != rare], raw[raw[target] == rare].head(1)])
    with pytest.raises(DataValidationError) as error:
        prepare.prepare(frame, cfg)
    assert f"cannot stratify the train/test split on '{target}': value(s) {rare!r} has 1 row(s)" in str(error.value)
    assert "split.stratify: none" in str(error.value)


def test_a_target_with_one_class_is_refused(tmp_path):
    cfg, raw = classification_frame(tmp_path)
    target = cfg.data.target
    only = raw[raw[target] == raw[target].iloc[0]]
    with pytest.raises(
        DataValidationError, match=rf"column {re.escape(repr(target))} \(the target\) has 1 class\(es\) .*at least two"
    ):
        prepare.prepare(only, cfg)


def test_a_test_class_never_seen_in_training_is_refused(tmp_path):
    cfg, raw = classification_frame(tmp_path)
    target = cfg.data.target
    train, test = prepare.split(raw, cfg.split, None)
    test = test.copy()
    test.loc[test.index[:2], target] = "unseen-label"
    with pytest.raises(DataValidationError, match=r"class\(es\) 'unseen-label' \(2 row\(s\)\) are in the test split"):
        prepare.check_classes(train, test, cfg.data)


def prepare_fails_on(workdir, capsys, name: str, write, **sections) -> str:
    """Run prepare on a raw file that `write(path)` creates; it must exit 1 with one error line,
    no traceback and no outputs. Returns its stderr."""
    raw = workdir / "incoming" / name
    raw.parent.mkdir()
    write(raw)
    params = params_in(workdir, **sections)
    params["paths"]["raw"] = str(raw)
    assert prepare.main(["--params", str(write_params(workdir, params))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert not (workdir / "artifacts").exists()
    return err


def test_main_fails_on_a_sparse_bin_and_writes_nothing(workdir, config, capsys):
    raw = load_raw(SAMPLE, config.data)
    stratify = quartile_bins(raw)
    top = stratify.bins[-2]
    sparse = pd.concat([raw[raw[NUMERIC] <= top], raw[raw[NUMERIC] > top].head(1)])
    split = {**params_in(workdir)["split"], "stratify": {"column": NUMERIC, "bins": stratify.bins}}
    err = prepare_fails_on(workdir, capsys, "sparse.csv", lambda path: sparse.to_csv(path, index=False), split=split)
    assert f"[prepare] error: cannot stratify the train/test split on {NUMERIC!r}" in err
    assert f"({top:g}, inf] has 1 row(s)" in err


def test_main_writes_both_splits_and_reads_them_back(params_file, workdir, capsys):
    assert prepare.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    train = prepare.read_frame(config.paths.train, config.data)
    test = prepare.read_frame(config.paths.test, config.data)
    raw = load_raw(SAMPLE, config.data)
    assert len(train) + len(test) == len(raw)
    pd.testing.assert_frame_equal(
        pd.concat([train, test]).sort_index(ignore_index=True).dtypes.to_frame(), raw.dtypes.to_frame()
    )
    err = capsys.readouterr().err
    for name, count in raw.isna().sum().items():
        if count:
            assert f"{name}: {count} missing value(s)" in err


def test_main_fails_on_bad_data_and_writes_nothing(workdir, capsys):
    lines = SAMPLE.read_text().splitlines()
    lines[5] += ",extra"
    err = prepare_fails_on(workdir, capsys, "bad.csv", lambda path: path.write_text("\n".join(lines) + "\n"))
    assert "[prepare] error:" in err
    assert "bad.csv: not a valid CSV" in err


def test_read_frame_names_the_missing_stage(config):
    with pytest.raises(prepare.cli.StageError, match="run the prepare stage first"):
        prepare.read_frame(config.paths.train, config.data)


def test_main_refuses_a_feature_empty_in_every_row(workdir, config, capsys):
    feature = features_of(config)[0]
    emptied = load_raw(SAMPLE, config.data).assign(**{feature: np.nan})
    err = prepare_fails_on(workdir, capsys, "empty.csv", lambda path: emptied.to_csv(path, index=False))
    assert f"column(s) {feature!r}: empty in every row" in err


def test_a_split_that_leaves_no_training_row_names_test_size(raw, tmp_path):
    params = params_in(tmp_path)
    params["split"].update(stratify="none", test_size=1 - 1 / (10 * len(raw)))
    config = parse_config(params)
    with pytest.raises(DataValidationError, match=r"cannot split .* rows with split.test_size 0.99"):
        prepare.split(raw, config.split, config.stratify)


def spoil_first_numeric(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    return frame.astype({column: object}).assign(**{column: "abc"})


# How a prepared split can be spoiled on disk, and what the error says about it.
SPOILED_SPLITS = {
    "empty file": (lambda path, frame, column: path.write_text(""), "cannot read it as a CSV"),
    "header only": (lambda path, frame, column: frame.head(0).to_csv(path, index=False), "no rows"),
    "text in a numeric column": (
        lambda path, frame, column: spoil_first_numeric(frame, column).to_csv(path, index=False),
        "expected numbers, found 'abc'",
    ),
    "a column removed": (
        lambda path, frame, column: frame.drop(columns=[column]).to_csv(path, index=False),
        "missing required column(s)",
    ),
    "binary": (lambda path, frame, column: path.write_bytes(bytes(range(256)) * 4), "is not what the prepare stage"),
}


@pytest.mark.parametrize("case", SPOILED_SPLITS)
def test_read_frame_names_a_spoiled_split_and_the_fix(params_file, workdir, case):
    assert prepare.main(["--params", str(params_file)]) == 0
    config = parse_config(params_in(workdir))
    spoil, expected = SPOILED_SPLITS[case]
    frame = pd.read_csv(config.paths.train)
    spoil(config.paths.train, frame, NUMERIC)
    with pytest.raises(prepare.cli.StageError, match="dvc repro --force prepare") as caught:
        prepare.read_frame(config.paths.train, config.data)
    assert str(caught.value).startswith(f"{config.paths.train}: ")
    assert expected in str(caught.value)


def test_labels_that_differ_only_in_case_or_spaces_are_found():
    column = pd.Series(["Benign", "benign ", "Malignant", None, "BENIGN", "malignant", "Other"])
    assert sorted(prepare.lookalike_labels(column)) == [["BENIGN", "Benign", "benign "], ["Malignant", "malignant"]]
    assert prepare.lookalike_labels(pd.Series(["a", "b", None])) == []


def test_main_warns_of_lookalike_labels(workdir, config, capsys):
    categorical = features_of(config, kind="categorical")
    if not categorical:
        pytest.skip("the data has no categorical feature")
    raw = load_raw(SAMPLE, config.data)
    name = categorical[0]
    label = str(raw[name].dropna().iloc[0])
    raw.loc[raw.index[-1], name] = f" {label.upper()} " if label.upper() != label else f"{label} "
    path = workdir / "incoming" / "lookalike.csv"
    path.parent.mkdir()
    raw.to_csv(path, index=False)
    params = params_in(workdir)
    params["paths"]["raw"] = str(path)
    assert prepare.main(["--params", str(write_params(workdir, params))]) == 0
    assert f"{name}: labels " in capsys.readouterr().err
