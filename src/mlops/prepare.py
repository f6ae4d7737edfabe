"""Stage `prepare`: validate the raw data and split it into train and test sets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlops import artifacts, cli
from mlops.config import Config, DataConfig, SplitConfig, StratifyConfig, load_config
from mlops.raw_data import DataValidationError, check_frame, coerce, load_raw

log = logging.getLogger(__name__)

# sklearn's stratified split needs every stratum in both halves, so at least two rows each.
MIN_STRATUM_ROWS = 2


def _stratum_label(stratum, config: StratifyConfig) -> str:
    """A stratum as params.yaml names it: a bin (the first includes its lower edge) or a value."""
    if config.bins is None:
        return repr(stratum) if not (isinstance(stratum, float) and np.isnan(stratum)) else "missing"
    bins, stratum = config.bins, int(stratum)
    if stratum < 0:
        return f"outside [{bins[0]:g}, {bins[-1]:g}] or missing"
    opening = "[" if stratum == 0 else "("
    return f"{opening}{bins[stratum]:g}, {bins[stratum + 1]:g}]"


def _stratify_error(strata: pd.Series, config: StratifyConfig, detail: str | None = None) -> DataValidationError:
    """A stratified split the data is too sparse for: name the strata, their row counts and the fix."""
    counts = strata.value_counts().sort_index()
    kind = "bin" if config.bins is not None else "value"
    if detail is None:
        sparse = counts[counts < MIN_STRATUM_ROWS]
        shown = ", ".join(f"{_stratum_label(s, config)} has {n} row(s)" for s, n in sparse.items())
        problem = f"{kind}(s) {shown}; each {kind} needs at least {MIN_STRATUM_ROWS}"
    else:
        shown = ", ".join(f"{_stratum_label(s, config)}: {n}" for s, n in counts.items())
        problem = f"{detail} (rows per {kind}: {shown})"
    fix = (
        "Merge sparse bins with a neighbour in params.yaml (split.stratify.bins), or remove split.stratify"
        if config.bins is not None
        else "Add rows of the rare value(s), drop them from the data, or set split.stratify: none"
    )
    return DataValidationError(f"cannot stratify the train/test split on {config.column!r}: {problem}. {fix}")


def strata_of(frame: pd.DataFrame, config: StratifyConfig) -> pd.Series:
    """Each row's stratum: its bin index (-1 outside the bins or missing) or its value."""
    column = frame[config.column]
    if config.bins is None:
        return column.astype(object).where(column.notna(), "<missing>")
    strata = pd.cut(column, bins=config.bins, labels=False, include_lowest=True)
    # A value outside the bins (or missing) gets its own stratum rather than being dropped.
    return strata.fillna(-1).astype(int)


def split(
    frame: pd.DataFrame, config: SplitConfig, stratify: StratifyConfig | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified on `stratify` when given."""
    if stratify is None:
        try:
            train, test = train_test_split(frame, test_size=config.test_size, random_state=config.seed)
        except ValueError as error:  # e.g. a test_size that leaves no training row: sklearn's words
            raise DataValidationError(
                f"cannot split {len(frame):,} rows with split.test_size {config.test_size:g}: {error}"
            ) from None
        return train.sort_index(), test.sort_index()
    strata = strata_of(frame, stratify)
    if (strata.value_counts() < MIN_STRATUM_ROWS).any():
        raise _stratify_error(strata, stratify)
    try:
        train, test = train_test_split(frame, test_size=config.test_size, random_state=config.seed, stratify=strata)
    except ValueError as error:  # e.g. fewer test rows than strata: sklearn's words, with the counts
        raise _stratify_error(strata, stratify, detail=str(error).rstrip(".")) from None
    return train.sort_index(), test.sort_index()


def check_classes(train: pd.DataFrame, test: pd.DataFrame, data: DataConfig) -> None:
    """Classification needs two classes to learn, and no test label the model never saw."""
    target = data.target
    classes = train[target].value_counts()
    if len(classes) < 2:
        only = ", ".join(repr(label) for label in classes.index) or "none"
        raise DataValidationError(
            f"column {target!r} (the target) has {len(classes)} class(es) in the training split ({only}): "
            "classification needs at least two (data.task: classification)"
        )
    unseen = sorted(set(test[target]) - set(classes.index), key=str)
    if unseen:
        shown = ", ".join(f"{label!r} ({int((test[target] == label).sum())} row(s))" for label in unseen)
        raise DataValidationError(
            f"column {target!r} (the target): class(es) {shown} are in the test split but never in training; "
            "stratify on the target (remove split.stratify) or drop those rows"
        )


def lookalike_labels(column: pd.Series) -> list[list[str]]:
    """Groups of a text column's labels that differ only in case or surrounding spaces ('Benign',
    'benign ', ...): to the model they are different categories, which is seldom what was meant."""
    groups: dict[str, set[str]] = {}
    for label in column.dropna().unique():
        groups.setdefault(str(label).strip().casefold(), set()).add(str(label))
    return [sorted(labels) for labels in groups.values() if len(labels) > 1]


def check_features_have_values(raw: pd.DataFrame, data: DataConfig) -> None:
    """A feature with no value in any row gives the model nothing to learn (and imputation nothing to fill)."""
    empty = [name for name in data.features if raw[name].isna().all()]
    if empty:
        raise DataValidationError(
            f"column(s) {', '.join(map(repr, empty))}: empty in every row; the model cannot learn from a feature "
            "with no values. Fill it, or remove it from data.columns in params.yaml"
        )


def prepare(raw: pd.DataFrame, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole stage without I/O: validated raw frame in, train and test frames out."""
    check_features_have_values(raw, config.data)
    train, test = split(raw, config.split, config.stratify)
    if config.data.is_classification:
        check_classes(train, test, config.data)
    return train, test


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with artifacts.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_frame(path: Path, data: DataConfig) -> pd.DataFrame:
    """Read a prepared split with the dtypes the schema declares (text stays text: 'NA' is a label)."""
    if not Path(path).exists():
        raise cli.StageError(f"{path}: not found; run the prepare stage first (dvc repro)")
    rerun = "it is not what the prepare stage writes; run it again (dvc repro --force prepare)"
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (ValueError, UnicodeDecodeError) as error:  # empty, binary, or not a CSV
        raise cli.StageError(f"{path}: cannot read it as a CSV ({error}); {rerun}") from None
    problems = check_frame(frame, data)
    if problems or frame.empty:
        raise cli.StageError(f"{path}: {'; '.join(problems) or 'no rows'}; {rerun}")
    return coerce(frame, data)


def main(argv: list[str] | None = None) -> int:
    args = cli.parser(__doc__).parse_args(argv)

    def work() -> None:
        config = load_config(args.params)
        raw = load_raw(config.paths.raw, config.data)
        log.info("read %s rows x %s columns from %s", f"{len(raw):,}", raw.shape[1], config.paths.raw)
        missing = raw.isna().sum()
        for name, count in missing[missing > 0].items():
            log.info("  %s: %s missing value(s), imputed in training", name, f"{count:,}")
        for name, spec in config.data.columns.items():
            if spec.type == "categorical":
                for labels in lookalike_labels(raw[name]):
                    log.warning(
                        "  %s: labels %s differ only in case or spaces: kept apart", name, ", ".join(map(repr, labels))
                    )
        if config.data.is_classification:
            shares = raw[config.data.target].value_counts(normalize=True)
            shown = ", ".join(f"{label!r} {share:.1%}" for label, share in shares.head(10).items())
            more = f" and {len(shares) - 10} more" if len(shares) > 10 else ""
            log.info("  %s classes of %s: %s%s", len(shares), config.data.target, shown, more)
        train, test = prepare(raw, config)
        write_frame(train, config.paths.train)
        write_frame(test, config.paths.test)
        share = np.round(100 * len(test) / len(raw), 1)
        log.info(
            "wrote %s train rows to %s and %s test rows (%s%%) to %s",
            f"{len(train):,}",
            config.paths.train,
            f"{len(test):,}",
            share,
            config.paths.test,
        )

    return cli.run("prepare", work)


if __name__ == "__main__":
    raise SystemExit(main())
