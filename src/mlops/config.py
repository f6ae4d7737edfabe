"""params.yaml loaded once into a frozen, validated object that is passed down."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_PARAMS = Path("params.yaml")
REGRESSION, CLASSIFICATION = "regression", "classification"  # data.task


class ConfigError(ValueError):
    """params.yaml is missing, unreadable or invalid; the message names the key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# numpy's and scikit-learn's seeds: 0 to 2**32 - 1.
Seed = Annotated[int, Field(ge=0, lt=2**32)]


class PathsConfig(_Frozen):
    """Every file the pipeline reads or writes; dvc.yaml interpolates the same keys."""

    raw: Path
    train: Path
    test: Path
    model: Path
    metadata: Path
    run: Path  # this training run's record (time, commit, MLflow run): not a DVC output
    reference: Path
    metrics: Path
    # Test rows with the pipeline's outputs, for the API's startup check of its fast path (mlops.fast_path).
    parity: Path = Path("model/parity.json")
    fast_path: Path = Path("model/fast_path.npz")  # the fast path as arrays (mlops.fast_path), loaded without sklearn
    predictions: Path  # a sample of the test rows' predictions, for `dvc plots`
    scores: Path  # every test row's prediction and slice: the PR report pairs base and PR on them
    importance: Path
    figures: Path
    sample: Path = Path("tests/fixtures/sample.csv")  # `make sample`: the test suite's rows of the raw data

    @model_validator(mode="after")
    def _outputs_apart(self) -> PathsConfig:
        """What the pipeline writes stays out of the raw data's folder and has a path of its own: it
        overwrites no input and no other output (paths.train == paths.test would train on the test
        rows). The inputs (raw, sample; the sample is read, never written) may be one file."""
        raw_dir = self.raw.parent
        owner = {os.path.normpath(self.raw): "raw", os.path.normpath(self.sample): "sample"}
        for name in PathsConfig.model_fields:
            if name in ("raw", "sample"):
                continue
            path = getattr(self, name)
            if raw_dir in path.parents or path == raw_dir:
                raise ValueError(f"paths.{name}: {path} is inside {raw_dir}/, which holds immutable raw data")
            normal = os.path.normpath(path)
            if normal in owner:
                raise ValueError(
                    f"paths.{name} and paths.{owner[normal]} are both {normal}: each needs a path of its own"
                )
            owner[normal] = name
        return self


class ColumnSpec(_Frozen):
    """What a raw column must look like: its kind and the range a valid value lies in."""

    type: Literal["numeric", "categorical"]
    min: float | None = None
    max: float | None = None
    unit: str | None = Field(default=None, min_length=1, max_length=40)  # shown with values (pages, figures)

    @model_validator(mode="after")
    def _range_is_ordered(self) -> ColumnSpec:
        if self.type == "categorical" and (self.min is not None or self.max is not None):
            raise ValueError("a categorical column takes no min/max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class DataConfig(_Frozen):
    target: str
    task: Literal["regression", "classification"] = "regression"
    columns: dict[str, ColumnSpec] = Field(min_length=2)

    @model_validator(mode="after")
    def _target_fits_the_task(self) -> DataConfig:
        spec = self.columns.get(self.target)
        if spec is None:
            raise ValueError(f"target {self.target!r} is not one of data.columns")
        if self.task == "regression" and spec.type != "numeric":
            raise ValueError(
                f"target {self.target!r} is categorical, but data.task is regression (a number to predict): "
                "set data.task: classification, or declare the target numeric"
            )
        return self

    @property
    def features(self) -> dict[str, ColumnSpec]:
        return {name: spec for name, spec in self.columns.items() if name != self.target}

    @property
    def is_classification(self) -> bool:
        return self.task == "classification"


class StratifyConfig(_Frozen):
    """Stratify the split on a column: on its bins (numbers) or on its values (labels, categories)."""

    column: str
    bins: list[float] | None = Field(default=None, min_length=3)

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: list[float] | None) -> list[float] | None:
        if bins is not None and any(b >= a for a, b in zip(bins[1:], bins, strict=False)):
            raise ValueError("bins must be strictly increasing")
        return bins


class SplitConfig(_Frozen):
    """The train/test split. Classification stratifies on the target unless `stratify` says otherwise
    (`stratify: none` for a plain random split)."""

    test_size: float = Field(gt=0, lt=1)
    seed: Seed
    stratify: StratifyConfig | Literal["none"] | None = None


class RotationConfig(_Frozen):
    x: str
    y: str
    degrees: list[float] = Field(default_factory=list)


class FeaturesConfig(_Frozen):
    """Engineered features, added in front of the preprocessing (see mlops.features)."""

    ratios: dict[str, Annotated[list[str], Field(min_length=2, max_length=2)]] = Field(default_factory=dict)
    rotations: RotationConfig | None = None


class ModelConfig(_Frozen):
    family: str
    params: dict[str, object] = Field(default_factory=dict)


class EvaluateConfig(_Frozen):
    permutation_repeats: int = Field(ge=1)
    plot_points: int = Field(ge=10)
    seed: Seed = 0
    # Columns whose slices of the test split get metrics of their own (mlops.slices). Unset: every
    # categorical feature and the target. A numeric column is cut into `slice_bins` quantile bins.
    slices: list[str] | None = None
    slice_bins: int = Field(default=4, ge=2, le=20)


class BootstrapConfig(_Frozen):
    """The paired bootstrap behind the PR report's intervals (mlops.bootstrap)."""

    resamples: int = Field(default=1000, ge=100, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    seed: Seed = 0


class GateConfig(_Frozen):
    """Quality gate applied to a pull request's metrics against its base branch (mlops.gitops.report).

    `metric` is any metric the task reports (mlops.metrics); whether higher is better comes with it.
    """

    metric: str
    threshold: float | None = None  # the worst acceptable value of `metric` (absolute)
    max_regression_pct: float | None = Field(default=None, ge=0)  # worse than base by more than this % fails
    max_slice_regression_pct: float | None = Field(default=None, ge=0)  # the same, for any slice of the test split
    min_slice_rows: int = Field(default=50, ge=1)  # smaller slices are reported, never gated
    bootstrap: BootstrapConfig = BootstrapConfig()


class BatchingConfig(_Frozen):
    """Micro-batching: concurrent requests in one worker are predicted in one call."""

    enabled: bool = True
    max_wait_ms: float = Field(ge=0, le=100)
    max_rows: int = Field(ge=1)


class ServeConfig(_Frozen):
    max_records: int = Field(ge=1)  # records per /predict request
    max_body_bytes: int = Field(ge=1024)
    batching: BatchingConfig


class MonitorConfig(_Frozen):
    """Drift monitoring: the reference profile saved at training, and when to call drift."""

    bins: int = Field(ge=2, le=100)
    reference_sample: int = Field(ge=100)
    psi_threshold: float = Field(gt=0)
    ks_alpha: float = Field(gt=0, lt=1)
    window_size: int = Field(ge=10)
    min_window: int = Field(ge=10)
    seed: Seed = 0
    report_cache_seconds: float = Field(default=2.0, ge=0, le=300)
    max_model_age_days: float | None = Field(default=None, gt=0)  # the drift check flags an older model

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> MonitorConfig:
        if self.min_window > self.window_size:
            raise ValueError(f"min_window ({self.min_window}) is larger than window_size ({self.window_size})")
        return self


class MlflowConfig(_Frozen):
    experiment: str = Field(min_length=1)


class Config(_Frozen):
    paths: PathsConfig
    data: DataConfig
    split: SplitConfig
    features: FeaturesConfig
    model: ModelConfig
    evaluate: EvaluateConfig
    gate: GateConfig
    mlflow: MlflowConfig
    serve: ServeConfig
    monitor: MonitorConfig
    # A grid of params.yaml keys and values for `make sweep` (mlops.sweep); no stage depends on it.
    sweep: dict[str, Annotated[list[bool | int | float | str | None], Field(min_length=1)]] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _columns_exist(self) -> Config:
        features = self.data.features
        stratify = self.split.stratify
        if isinstance(stratify, StratifyConfig):
            spec = self.data.columns.get(stratify.column)
            if spec is None:
                raise ValueError(f"split.stratify.column {stratify.column!r} is not one of data.columns")
            if (
                stratify.bins is None
                and spec.type == "numeric"
                and not (self.data.is_classification and stratify.column == self.data.target)
            ):
                raise ValueError(
                    f"split.stratify: {stratify.column!r} is numeric; give split.stratify.bins to stratify on its bins"
                )
            if stratify.bins is not None and spec.type != "numeric":
                raise ValueError(f"split.stratify.bins: {stratify.column!r} is categorical; bins are for numbers")
        for name, pair in self.features.ratios.items():
            for column in pair:
                if features.get(column, ColumnSpec(type="categorical")).type != "numeric":
                    raise ValueError(f"features.ratios.{name}: {column!r} is not a numeric feature column")
        if self.features.rotations:
            for column in (self.features.rotations.x, self.features.rotations.y):
                if features.get(column, ColumnSpec(type="categorical")).type != "numeric":
                    raise ValueError(f"features.rotations: {column!r} is not a numeric feature column")
        for column in self.evaluate.slices or []:
            if column not in self.data.columns:
                raise ValueError(f"evaluate.slices: {column!r} is not one of data.columns")
        from mlops.metrics import names  # sklearn.metrics: only when a config is validated

        known = names(self.data.task)
        if self.gate.metric not in known:
            raise ValueError(
                f"gate.metric {self.gate.metric!r} is not a {self.data.task} metric (one of: {', '.join(known)})"
            )
        return self

    @property
    def stratify(self) -> StratifyConfig | None:
        """What the split stratifies on: as configured, else the target for classification."""
        if self.split.stratify == "none":
            return None
        if self.split.stratify is None:
            return StratifyConfig(column=self.data.target) if self.data.is_classification else None
        return self.split.stratify


def _format_error(error: ValidationError, source: Path) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {key}: {item['msg']}")
    return "\n".join(lines)


def _finite_or_inf(value: object) -> object:
    """YAML spells infinity .inf; keep it, but reject NaN anywhere in the params."""
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError("params.yaml: NaN is not a valid parameter value")
    if isinstance(value, dict):
        return {key: _finite_or_inf(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite_or_inf(item) for item in value]
    return value


def parse_config(raw: object, source: Path = DEFAULT_PARAMS) -> Config:
    """Validate an already-parsed params mapping."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Config.model_validate(_finite_or_inf(raw))
    except ValidationError as error:
        raise ConfigError(_format_error(error, source)) from None


def read_params(path: Path = DEFAULT_PARAMS) -> dict:
    """The raw params mapping (every section, including ones other modules own)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read parameters ({error.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections")
    return raw


def load_config(path: Path = DEFAULT_PARAMS) -> Config:
    """Read and validate params.yaml."""
    return parse_config(read_params(path), Path(path))
