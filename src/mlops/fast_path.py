"""The fitted pipeline's preprocessing and boosted trees as a few numpy operations.

A 1-row `pipeline.predict` spends most of its time in scikit-learn's per-call machinery (input
validation, ColumnTransformer's dispatch, pandas indexing, one Python call per boosted tree), not
in arithmetic. `derive` reads what the fitted steps learned (the imputers' `statistics_`, the
scaler's `mean_` and `scale_`, the encoder's `categories_`, the engineered ratios and rotations,
and a HistGradientBoosting model's trees) and replays exactly those operations on arrays built
straight from the request's records. Any other estimator is the fitted one, called directly. A
step it does not recognise raises `NoFastPathError`, and the caller serves the Pipeline instead.

What `derive` finds is saved as plain arrays (`save`, paths.fast_path), so the API can `load`
it with numpy alone: when the estimator is boosted trees, serving never imports scikit-learn,
scipy or pandas, nor unpickles the Pipeline (a cold start at 0.1 CPU is mostly those imports).

`check_parity` proves the fast path computes what the Pipeline computes: identical labels and
probabilities within PARITY_TOLERANCE (classification), values within PARITY_TOLERANCE relative
(regression). The `evaluate` stage runs it on the whole test split, with the fast path as loaded
back from its file, and saves a bounded set of rows with the Pipeline's outputs
(`parity_document`), which the API checks again at startup (`verified`).
"""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mlops.artifacts import atomic_path, write_json
from mlops.config import CLASSIFICATION

if TYPE_CHECKING:  # scikit-learn and pandas are imported only where a Pipeline is at hand
    import pandas as pd

    from mlops.config import Config

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-9
# Rows of the test split saved with the model for the startup check (JSON, tens of KB).
PARITY_ROWS = 256
STARTUP_SMALL_ROWS = 64  # of them, checked at startup in requests of a few rows too
# Trees walk in lockstep over at most this many rows at once (larger batches go in slices):
# past it the arrays outgrow the CPU cache and a row costs more.
LOCKSTEP_MAX_ROWS = 16


class NoFastPathError(ValueError):
    """The pipeline has a step (or a setting) the fast path does not replay; the message says which."""


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


# --- the operations: what a fitted step learned, and how it transforms an array ----------------
# Each holds only arrays (saved and loaded with numpy) and replays its step's arithmetic in the
# step's own order, so the result is the step's to the last bit.


@dataclass(frozen=True, eq=False)
class Engineer:
    """FeatureEngineer: the numbers, then ratios (numerator / denominator), then rotated coordinates."""

    numerators: np.ndarray  # column positions
    denominators: np.ndarray
    axes: np.ndarray  # [x, y] positions, empty without rotations
    cosines: np.ndarray
    sines: np.ndarray

    def __call__(self, values: np.ndarray) -> np.ndarray:
        parts = [values]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if len(self.numerators):
                parts.append(values[:, self.numerators] / values[:, self.denominators])
            if len(self.axes):
                x, y = self.axes
                parts.append(values[:, x, None] * self.cosines + values[:, y, None] * self.sines)
        out = np.concatenate(parts, axis=1) if len(parts) > 1 else values.copy()
        out[np.isinf(out)] = np.nan  # as FeatureEngineer: a zero denominator is missing, never infinite
        return out


@dataclass(frozen=True, eq=False)
class Impute:
    """SimpleImputer: each missing value (NaN) becomes its column's learned statistic."""

    fill: np.ndarray  # floats (numbers) or strings (categories)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        missing = np.isnan(values) if values.dtype.kind == "f" else values != values  # NaN is unequal to itself
        if not missing.any():
            return values
        return np.where(missing, self.fill if values.dtype.kind == "f" else self.fill.astype(object), values)


@dataclass(frozen=True, eq=False)
class Standardize:
    """StandardScaler: subtract the mean, then divide by the scale (each when the scaler learned it)."""

    mean: np.ndarray  # empty: not centred
    scale: np.ndarray  # empty: not scaled

    def __call__(self, values: np.ndarray) -> np.ndarray:
        out = np.array(values, dtype=float)  # a copy: the two in-place steps below are StandardScaler's
        if len(self.mean):
            out -= self.mean
        if len(self.scale):
            out /= self.scale
        return out


@dataclass(frozen=True, eq=False)
class OneHot:
    """OneHotEncoder (dense, no dropped or infrequent categories): a 1 in each value's category column."""

    categories: tuple[np.ndarray, ...]  # per input column, as the encoder learned them
    ignore_unknown: np.ndarray  # 0-d bool: an unknown category is all zeros (else an error)
    lookups: tuple[dict, ...] = field(init=False, repr=False)
    width: int = field(init=False)

    def __post_init__(self):
        offsets = np.cumsum([0, *(len(categories) for categories in self.categories)])
        # The encoder looks categories up in a dict too (sklearn.utils._encode): the same equality.
        lookups = tuple(
            {value: int(offsets[i]) + j for j, value in enumerate(categories.tolist())}
            for i, categories in enumerate(self.categories)
        )
        object.__setattr__(self, "lookups", lookups)
        object.__setattr__(self, "width", int(offsets[-1]))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((len(values), self.width))
        for column, lookup in enumerate(self.lookups):
            for row, value in enumerate(values[:, column].tolist()):
                position = lookup.get(value)
                if position is not None:
                    out[row, position] = 1
                elif not self.ignore_unknown:
                    raise ValueError(f"Found unknown categories [{value!r}] in column {column} during transform")
        return out


OPERATIONS = {cls.__name__: cls for cls in (Engineer, Impute, Standardize, OneHot)}


@dataclass(frozen=True, eq=False)
class Branch:
    """One ColumnTransformer branch: the inputs it reads (by name) and its operations in order."""

    columns: tuple[str, ...]
    numeric: bool  # its input is numbers (floats, NaN for missing) or categories (objects)
    operations: tuple

    def transform(self, records: Sequence[dict]) -> np.ndarray:
        if self.numeric:  # None (missing) becomes NaN, as in the frame the Pipeline reads
            values = np.array([[record.get(name) for name in self.columns] for record in records], dtype=float)
        else:
            values = np.array(
                [[_missing_as_nan(record.get(name)) for name in self.columns] for record in records], dtype=object
            )
        for operation in self.operations:
            values = operation(values)
        return values


def _missing_as_nan(value):
    return np.nan if value is None else value


# --- the estimator: HistGradientBoosting's trees all at once, anything else as fitted ---------------


def _logistic(raw: np.ndarray) -> np.ndarray:
    """HalfBinomialLoss.predict_proba: [1 - p, p], p the logistic of the raw score."""
    positive = 1.0 / (1.0 + np.exp(-raw[:, 0]))
    return np.column_stack([1 - positive, positive])


def _softmax(raw: np.ndarray) -> np.ndarray:
    """sklearn.utils.extmath.softmax, step for step."""
    out = raw - raw.max(axis=1).reshape(-1, 1)
    np.exp(out, out=out)
    out /= out.sum(axis=1).reshape(-1, 1)
    return out


# The model's link (inverse), by the name of its class in sklearn._loss.link.
LINKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "IdentityLink": lambda raw: raw.ravel(),
    "LogLink": lambda raw: np.exp(raw.ravel()),
    "LogitLink": _logistic,
    "MultinomialLogit": _softmax,
}


@dataclass(frozen=True, eq=False)
class LockstepTrees:
    """A fitted HistGradientBoosting model's trees as flat arrays, evaluated together.

    scikit-learn scores one tree per call: for one row, ~600 calls of per-call overhead. Here each
    tree level is a handful of numpy operations over every tree at once. The leaves are summed in
    the model's order (baseline, then tree 1, 2, ...) and the model's link turns the sum into its
    prediction or probabilities.

    Node i is numbered 2i, so that 2i + (went left) indexes its child with no multiply, and a
    missing value costs nothing per level: each row is scored as [x, x with NaN as -inf], and a
    split that sends missing values left reads the second copy (-inf goes left, NaN goes right).
    """

    children: np.ndarray  # node 2i's children at 2i (right) and 2i + 1 (left); a leaf's are itself
    feature: np.ndarray  # at 2i and 2i + 1: node i's column of [x, x with NaN as -inf]
    threshold: np.ndarray  # at 2i and 2i + 1: node i's threshold
    value: np.ndarray  # at i: node i's leaf value
    roots: np.ndarray  # the first node of each tree, shallowest tree first
    finished: np.ndarray  # finished[level]: how many trees (of the shallowest) are at a leaf by then
    model_order: np.ndarray  # the trees back in the model's order (iteration by iteration)
    baseline: np.ndarray  # (1, 1, trees per iteration)
    link: np.ndarray  # 0-d string: a key of LINKS

    @classmethod
    def of(cls, model) -> LockstepTrees:
        """From a fitted HistGradientBoostingRegressor or -Classifier (raises NoFastPathError)."""
        name = type(model).__name__
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            raise NoFastPathError(f"{name} with native categorical features")
        link = type(model._loss.link).__name__
        if link not in LINKS:
            raise NoFastPathError(f"{name} with a {link} link")
        nodes = [predictor.nodes for iteration in model._predictors for predictor in iteration]
        if any(tree["is_categorical"].any() for tree in nodes):
            raise NoFastPathError(f"{name} with categorical splits")
        sizes = np.array([len(tree) for tree in nodes])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
        flat = np.concatenate(nodes)
        own = np.arange(len(flat), dtype=np.intp)
        shift = np.repeat(offsets, sizes)
        leaf = flat["is_leaf"].astype(bool)
        children = np.empty(2 * len(flat), dtype=np.intp)
        children[0::2] = 2 * np.where(leaf, own, flat["right"].astype(np.intp) + shift)
        children[1::2] = 2 * np.where(leaf, own, flat["left"].astype(np.intp) + shift)
        column = np.where(leaf, 0, flat["feature_idx"]).astype(np.intp)
        column += np.where(flat["missing_go_to_left"].astype(bool), model.n_features_in_, 0)
        per_iteration = model.n_trees_per_iteration_
        # Shallowest tree first: at each level only the trees not yet at a leaf, a suffix, are walked.
        depths = np.array([int(tree["depth"].max()) for tree in nodes])
        order = np.argsort(depths, kind="stable")
        return cls(
            children=children,
            feature=np.repeat(column, 2),
            threshold=np.repeat(flat["num_threshold"].astype(float), 2),
            value=flat["value"].astype(float),
            roots=2 * offsets[order],
            finished=np.searchsorted(depths[order], np.arange(int(depths.max())), side="right").astype(np.intp),
            model_order=np.argsort(order, kind="stable").astype(np.intp),
            baseline=np.asarray(model._baseline_prediction, dtype=float).reshape(1, 1, per_iteration),
            link=np.asarray(link),
        )

    def raw(self, features: np.ndarray) -> np.ndarray:
        """The sum of the leaves (plus the baseline), shape (rows, trees per iteration)."""
        features = np.asarray(features, dtype=float)
        rows, width = features.shape
        # NaN <= t is False (right); -inf <= t is True (left): the second copy serves missing-left splits.
        values = np.concatenate([features, np.where(np.isnan(features), -np.inf, features)], axis=1).ravel()
        children, feature, threshold = self.children, self.feature, self.threshold
        if rows == 1:  # the common request: one row, no row offsets
            node = self.roots.copy()
            for start in self.finished.tolist():  # one pass per level; trees at a leaf drop out
                walking = node[start:]
                node[start:] = children[walking + (values[feature[walking]] <= threshold[walking])]
            node = node[None, :]
        else:
            row_start = (np.arange(rows, dtype=np.intp) * 2 * width)[:, None]
            node = np.tile(self.roots, (rows, 1))
            for start in self.finished.tolist():
                walking = node[:, start:]
                node[:, start:] = children[walking + (values[row_start + feature[walking]] <= threshold[walking])]
        per_iteration = self.baseline.shape[-1]
        leaves = self.value[node[:, self.model_order] >> 1].reshape(rows, -1, per_iteration)
        terms = np.concatenate([np.broadcast_to(self.baseline, (rows, 1, per_iteration)), leaves], axis=1)
        return np.cumsum(terms, axis=1)[:, -1, :]  # cumsum adds in order, as the model does

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """Predictions (regression) or class probabilities, LOCKSTEP_MAX_ROWS rows at a time."""
        link = LINKS[str(self.link)]
        step = LOCKSTEP_MAX_ROWS
        if len(features) <= step:
            return link(self.raw(features))
        return np.concatenate([link(self.raw(features[i : i + step])) for i in range(0, len(features), step)])


@dataclass(frozen=True, eq=False)
class FastPath:
    """Records in, the estimator's output (values, or class probabilities) out."""

    names: tuple[str, ...]  # the pipeline's input features, in order
    branches: tuple[Branch, ...]
    classification: bool
    trees: LockstepTrees | None  # the estimator as arrays, or None: the fitted estimator below
    estimator: object = None
    model_path: str = ""  # how the estimator is called, for /metadata

    def transform(self, records: Sequence[dict]) -> np.ndarray:
        """The preprocessed matrix the pipeline's estimator sees for these (validated) records."""
        parts = [branch.transform(records) for branch in self.branches]
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def predict(self, records: Sequence[dict]) -> np.ndarray:
        """Regression: predicted values; classification: probabilities, one column per class."""
        features = self.transform(records)
        if self.trees is not None:
            return self.trees(features)
        import sklearn  # the estimator is scikit-learn's: it is imported already

        # The matrix is built from validated input: skip sklearn's repeated finiteness and parameter checks.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            if self.classification:
                return self.estimator.predict_proba(features)
            return self.estimator.predict(features)

    @property
    def needs_pipeline(self) -> bool:
        return self.trees is None and self.estimator is None


# --- derive: from a fitted Pipeline (scikit-learn) ----------------------------------------------------


def derive(pipeline, task: str) -> FastPath:
    """The fast path of a pipeline as `mlops.features.build_pipeline` builds it, once fitted.

    Raises NoFastPathError, naming the step, for anything else (the caller then serves the Pipeline).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.pipeline import Pipeline

    from mlops.features import SelectColumns

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
        branches.append(_branch(name, transformer, [names[i] for i in _positions(columns)]))
    width = sum(_width(branch) for branch in branches)
    expected = getattr(estimator, "n_features_in_", width)
    if width != expected:
        raise NoFastPathError(f"the branches give {width} columns but {type(estimator).__name__} expects {expected}")
    trees, how = None, f"its own {needed}"
    if isinstance(estimator, HistGradientBoostingRegressor | HistGradientBoostingClassifier):
        try:
            trees, how = LockstepTrees.of(estimator), "trees in lockstep"
        except NoFastPathError as error:
            how = f"its own {needed} ({error})"
    return FastPath(
        names=names,
        branches=tuple(branches),
        classification=classification,
        trees=trees,
        estimator=estimator,
        model_path=f"{type(estimator).__name__}: {how}",
    )


def _positions(columns) -> list[int]:
    if isinstance(columns, slice) or not all(isinstance(c, int | np.integer) for c in columns):
        raise NoFastPathError(f"ColumnTransformer columns given as {columns!r}, not positions")
    return [int(c) for c in columns]


def _branch(name: str, transformer, columns: list[str]) -> Branch:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if not isinstance(transformer, Pipeline):
        raise NoFastPathError(f"ColumnTransformer branch {name!r} is {type(transformer).__name__}, not a Pipeline")
    steps = [step for _, step in transformer.steps if step not in (None, "passthrough")]
    # A branch that one-hot encodes reads categories; the other reads numbers. That is how
    # build_pipeline's two branches differ.
    numeric = not any(isinstance(step, OneHotEncoder) for step in steps)
    return Branch(columns=tuple(columns), numeric=numeric, operations=tuple(_operation(s, numeric) for s in steps))


def _width(branch: Branch) -> int:
    """Columns out of a branch: run it on one record of missing values."""
    try:
        return branch.transform([{}]).shape[1]
    except (ValueError, TypeError, IndexError) as error:
        raise NoFastPathError(f"the branch fails on a record of missing values ({error})") from None


def _operation(step, numeric: bool):
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlops.features import FeatureEngineer

    if isinstance(step, FeatureEngineer) and numeric:
        return _engineer(step)
    if isinstance(step, SimpleImputer):
        return _imputer(step, numeric)
    if isinstance(step, StandardScaler) and numeric:
        return Standardize(
            mean=np.asarray(step.mean_ if step.with_mean else [], dtype=float),
            scale=np.asarray(step.scale_ if step.with_std else [], dtype=float),
        )
    if isinstance(step, OneHotEncoder) and not numeric:
        return _one_hot(step)
    kind = "numeric" if numeric else "categorical"
    raise NoFastPathError(f"{type(step).__name__} in the {kind} branch has no fast path")


def _engineer(step) -> Engineer:
    position = {name: i for i, name in enumerate(step.columns)}
    pairs = [(position[a], position[b]) for a, b in (step.ratios or {}).values()]
    rotations = step.rotations or {}
    # One angle at a time, as FeatureEngineer does: numpy may round an array's cosines differently.
    angles = [np.deg2rad(degrees) for degrees in rotations.get("degrees", [])]
    return Engineer(
        numerators=np.array([a for a, _ in pairs], dtype=np.intp),
        denominators=np.array([b for _, b in pairs], dtype=np.intp),
        axes=np.array([position[rotations["x"]], position[rotations["y"]]] if rotations else [], dtype=np.intp),
        cosines=np.array([np.cos(angle) for angle in angles], dtype=float),
        sines=np.array([np.sin(angle) for angle in angles], dtype=float),
    )


def _imputer(step, numeric: bool) -> Impute:
    if step.add_indicator:
        raise NoFastPathError("SimpleImputer(add_indicator=True)")
    if not _is_nan(step.missing_values) and step.missing_values is not None:
        raise NoFastPathError(f"SimpleImputer(missing_values={step.missing_values!r})")
    statistics = step.statistics_
    if any(_is_nan(value) or value is None for value in statistics.tolist()):
        raise NoFastPathError("SimpleImputer learned no value for a column with no observed value in training")
    if numeric:
        return Impute(fill=statistics.astype(float))
    if not all(isinstance(value, str) for value in statistics.tolist()):
        raise NoFastPathError("SimpleImputer with a category that is not text")
    return Impute(fill=statistics.astype(str))


def _one_hot(step) -> OneHot:
    if step.sparse_output:
        raise NoFastPathError("OneHotEncoder(sparse_output=True)")
    if step.drop_idx_ is not None:
        raise NoFastPathError(f"OneHotEncoder(drop={step.drop!r})")
    if getattr(step, "_infrequent_enabled", False):
        raise NoFastPathError("OneHotEncoder with infrequent categories (min_frequency / max_categories)")
    if np.dtype(step.dtype) != np.float64:
        raise NoFastPathError(f"OneHotEncoder(dtype={step.dtype!r})")
    if not all(isinstance(value, str) for categories in step.categories_ for value in categories.tolist()):
        raise NoFastPathError("OneHotEncoder with a category that is not text")
    return OneHot(
        categories=tuple(categories.astype(str) for categories in step.categories_),
        ignore_unknown=np.asarray(step.handle_unknown in ("ignore", "infrequent_if_exist", "warn")),
    )


# --- save and load: plain arrays in one .npz, read back without scikit-learn --------------------------


def to_bytes(fast: FastPath) -> bytes:
    """The fast path as an .npz: a JSON plan plus every array (the estimator only if it is trees)."""
    arrays: dict[str, np.ndarray] = {}
    branches = []
    for b, branch in enumerate(fast.branches):
        operations = []
        for o, operation in enumerate(branch.operations):
            kind = type(operation).__name__
            fields = {}
            for name, value in vars(operation).items():
                if name in ("lookups", "width"):
                    continue
                if name == "categories":
                    fields[name] = len(value)
                    for c, categories in enumerate(value):
                        arrays[f"b{b}.o{o}.categories.{c}"] = categories
                else:
                    arrays[f"b{b}.o{o}.{name}"] = value
            operations.append({"op": kind, "categories": fields.get("categories")})
        branches.append({"columns": list(branch.columns), "numeric": branch.numeric, "operations": operations})
    if fast.trees is not None:
        arrays.update({f"trees.{name}": value for name, value in vars(fast.trees).items()})
    plan = {
        "names": list(fast.names),
        "classification": fast.classification,
        "branches": branches,
        "estimator": "trees" if fast.trees is not None else "pipeline",
        "model_path": fast.model_path,
    }
    buffer = io.BytesIO()
    np.savez(buffer, plan=np.asarray(json.dumps(plan)), **arrays)
    return buffer.getvalue()


def from_bytes(data: bytes, estimator=None) -> FastPath:
    """A fast path saved by `to_bytes`; `estimator` (the Pipeline's last step) when it is not trees."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    plan = json.loads(str(arrays.pop("plan")))
    branches = []
    for b, branch in enumerate(plan["branches"]):
        operations = []
        for o, operation in enumerate(branch["operations"]):
            kind = OPERATIONS[operation["op"]]
            prefix = f"b{b}.o{o}."
            if kind is OneHot:
                categories = tuple(arrays[f"{prefix}categories.{c}"] for c in range(operation["categories"]))
                operations.append(OneHot(categories=categories, ignore_unknown=arrays[f"{prefix}ignore_unknown"]))
            else:
                fields = {name[len(prefix) :]: value for name, value in arrays.items() if name.startswith(prefix)}
                operations.append(kind(**fields))
        branches.append(
            Branch(columns=tuple(branch["columns"]), numeric=branch["numeric"], operations=tuple(operations))
        )
    trees = None
    if plan["estimator"] == "trees":
        trees = LockstepTrees(**{name[6:]: value for name, value in arrays.items() if name.startswith("trees.")})
    return FastPath(
        names=tuple(plan["names"]),
        branches=tuple(branches),
        classification=plan["classification"],
        trees=trees,
        estimator=None if trees is not None else estimator,
        model_path=plan["model_path"],
    )


def with_estimator(fast: FastPath, pipeline) -> FastPath:
    """A loaded fast path that calls the Pipeline's own estimator (when it is not trees)."""
    return FastPath(fast.names, fast.branches, fast.classification, fast.trees, pipeline.steps[-1][1], fast.model_path)


# --- parity: the fast path against the pipeline ---------------------------------------------------


def records_of(frame: pd.DataFrame, names: Sequence[str]) -> list[dict]:
    """A frame's rows as the API receives them after validation: plain values, None for missing."""
    columns = {name: frame[name].tolist() for name in names}
    return [
        {name: (None if _is_missing(values[i]) else values[i]) for name, values in columns.items()}
        for i in range(len(frame))
    ]


def _is_missing(value) -> bool:
    return value is None or _is_nan(value) or type(value).__name__ == "NAType"  # pandas.NA


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
    import pandas as pd

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


def parity_document(pipeline, frame: pd.DataFrame, task: str, model_version: str) -> tuple[dict, bytes | None]:
    """The train-time check on every row of `frame`, of the fast path as the API will load it, and
    the rows (with the Pipeline's outputs) that the API checks again at startup; plus the fast
    path's file. A pipeline without a fast path, or one that disagrees, is recorded as such: the
    API then serves the Pipeline (and says why in /metadata)."""
    document: dict = {"model_version": model_version, "task": task, "tolerance": PARITY_TOLERANCE}
    try:
        derived = derive(pipeline, task)
        data = to_bytes(derived)
        fast = from_bytes(data, estimator=derived.estimator)  # what the API runs: the saved arrays
    except NoFastPathError as error:
        return {**document, "fast_path": {"enabled": False, "reason": f"no fast path: {error}"}}, None
    parity = check_parity(fast, pipeline, frame, task)
    check = {"rows": parity.rows, "max_difference": parity.max_difference, "label_mismatches": parity.label_mismatches}
    if not parity.ok:
        reason = f"the fast path disagrees with the pipeline on the test split: {parity.describe(task)}"
        return {**document, "fast_path": {"enabled": False, "reason": reason, "test_split": check}}, None
    sample = parity_rows(frame, fast.names)
    outputs = np.asarray(pipeline_output(pipeline, sample, task), dtype=float)
    finite = np.isfinite(outputs) if outputs.ndim == 1 else np.isfinite(outputs).all(axis=1)
    sample, outputs = sample[finite], outputs[finite]  # JSON has no NaN; the API refuses such rows anyway
    status = {
        "enabled": True,
        "reason": None,
        "model_call": fast.model_path,
        "needs_pipeline": fast.trees is None,
        "sha256": _sha256(data),
        "test_split": check,
    }
    return {**document, "fast_path": status, "rows": records_of(sample, fast.names), "outputs": outputs.tolist()}, data


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def save_parity(pipeline, frame: pd.DataFrame, config: Config, model_version: str) -> dict:
    """The `evaluate` stage's check on the test split: the parity rows to paths.parity and the fast
    path to paths.fast_path, for the API.

    A disagreement does not fail the stage: a fork cannot fix src/, and the Pipeline is right by
    definition. The fast path is switched off instead, with a warning here and the reason in the
    API's /metadata. (The test suite fails on it, for this template's own pipelines.)
    """
    document, data = parity_document(pipeline, frame[list(config.data.features)], config.data.task, model_version)
    status = document["fast_path"]
    if status["enabled"]:
        log.info(
            "fast path (%s) matches the pipeline on %s test rows",
            status["model_call"],
            f"{status['test_split']['rows']:,}",
        )
    else:
        log.warning("fast path off, the API will predict through the Pipeline: %s", status["reason"])
    with atomic_path(config.paths.fast_path) as tmp:
        tmp.write_bytes(data if data is not None else b"")  # empty: no fast path (parity.json says why)
    write_json(config.paths.parity, document)
    return document


def read_file(path: Path | None) -> bytes | None:
    """A bundle file's bytes, or None when it is absent or unreadable."""
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def verified(
    document: dict | None, data: bytes | None, model_version: str, task: str, load_pipeline: Callable[[], object]
) -> tuple[FastPath | None, dict]:
    """At startup: the saved fast path, if the parity rows say it holds for this very model and it
    still reproduces their outputs; else None. Either way, a status for /metadata. The Pipeline is
    loaded (`load_pipeline()`) only when the fast path calls its estimator."""

    def off(reason: str) -> tuple[None, dict]:
        return None, {"enabled": False, "reason": reason}

    if document is None:
        return off("the bundle has no parity rows (paths.parity); rerun the pipeline (make pipeline) to enable it")
    if document.get("model_version") != model_version:
        return off(f"the parity rows are for model {document.get('model_version')}, not {model_version}")
    recorded = document.get("fast_path") or {}
    if not recorded.get("enabled"):
        return off(recorded.get("reason") or "disabled at training")
    if not data or _sha256(data) != recorded.get("sha256"):
        return off("the fast path file (paths.fast_path) is missing or not the one its parity rows were made with")
    try:
        fast = from_bytes(data)
        if fast.needs_pipeline:
            fast = with_estimator(fast, load_pipeline())
        rows, expected = document["rows"], np.asarray(document["outputs"], dtype=float)
        # Few-row requests on a quarter of the rows: startup time counts at 0.1 CPU.
        parity = compare_all(fast, rows, expected, task, small=STARTUP_SMALL_ROWS)
    except (KeyError, TypeError, ValueError, OSError) as error:
        return off(f"cannot check the fast path at startup: {type(error).__name__}: {error}")
    if not parity.ok:
        return off(f"the fast path disagrees with the saved outputs at startup: {parity.describe(task)}")
    return fast, {
        "enabled": True,
        "reason": None,
        "model_call": fast.model_path,
        "loads_pipeline": fast.trees is None,
        "startup_rows": len(rows),
        "startup_max_difference": parity.max_difference,
        "test_split": recorded.get("test_split"),
    }
