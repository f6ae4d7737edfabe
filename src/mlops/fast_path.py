"""The fitted pipeline's preprocessing as a few numpy operations, feeding its fitted estimator.

A 1-row `pipeline.predict` spends most of its time in scikit-learn's per-call machinery (input
validation, ColumnTransformer's dispatch, pandas indexing), not in arithmetic. `derive` reads
what the fitted steps learned (the imputers' `statistics_`, the scaler's `mean_` and `scale_`,
the encoder's `categories_`, the engineered ratios and rotations) and replays exactly those
operations on arrays built straight from the request's records; the estimator itself is the
fitted one, called directly. Any step it does not recognise raises `NoFastPathError`, and the
caller serves through the Pipeline instead.

`check_parity` proves the two compute the same thing: identical labels and probabilities within
PARITY_TOLERANCE (classification), values within PARITY_TOLERANCE relative (regression). The
`evaluate` stage runs it on the whole test split and saves a bounded set of rows with the
pipeline's outputs (`parity_document`), which the API checks again at startup (`verified`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops.artifacts import write_json
from mlops.config import CLASSIFICATION, Config
from mlops.features import FeatureEngineer, SelectColumns

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-9
# Rows of the test split saved with the model for the startup check (JSON, tens of KB).
PARITY_ROWS = 256
STARTUP_SMALL_ROWS = 64  # of them, checked at startup in requests of a few rows too


class NoFastPathError(ValueError):
    """The pipeline has a step (or a setting) the fast path does not replay; the message says which."""


class ParityError(RuntimeError):
    """The fast path and the pipeline disagree; the message says where and by how much."""


Op = Callable[[np.ndarray], np.ndarray]


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- one function per recognised step: what it learned, as an array operation ------------------


def _engineer(step: FeatureEngineer) -> Op:
    """Ratios and rotated coordinates, column by column as FeatureEngineer.transform computes them."""
    position = {name: i for i, name in enumerate(step.columns)}
    pairs = [(position[a], position[b]) for a, b in (step.ratios or {}).values()]
    numerators = np.array([a for a, _ in pairs], dtype=int)
    denominators = np.array([b for _, b in pairs], dtype=int)
    rotations = step.rotations
    if rotations:
        x, y = position[rotations["x"]], position[rotations["y"]]
        # One angle at a time, as FeatureEngineer does: numpy may round an array's cosines differently.
        angles = [np.deg2rad(degrees) for degrees in rotations["degrees"]]
        cosines = np.array([np.cos(angle) for angle in angles])
        sines = np.array([np.sin(angle) for angle in angles])

    def engineer(values: np.ndarray) -> np.ndarray:
        parts = [values]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if pairs:
                parts.append(values[:, numerators] / values[:, denominators])
            if rotations:
                parts.append(values[:, x, None] * cosines + values[:, y, None] * sines)
        out = np.concatenate(parts, axis=1) if len(parts) > 1 else values.copy()
        out[np.isinf(out)] = np.nan  # as FeatureEngineer: a zero denominator is missing, never infinite
        return out

    return engineer


def _imputer(step: SimpleImputer, numeric: bool) -> Op:
    if step.add_indicator:
        raise NoFastPathError("SimpleImputer(add_indicator=True)")
    if not _is_nan(step.missing_values) and step.missing_values is not None:
        raise NoFastPathError(f"SimpleImputer(missing_values={step.missing_values!r})")
    statistics = step.statistics_
    empty = [i for i, value in enumerate(statistics) if _is_nan(value) or value is None]
    if empty and not step.keep_empty_features:
        raise NoFastPathError("SimpleImputer learned no value for a column with no observed value in training")
    fill = statistics.astype(float) if numeric else statistics.astype(object)

    def impute(values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values) if numeric else values != values  # NaN is the one value unequal to itself
        return np.where(missing, fill, values) if missing.any() else values

    return impute


def _scaler(step: StandardScaler) -> Op:
    mean = step.mean_ if step.with_mean else None
    scale = step.scale_ if step.with_std else None

    def standardize(values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=float)  # a copy: the two in-place steps below are StandardScaler's
        if mean is not None:
            out -= mean
        if scale is not None:
            out /= scale
        return out

    return standardize


def _one_hot(step: OneHotEncoder) -> Op:
    if step.sparse_output:
        raise NoFastPathError("OneHotEncoder(sparse_output=True)")
    if step.drop_idx_ is not None:
        raise NoFastPathError(f"OneHotEncoder(drop={step.drop!r})")
    if getattr(step, "_infrequent_enabled", False):
        raise NoFastPathError("OneHotEncoder with infrequent categories (min_frequency / max_categories)")
    if any(_is_nan(value) or value is None for categories in step.categories_ for value in categories):
        raise NoFastPathError("OneHotEncoder with a missing value as a category")
    ignore_unknown = step.handle_unknown in ("ignore", "infrequent_if_exist", "warn")
    # The encoder looks categories up in a dict too (sklearn.utils._encode): the same equality.
    offsets = np.cumsum([0, *(len(categories) for categories in step.categories_)])
    lookups = [
        {value: int(offsets[i]) + j for j, value in enumerate(categories.tolist())}
        for i, categories in enumerate(step.categories_)
    ]
    width, dtype = int(offsets[-1]), step.dtype

    def encode(values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(values), width), dtype=dtype)
        for column, lookup in enumerate(lookups):
            for row, value in enumerate(values[:, column].tolist()):
                position = lookup.get(value)
                if position is not None:
                    out[row, position] = 1
                elif not ignore_unknown:
                    raise ValueError(f"Found unknown categories [{value!r}] in column {column} during transform")
        return out

    return encode


def _operation(step, numeric: bool) -> Op:
    if isinstance(step, FeatureEngineer) and numeric:
        return _engineer(step)
    if isinstance(step, SimpleImputer):
        return _imputer(step, numeric)
    if isinstance(step, StandardScaler) and numeric:
        return _scaler(step)
    if isinstance(step, OneHotEncoder) and not numeric:
        return _one_hot(step)
    kind = "numeric" if numeric else "categorical"
    raise NoFastPathError(f"{type(step).__name__} in the {kind} branch has no fast path")


@dataclass(frozen=True)
class Branch:
    """One ColumnTransformer branch: which inputs it reads (by name) and its operations in order."""

    name: str
    columns: tuple[str, ...]
    numeric: bool  # its input is numbers (floats, NaN for missing) or categories (objects)
    operations: tuple[Op, ...]
    width: int  # output columns


# --- the estimator: HistGradientBoosting's trees all at once, anything else as fitted ---------------

# Up to this many rows, all trees walk in lockstep as numpy arrays (one pass per tree level);
# larger batches go to scikit-learn's own Cython loop over the trees, which is faster there.
LOCKSTEP_MAX_ROWS = 16


class LockstepTrees:
    """A fitted HistGradientBoosting model's trees as flat arrays, evaluated together.

    scikit-learn scores one tree per call: for one row, ~600 calls of per-call overhead. Here each
    tree level is a handful of numpy operations over every tree at once. The leaves are summed in
    the model's order (baseline, then tree 1, 2, ...) and the model's own link or loss turns the
    sum into its prediction, so the result is the model's, to the last bit.
    """

    def __init__(self, model):
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise NoFastPathError(f"{type(model).__name__} with native categorical features")
        per_iteration = model.n_trees_per_iteration_
        nodes = [predictor.nodes for iteration in model._predictors for predictor in iteration]
        if any(tree["is_categorical"].any() for tree in nodes):
            raise NoFastPathError(f"{type(model).__name__} with categorical splits")
        sizes = np.array([len(tree) for tree in nodes])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        flat = np.concatenate(nodes)
        own = np.arange(len(flat), dtype=np.intp)
        shift = np.repeat(offsets, sizes)
        leaf = flat["is_leaf"].astype(bool)
        # Node i's children at 2i (right) and 2i + 1 (left); a leaf's are itself, so extra passes
        # leave a finished tree where it is.
        children = np.empty(2 * len(flat), dtype=np.intp)
        children[0::2] = np.where(leaf, own, flat["right"].astype(np.intp) + shift)
        children[1::2] = np.where(leaf, own, flat["left"].astype(np.intp) + shift)
        self._children = children
        self._feature = np.where(leaf, 0, flat["feature_idx"]).astype(np.intp)
        self._threshold = flat["num_threshold"]
        self._missing_left = flat["missing_go_to_left"].astype(bool)
        self._leaf = leaf
        self._value = flat["value"]
        self._roots = offsets.astype(np.intp)
        self._levels = int(flat["depth"].max())
        self._iterations = len(model._predictors)
        self._per_iteration = per_iteration
        self._baseline = np.asarray(model._baseline_prediction, dtype=float).reshape(1, 1, per_iteration)
        self._model = model

    def raw(self, features: np.ndarray) -> np.ndarray:
        """The sum of the leaves (plus the baseline), shape (rows, trees per iteration)."""
        features = np.ascontiguousarray(features, dtype=float)
        rows, width = features.shape
        values = features.ravel()
        row_start = (np.arange(rows, dtype=np.intp) * width)[:, None]
        missing = bool(np.isnan(values).any())
        node = np.broadcast_to(self._roots, (rows, len(self._roots)))
        for level in range(self._levels):
            value = values[row_start + self._feature[node]]
            left = value <= self._threshold[node]  # NaN compares False: it goes right unless...
            if missing:  # ...the split sends missing values left
                left |= np.isnan(value) & self._missing_left[node]
            node = self._children[2 * node + left]
            if level % 4 == 3 and self._leaf[node].all():
                break
        leaves = self._value[node].reshape(rows, self._iterations, self._per_iteration)
        terms = np.concatenate([np.broadcast_to(self._baseline, (rows, 1, self._per_iteration)), leaves], axis=1)
        return np.cumsum(terms, axis=1)[:, -1, :]  # cumsum adds in order, as the model does

    def predict(self, features: np.ndarray) -> np.ndarray:
        if len(features) > LOCKSTEP_MAX_ROWS:
            return self._model.predict(features)
        return self._model._loss.link.inverse(self.raw(features).ravel())

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if len(features) > LOCKSTEP_MAX_ROWS:
            return self._model.predict_proba(features)
        return self._model._loss.predict_proba(self.raw(features))


def _model_call(estimator, classification: bool) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The estimator's predict (or predict_proba), with HistGradientBoosting's trees in lockstep."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    method = "predict_proba" if classification else "predict"
    if isinstance(estimator, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        try:
            return getattr(LockstepTrees(estimator), method), "trees in lockstep"
        except (NoFastPathError, AttributeError, KeyError, ValueError) as error:
            reason = error if isinstance(error, NoFastPathError) else f"unexpected internals ({error!r})"
            return getattr(estimator, method), f"its own {method} ({reason})"
    return getattr(estimator, method), f"its own {method}"


@dataclass(frozen=True)
class FastPath:
    """Records in, the fitted estimator's output (values, or class probabilities) out."""

    names: tuple[str, ...]  # the pipeline's input features, in order
    branches: tuple[Branch, ...]
    estimator: object
    classification: bool
    model_call: Callable[[np.ndarray], np.ndarray]
    model_path: str  # how the estimator is called, for /metadata

    def transform(self, records: Sequence[dict]) -> np.ndarray:
        """The preprocessed matrix the pipeline's estimator sees for these (validated) records."""
        parts = []
        for branch in self.branches:
            if branch.numeric:  # None (missing) becomes NaN, as in the frame the pipeline reads
                values = np.array([[record.get(name) for name in branch.columns] for record in records], dtype=float)
            else:
                values = np.array(
                    [[_missing_as_nan(record.get(name)) for name in branch.columns] for record in records],
                    dtype=object,
                )
            for operation in branch.operations:
                values = operation(values)
            parts.append(values)
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def predict(self, records: Sequence[dict]) -> np.ndarray:
        """Regression: predicted values; classification: probabilities, one column per class."""
        features = self.transform(records)
        # The matrix is built from validated input: skip sklearn's repeated finiteness and parameter checks.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self.model_call(features)


def _missing_as_nan(value):
    return np.nan if value is None else value


def derive(pipeline, task: str) -> FastPath:
    """The fast path of a pipeline as `mlops.features.build_pipeline` builds it, once fitted.

    Raises NoFastPathError, naming the step, for anything else (the caller then serves the Pipeline).
    """
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 3:
        raise NoFastPathError(f"not the template's 3-step pipeline: {type(pipeline).__name__}")
    (_, select), (_, preprocess), (_, estimator) = pipeline.steps
    if not isinstance(select, SelectColumns):
        raise NoFastPathError(f"first step is {type(select).__name__}, not SelectColumns")
    if not isinstance(preprocess, ColumnTransformer):
        raise NoFastPathError(f"second step is {type(preprocess).__name__}, not ColumnTransformer")
    if getattr(preprocess, "sparse_output_", False):
        raise NoFastPathError("ColumnTransformer with sparse output")
    if hasattr(estimator, "feature_names_in_"):
        raise NoFastPathError(f"{type(estimator).__name__} was fitted on named columns (a DataFrame)")
    classification = task == CLASSIFICATION
    needed = "predict_proba" if classification else "predict"
    if not hasattr(estimator, needed):
        raise NoFastPathError(f"{type(estimator).__name__} has no {needed}")
    names = tuple(select.columns)
    branches = []
    for name, transformer, columns in preprocess.transformers_:
        if len(columns) == 0 or transformer == "drop":
            continue
        branches.append(_branch(name, transformer, [names[i] for i in _positions(columns, names)]))
    width = sum(branch.width for branch in branches)
    expected = getattr(estimator, "n_features_in_", width)
    if width != expected:
        raise NoFastPathError(f"the branches give {width} columns but {type(estimator).__name__} expects {expected}")
    call, how = _model_call(estimator, classification)
    return FastPath(
        names=names,
        branches=tuple(branches),
        estimator=estimator,
        classification=classification,
        model_call=call,
        model_path=f"{type(estimator).__name__}: {how}",
    )


def _positions(columns, names: tuple[str, ...]) -> list[int]:
    if isinstance(columns, slice) or not all(isinstance(c, int | np.integer) for c in columns):
        raise NoFastPathError(f"ColumnTransformer columns given as {columns!r}, not positions")
    return [int(c) for c in columns]


def _branch(name: str, transformer, columns: list[str]) -> Branch:
    if not isinstance(transformer, Pipeline):
        raise NoFastPathError(f"ColumnTransformer branch {name!r} is {type(transformer).__name__}, not a Pipeline")
    steps = [step for _, step in transformer.steps if step not in (None, "passthrough")]
    # A branch that starts by engineering or scaling numbers reads numbers; one that one-hot encodes
    # reads categories. That is how build_pipeline's two branches differ.
    numeric = not any(isinstance(step, OneHotEncoder) for step in steps)
    operations = tuple(_operation(step, numeric) for step in steps)
    # The output width, from the fitted steps: what the last one produces.
    probe = _probe_width(operations, len(columns), numeric)
    return Branch(name=name, columns=tuple(columns), numeric=numeric, operations=operations, width=probe)


def _probe_width(operations: tuple[Op, ...], n_columns: int, numeric: bool) -> int:
    """Run the operations on one all-missing row: the number of columns they output."""
    values = np.full((1, n_columns), np.nan, dtype=float if numeric else object)
    try:
        for operation in operations:
            values = operation(values)
    except (ValueError, TypeError, IndexError) as error:
        raise NoFastPathError(f"the branch fails on a row of missing values ({error})") from None
    return values.shape[1]


# --- parity: the fast path against the pipeline ---------------------------------------------------


def records_of(frame: pd.DataFrame, names: Sequence[str]) -> list[dict]:
    """A frame's rows as the API receives them after validation: plain values, None for missing."""
    columns = {name: frame[name].tolist() for name in names}
    return [
        {name: (None if _is_missing(values[i]) else values[i]) for name, values in columns.items()}
        for i in range(len(frame))
    ]


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or _is_nan(value)


@dataclass(frozen=True)
class Parity:
    rows: int
    max_difference: float  # regression: relative; classification: absolute, of the probabilities
    label_mismatches: int  # classification: rows whose predicted label differs
    worst_row: int | None  # where the largest difference (or first label mismatch) is

    @property
    def ok(self) -> bool:
        return self.label_mismatches == 0 and self.max_difference <= PARITY_TOLERANCE

    def describe(self, task: str) -> str:
        if task == CLASSIFICATION:
            what = f"{self.label_mismatches} label(s) differ, probabilities differ by up to {self.max_difference:.3g}"
        else:
            what = f"values differ by up to {self.max_difference:.3g} relative"
        return f"{what} on {self.rows:,} rows (tolerance {PARITY_TOLERANCE:g}; worst: row {self.worst_row})"


def compare(fast: np.ndarray, reference: np.ndarray, task: str) -> Parity:
    """How far the fast path's outputs are from the pipeline's (the same shape)."""
    fast, reference = np.asarray(fast, dtype=float), np.asarray(reference, dtype=float)
    if fast.shape != reference.shape:
        return Parity(len(reference), math.inf, len(reference), 0)
    both_nan = np.isnan(fast) & np.isnan(reference)
    if task == CLASSIFICATION:
        difference = np.where(both_nan, 0.0, np.abs(fast - reference))
        mismatched = np.flatnonzero(np.argmax(fast, axis=1) != np.argmax(reference, axis=1))
        per_row = difference.max(axis=1) if difference.size else np.zeros(len(reference))
    else:
        scale = np.maximum(np.abs(fast), np.abs(reference))
        with np.errstate(invalid="ignore", divide="ignore"):
            per_row = np.where(both_nan | (fast == reference), 0.0, np.abs(fast - reference) / scale)
        mismatched = np.array([], dtype=int)
    per_row = np.where(np.isnan(per_row), math.inf, per_row)  # NaN on one side only: a disagreement
    worst = int(mismatched[0]) if len(mismatched) else (int(np.argmax(per_row)) if len(per_row) else None)
    return Parity(len(reference), float(per_row.max(initial=0.0)), len(mismatched), worst)


def pipeline_output(pipeline, frame: pd.DataFrame, task: str) -> np.ndarray:
    """What the API serves through the Pipeline: values, or class probabilities."""
    return pipeline.predict_proba(frame) if task == CLASSIFICATION else pipeline.predict(frame)


def fast_outputs(fast: FastPath, records: Sequence[dict], small: int | None = None) -> list[tuple[np.ndarray, slice]]:
    """The fast path's outputs for `records` both ways the API calls it, with the rows each covers:
    the first `small` rows (default all) in requests of a few rows, and every row in one batch."""
    head = records[: len(records) if small is None else small]
    step = LOCKSTEP_MAX_ROWS
    parts = [fast.predict(head[i : i + step]) for i in range(0, len(head), step)]
    batch = fast.predict(records)
    return ([(np.concatenate(parts), slice(0, len(head)))] if parts else []) + [(batch, slice(0, len(records)))]


def worst(parities: Sequence[Parity]) -> Parity:
    return max(parities, key=lambda parity: (parity.label_mismatches, parity.max_difference))


def compare_all(fast: FastPath, records: Sequence[dict], reference: np.ndarray, task: str, small: int | None = None):
    """The worst disagreement of the fast path, called both ways, with the reference outputs."""
    reference = np.asarray(reference, dtype=float)
    return worst([compare(out, reference[rows], task) for out, rows in fast_outputs(fast, records, small)])


def check_parity(fast: FastPath, pipeline, frame: pd.DataFrame, task: str) -> Parity:
    """The fast path on `frame`'s rows (as records) against `pipeline` on the frame itself."""
    return compare_all(fast, records_of(frame, fast.names), pipeline_output(pipeline, frame, task), task)


def parity_rows(frame: pd.DataFrame, names: Sequence[str], limit: int = PARITY_ROWS, seed: int = 0) -> pd.DataFrame:
    """At most `limit` rows for the startup check: rows with each column's missing values and each
    category first (where the fast path has branches), then a seeded sample of the rest."""
    chosen: list = []
    for name in names:
        column = frame[name]
        chosen += list(column.index[column.isna()][:4])
        if column.dtype == object or isinstance(column.dtype, pd.StringDtype | pd.CategoricalDtype):
            chosen += list(column.dropna().drop_duplicates().index)
    chosen = list(dict.fromkeys(chosen))[:limit]
    rest = frame.index.difference(chosen)
    extra = min(limit - len(chosen), len(rest))
    if extra > 0:
        chosen += list(pd.Series(rest).sample(extra, random_state=seed))
    return frame.loc[sorted(chosen, key=frame.index.get_loc)]


def parity_document(pipeline, frame: pd.DataFrame, task: str, model_version: str) -> dict:
    """The train-time check on every row of `frame` and the rows (with the pipeline's outputs) that
    the API checks again at startup. A pipeline without a fast path, or one that disagrees, is
    recorded as such: the API then serves the Pipeline (and says why in /metadata)."""
    document: dict = {"model_version": model_version, "task": task, "tolerance": PARITY_TOLERANCE}
    try:
        fast = derive(pipeline, task)
    except NoFastPathError as error:
        return {**document, "fast_path": {"enabled": False, "reason": f"no fast path: {error}"}}
    parity = check_parity(fast, pipeline, frame, task)
    check = {"rows": parity.rows, "max_difference": parity.max_difference, "label_mismatches": parity.label_mismatches}
    if not parity.ok:
        reason = f"the fast path disagrees with the pipeline on the test split: {parity.describe(task)}"
        return {**document, "fast_path": {"enabled": False, "reason": reason, "test_split": check}}
    sample = parity_rows(frame, fast.names)
    outputs = np.asarray(pipeline_output(pipeline, sample, task), dtype=float)
    finite = np.isfinite(outputs) if outputs.ndim == 1 else np.isfinite(outputs).all(axis=1)
    sample, outputs = sample[finite], outputs[finite]  # JSON has no NaN; the API refuses such rows anyway
    return {
        **document,
        "fast_path": {"enabled": True, "reason": None, "test_split": check},
        "rows": records_of(sample, fast.names),
        "outputs": outputs.tolist(),
    }


def save_parity(pipeline, frame: pd.DataFrame, config: Config, model_version: str) -> dict:
    """The `evaluate` stage's check on the test split, written to paths.parity for the API.

    A disagreement does not fail the stage: a fork cannot fix src/, and the Pipeline is right by
    definition. The fast path is switched off instead, with a warning here and the reason in the
    API's /metadata. (The test suite fails on it, for this template's own pipelines.)
    """
    document = parity_document(pipeline, frame[list(config.data.features)], config.data.task, model_version)
    status = document["fast_path"]
    if status["enabled"]:
        log.info("fast path matches the pipeline on %s test rows", f"{status['test_split']['rows']:,}")
    else:
        log.warning("fast path off, the API will predict through the Pipeline: %s", status["reason"])
    write_json(config.paths.parity, document)
    return document


def verified(pipeline, task: str, document: dict | None, model_version: str) -> tuple[FastPath | None, dict]:
    """At startup: the fast path, if the saved parity rows say it holds for this very model and it
    still reproduces their outputs; else None. Either way, a status for /metadata."""

    def off(reason: str) -> tuple[None, dict]:
        return None, {"enabled": False, "reason": reason}

    if document is None:
        return off("the bundle has no parity rows (paths.parity); rerun the pipeline (make pipeline) to enable it")
    if document.get("model_version") != model_version:
        return off(f"the parity rows are for model {document.get('model_version')}, not {model_version}")
    recorded = document.get("fast_path") or {}
    if not recorded.get("enabled"):
        return off(recorded.get("reason") or "disabled at training")
    try:
        fast = derive(pipeline, task)
        rows, expected = document["rows"], np.asarray(document["outputs"], dtype=float)
        # Few-row requests on a quarter of the rows: startup time counts at 0.1 CPU.
        parity = compare_all(fast, rows, expected, task, small=STARTUP_SMALL_ROWS)
    except (NoFastPathError, KeyError, TypeError, ValueError) as error:
        return off(f"cannot check the fast path at startup: {type(error).__name__}: {error}")
    if not parity.ok:
        return off(f"the fast path disagrees with the saved outputs at startup: {parity.describe(task)}")
    return fast, {
        "enabled": True,
        "reason": None,
        "model_call": fast.model_path,
        "startup_rows": len(rows),
        "startup_max_difference": parity.max_difference,
        "test_split": recorded.get("test_split"),
    }
