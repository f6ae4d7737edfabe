"""Stage `prepare`: validate the raw data and split it into train and test sets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mlops import artifacts, cli
from mlops.config import Config, DataConfig, SplitConfig, StratifyConfig, load_config
from mlops.raw_data import DataValidationError, coerce, load_raw

log = logging.getLogger(__name__)

# sklearn's stratified split needs every stratum in both halves, so at least two rows each.
MIN_STRATUM_ROWS = 2


def _bin_label(stratum: int, bins: list[float]) -> str:
    """A stratum's income bin as written in params.yaml (the first bin includes its lower edge)."""
    if stratum < 0:
        return f"outside [{bins[0]:g}, {bins[-1]:g}] or missing"
    opening = "[" if stratum == 0 else "("
    return f"{opening}{bins[stratum]:g}, {bins[stratum + 1]:g}]"


def _stratify_error(strata: pd.Series, config: StratifyConfig, detail: str | None = None) -> DataValidationError:
    """A stratified split the data is too sparse for: name the bins, their row counts and the fix."""
    counts = strata.value_counts().sort_index()
    if detail is None:
        sparse = counts[counts < MIN_STRATUM_ROWS]
        shown = ", ".join(f"{_bin_label(int(s), config.bins)} has {n} row(s)" for s, n in sparse.items())
        problem = f"bin(s) {shown}; each bin needs at least {MIN_STRATUM_ROWS}"
    else:
        shown = ", ".join(f"{_bin_label(int(s), config.bins)}: {n}" for s, n in counts.items())
        problem = f"{detail} (rows per bin: {shown})"
    return DataValidationError(
        f"cannot stratify the train/test split on {config.column!r}: {problem}. Merge sparse bins with a "
        "neighbour in params.yaml (split.stratify.bins), or remove split.stratify"
    )


def split(frame: pd.DataFrame, config: SplitConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified on the binned column when configured."""
    if not config.stratify:
        train, test = train_test_split(frame, test_size=config.test_size, random_state=config.seed)
        return train.sort_index(), test.sort_index()
    strata = pd.cut(frame[config.stratify.column], bins=config.stratify.bins, labels=False, include_lowest=True)
    # A value outside the bins (or missing) gets its own stratum rather than being dropped.
    strata = strata.fillna(-1).astype(int)
    if (strata.value_counts() < MIN_STRATUM_ROWS).any():
        raise _stratify_error(strata, config.stratify)
    try:
        train, test = train_test_split(frame, test_size=config.test_size, random_state=config.seed, stratify=strata)
    except ValueError as error:  # e.g. fewer test rows than bins: sklearn's words, with the counts
        raise _stratify_error(strata, config.stratify, detail=str(error).rstrip(".")) from None
    return train.sort_index(), test.sort_index()


def prepare(raw: pd.DataFrame, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole stage without I/O: validated raw frame in, train and test frames out."""
    return split(raw, config.split)


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    with artifacts.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_frame(path: Path, data: DataConfig) -> pd.DataFrame:
    """Read a prepared split with the dtypes the schema declares (text stays text: 'NA' is a label)."""
    if not Path(path).exists():
        raise cli.StageError(f"{path}: not found; run the prepare stage first (dvc repro)")
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
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
