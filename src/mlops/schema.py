"""The feature schema: derived from the training data, saved with the model, enforced when serving.

One definition serves training (it is written into the model metadata), the API (request
validation and the OpenAPI document) and monitoring (the feature kinds).
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from mlops.config import DataConfig

if TYPE_CHECKING:  # pandas is imported where a frame is built: the API's fast path needs none
    import pandas as pd

UNKNOWN_FIELD = "unknown field (not a model feature)"  # both validation paths say it alike


class FeatureSpec(BaseModel):
    """One input feature as the model saw it in training."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: Literal["numeric", "categorical"]
    nullable: bool
    categories: list[str] | None = None
    # Valid range (from params.yaml) that a request must respect.
    min: float | None = None
    max: float | None = None
    # What the training data actually held; informational, and the drift reference.
    observed_min: float | None = None
    observed_max: float | None = None
    typical: float | str | None = None  # median number or most frequent category (examples)


class FieldError(BaseModel):
    """One reason one field of one record was refused."""

    record: int | None
    field: str | None
    message: str


class FieldErrors(list):
    """The first problems found in a request (a capped list) and how many there are in all."""

    def __init__(self, errors=(), total: int | None = None):
        super().__init__(errors)
        self.total = len(self) if total is None else total


# A request's error list stops here (the count goes on): a record with 60,000 unknown keys must
# not build 60,000 error objects and a 5 MB answer.
MAX_ERRORS = 50


class FeatureSchema(BaseModel):
    """The ordered input features of a trained model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: list[FeatureSpec]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, data: DataConfig) -> FeatureSchema:
        """Derive the schema from training features: categories, missingness and ranges seen."""
        specs = []
        for name, column_spec in data.features.items():
            column = frame[name]
            nullable = bool(column.isna().any())
            if column_spec.type == "categorical":
                categories = sorted(str(value) for value in column.dropna().unique())
                typical = str(column.mode().iloc[0]) if categories else None
                specs.append(
                    FeatureSpec(
                        name=name, type="categorical", nullable=nullable, categories=categories, typical=typical
                    )
                )
            else:
                specs.append(
                    FeatureSpec(
                        name=name,
                        type="numeric",
                        nullable=nullable,
                        min=column_spec.min,
                        max=column_spec.max,
                        observed_min=float(column.min()),
                        observed_max=float(column.max()),
                        typical=round(float(column.median()), 4),
                    )
                )
        return cls(features=specs)

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.features]

    @property
    def numeric(self) -> list[str]:
        return [spec.name for spec in self.features if spec.type == "numeric"]

    @property
    def categorical(self) -> list[str]:
        return [spec.name for spec in self.features if spec.type == "categorical"]

    @cached_property
    def record_type(self) -> type:
        """A TypedDict for one input record; pydantic validates it without building objects."""
        fields: dict[str, Any] = {}
        for spec in self.features:
            if spec.type == "categorical":
                value_type: Any = Literal[tuple(spec.categories or ())]
            else:
                value_type = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=spec.min, le=spec.max)]
            fields[spec.name] = NotRequired[value_type | None] if spec.nullable else value_type
        record = TypedDict("Record", fields)  # type: ignore[misc]
        return with_config(ConfigDict(extra="forbid", title="Record"))(record)

    @cached_property
    def _record_adapter(self) -> TypeAdapter:
        return TypeAdapter(self.record_type)

    @cached_property
    def _records_adapter(self) -> TypeAdapter:
        return TypeAdapter(list[self.record_type])

    def record_json_schema(self) -> dict:
        """JSON Schema of one record (used for the OpenAPI document)."""
        schema = TypeAdapter(self.record_type).json_schema()
        for spec in self.features:
            prop = schema["properties"][spec.name]
            prop["description"] = _describe(spec)
        schema["example"] = self.example_record()
        return schema

    def example_record(self) -> dict:
        """A valid, typical record: each feature's training median or most frequent category."""
        return {spec.name: spec.typical for spec in self.features}

    def validate_records(self, records: list, max_errors: int = MAX_ERRORS) -> tuple[list[dict], FieldErrors]:
        """Validate every record; return them, or the first `max_errors` errors and the count of all."""
        width = len(self.features)
        if not any(isinstance(record, dict) and len(record) > width for record in records):
            try:
                return self._records_adapter.validate_python(records), FieldErrors()
            except ValidationError as error:
                if error.error_count() <= max_errors:
                    return [], FieldErrors(_field_error(item) for item in error.errors(include_url=False))
        return [], self._first_errors(records, max_errors)

    def _first_errors(self, records: list, limit: int) -> FieldErrors:
        """Every error counted, the first `limit` described, in memory bounded by the schema's width:
        unknown keys are counted without validating them, the rest one record at a time."""
        names = set(self.names)
        first: list[FieldError] = []
        total = 0
        for index, record in enumerate(records):
            if isinstance(record, dict):
                unknown = [key for key in record if key not in names]
                total += len(unknown)
                first += [
                    FieldError(record=index, field=str(key), message=UNKNOWN_FIELD)
                    for key in unknown[: max(0, limit - len(first))]
                ]
                record = {key: value for key, value in record.items() if key in names}
            try:
                self._record_adapter.validate_python(record)
            except ValidationError as error:
                total += error.error_count()
                if len(first) < limit:
                    items = error.errors(include_url=False)[: limit - len(first)]
                    first += [_field_error({**item, "loc": (index, *item["loc"])}) for item in items]
        return FieldErrors(first, total)

    def to_frame(self, records: list[dict]) -> pd.DataFrame:
        """Validated records as a frame with the training column order and dtypes."""
        import pandas as pd

        columns = {}
        for spec in self.features:
            values = [record.get(spec.name) for record in records]
            if spec.type == "numeric":
                columns[spec.name] = np.array([np.nan if v is None else v for v in values], dtype="float64")
            else:
                # Plain object, not pandas' inferred string dtype: half the cost in sklearn's imputer.
                columns[spec.name] = pd.Series([np.nan if v is None else v for v in values], dtype=object)
        return pd.DataFrame(columns)


def _describe(spec: FeatureSpec) -> str:
    if spec.type == "categorical":
        text = "one of: " + ", ".join(spec.categories or [])
    else:
        text = f"number; seen in training {spec.observed_min:g} to {spec.observed_max:g}"
    return text + ("; may be null or omitted" if spec.nullable else "")


def _field_error(item: dict) -> FieldError:
    location = list(item["loc"])
    record = location.pop(0) if location and isinstance(location[0], int) else None
    field = ".".join(str(part) for part in location) or None
    message = item["msg"]
    if item["type"] == "missing":
        message = "required field is missing"
    elif item["type"] == "extra_forbidden":
        message = UNKNOWN_FIELD
    elif item["type"] == "literal_error":
        allowed = (item.get("ctx") or {}).get("expected", "")
        message = f"{_show(item.get('input'))} is not an allowed value; expected one of: {allowed}"
    elif item["type"] in {"float_type", "float_parsing", "finite_number"}:
        message = f"expected a finite number, got {_show(item.get('input'))}"
        if item.get("input") is None:  # only a field that had no missing value in training refuses null
            message += " (training data had no missing value here, so this field is required)"
    return FieldError(record=record, field=field, message=message)


def _show(value: object) -> str:
    """A refused value as the client sent it: JSON's null, true and false, not Python's."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
