"""`make sample`: a small, deterministic sample of the raw data for the test suite (paths.sample).

The tests train and serve on it, so it must show what the data holds: every category of every
categorical column, missing values of every column that has them, the target's extremes, every
class (classification) and every stratum of the split, then seeded random rows up to `--rows`.
Commit the file; rerun after changing the data or `data` in params.yaml (the tests say so).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from mlops import artifacts, cli
from mlops.config import Config, load_config
from mlops.prepare import strata_of
from mlops.raw_data import load_raw

log = logging.getLogger(__name__)

DEFAULT_ROWS = 400
PER_VALUE = 2  # rows kept for each category and each kind of missing value
PER_GROUP = 10  # rows kept (at most) for each class and each stratum, so a split of the sample can stratify


def _first(mask: pd.Series, count: int) -> list:
    return mask[mask].index[:count].tolist()


def sample(raw: pd.DataFrame, config: Config, rows: int = DEFAULT_ROWS, seed: int = 0) -> pd.DataFrame:
    """Up to `rows` rows of `raw`, in file order, that cover what the tests need to see."""
    if len(raw) <= rows:
        return raw
    data = config.data
    chosen: list = []
    for name, spec in data.columns.items():
        column = raw[name]
        chosen += _first(column.isna(), PER_VALUE)
        if spec.type == "categorical" and name != data.target:
            for value in column.dropna().unique():
                chosen += _first(column == value, PER_VALUE)
    target = raw[data.target]
    if data.is_classification:
        for label in target.unique():
            chosen += _first(target == label, PER_GROUP)
    else:
        chosen += [target.idxmin(), target.idxmax()]
    if config.stratify is not None:
        strata = strata_of(raw, config.stratify)
        for stratum in strata.unique():
            chosen += _first(strata == stratum, PER_GROUP)
    chosen = list(dict.fromkeys(chosen))[:rows]
    rest = raw.index.difference(chosen)
    extra = np.random.default_rng(seed).choice(rest, size=min(len(rest), rows - len(chosen)), replace=False)
    return raw.loc[sorted([*chosen, *extra.tolist()])]


def main(argv: list[str] | None = None) -> int:
    parser = cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the sample (default: %(default)s)")
    args = parser.parse_args(argv)

    def work() -> None:
        config = load_config(args.params)
        if args.rows < 50:
            raise cli.StageError(f"--rows {args.rows}: a sample needs at least 50 rows to train and test on")
        raw = load_raw(config.paths.raw, config.data)
        result = sample(raw, config, rows=args.rows)
        with artifacts.atomic_path(config.paths.sample) as tmp:
            result.to_csv(tmp, index=False)
        log.info(
            "wrote %s of %s rows of %s to %s",
            f"{len(result):,}",
            f"{len(raw):,}",
            config.paths.raw,
            config.paths.sample,
        )

    return cli.run("sample", work)


if __name__ == "__main__":
    raise SystemExit(main())
